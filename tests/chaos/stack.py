"""The whole stack as separate processes a chaos test can kill one by one: a Temporal dev
server on a state file of its own, API processes (``python -m api``), worker processes
(``python -m worker``), and the database behind something a test can cut.

Nothing here restarts a part by itself (``desk dev``'s supervision is not under test): a
fault kills a part and the scenario starts it again, on the same ports and files.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from temporalio.client import Client

from desk.binaries import temporal_cli
from desk.settings import Settings
from desk.temporal import ensure_search_attributes, search_attribute_cli_args
from tests.support.db_cut import TcpProxy
from tests.support.polling import eventually
from tests.support.ports import free_port

START_TIMEOUT_S = 90


class Part:
    """One process of the stack: started, SIGKILLed and started again with the same
    command, environment and log (appended to, so a restart's lines follow the last)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert not self.running, f"{self.name} is running"
        with self.log.open("ab") as out:
            out.write(f"\n=== start {self.starts + 1} of {self.name}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                self.argv,
                env={**os.environ, **self.env},
                cwd=self.log.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a kill reaches it alone, never the test
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        if self.running:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


class TemporalPart(Part):
    """``temporal server start-dev`` on fixed ports and a state file, so a restart after
    a SIGKILL comes back with every workflow, timer and update it had."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.db_file = workdir / "temporal.db"
        argv = [
            temporal_cli(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--http-port",
            str(free_port()),
            "--metrics-port",
            str(free_port()),
            "--headless",
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "error",
            *search_attribute_cli_args(),
        ]
        super().__init__("temporal", argv, {}, workdir / "temporal.log")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def ready(self) -> Client:
        async def connected() -> Client | None:
            assert self.running, f"temporal exited:\n{self.tail()}"
            try:
                client = await asyncio.wait_for(Client.connect(self.address), timeout=3)
                await asyncio.wait_for(client.service_client.check_health(), timeout=3)
                return client
            except Exception:  # not up yet
                return None

        client = await eventually(connected, timeout=START_TIMEOUT_S, interval=0.3)
        await ensure_search_attributes(client, "default")
        return client


class ServicePart(Part):
    """An API process: ready once ``/healthz`` answers 200."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path, port: int):
        self.port = port
        super().__init__(name, [sys.executable, "-m", "api"], env, workdir / f"{name}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self) -> None:
        async def healthy() -> bool:
            assert self.running, f"{self.name} exited:\n{self.tail()}"
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"{self.url}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(healthy, timeout=START_TIMEOUT_S, interval=0.2)


class WorkerPart(Part):
    """A worker process: ready once it logs that it polls its task queue."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path):
        super().__init__(name, [sys.executable, "-m", "worker"], env, workdir / f"{name}.log")

    async def ready(self) -> None:
        mark = f"=== start {self.starts} of {self.name}"

        async def polling() -> bool:
            assert self.running, f"{self.name} exited:\n{self.tail()}"
            text = self.log.read_text(errors="replace")
            return "worker polling" in text[text.rfind(mark) :]

        await eventually(polling, timeout=START_TIMEOUT_S, interval=0.2)


class DatabaseCut:
    """Makes the app database unreachable for the stack's processes, then brings it back.

    PostgreSQL: the processes connect through a loopback TCP proxy; a cut stops it
    listening and drops every connection. SQLite: a connection of ours holds the file's
    write lock (``BEGIN EXCLUSIVE``) for the outage; readers in WAL mode still read, every
    write waits out the busy timeout and fails.
    """

    def __init__(self, database_url: str):
        self._url = make_url(database_url)
        self._proxy: TcpProxy | None = None
        self._release = threading.Event()
        self._holder: threading.Thread | None = None
        self.url = database_url

    @property
    def is_sqlite(self) -> bool:
        return self._url.get_backend_name() == "sqlite"

    async def start(self) -> None:
        if not self.is_sqlite:
            self._proxy = TcpProxy(self._url.host or "127.0.0.1", self._url.port or 5432)
            await self._proxy.start()
            proxied = self._url.set(host="127.0.0.1", port=self._proxy.port)
            self.url = proxied.render_as_string(hide_password=False)

    async def cut(self) -> None:
        if self._proxy is not None:
            await self._proxy.stop()
            return
        locked = threading.Event()
        self._release.clear()
        self._holder = threading.Thread(target=self._hold_lock, args=(locked,), daemon=True)
        self._holder.start()
        await asyncio.to_thread(locked.wait, 60)

    def _hold_lock(self, locked: threading.Event) -> None:
        connection = sqlite3.connect(self._url.database, timeout=60, isolation_level=None)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            locked.set()
            self._release.wait()
            connection.execute("ROLLBACK")
        finally:
            connection.close()

    async def restore(self) -> None:
        if self._proxy is not None:
            await self._proxy.start()
            return
        self._release.set()
        if self._holder is not None:
            await asyncio.to_thread(self._holder.join, 30)
            self._holder = None

    async def close(self) -> None:
        if self._proxy is not None:
            await self._proxy.stop()
        self._release.set()


@dataclass
class Stack:
    """Temporal, ``apis`` API processes and ``workers`` worker processes on one database
    and one task queue, mailing through ``smtp_port``."""

    workdir: Path
    settings: Settings
    apis: int = 1
    workers: int = 1
    smtp_port: int | None = None
    upload_dir: Path | None = None
    update_timeout_s: float = 5.0
    temporal: TemporalPart = field(init=False)
    api_parts: list[ServicePart] = field(init=False, default_factory=list)
    worker_parts: list[WorkerPart] = field(init=False, default_factory=list)
    db: DatabaseCut = field(init=False)
    client: Client | None = field(init=False, default=None)

    async def __aenter__(self) -> Stack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db = DatabaseCut(self.settings.database_url)
        await self.db.start()
        self.temporal = TemporalPart(self.workdir)
        self.temporal.start()
        try:
            self.client = await self.temporal.ready()
            env = self._env()
            for n in range(self.workers):
                self.worker_parts.append(WorkerPart(f"worker-{n + 1}", env, self.workdir))
            for n in range(self.apis):
                port = free_port()
                api_env = {**env, "DESK_API_PORT": str(port)}
                self.api_parts.append(ServicePart(f"api-{n + 1}", api_env, self.workdir, port))
            for part in [*self.worker_parts, *self.api_parts]:
                part.start()
            for part in [*self.worker_parts, *self.api_parts]:
                await part.ready()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for part in [*self.api_parts, *self.worker_parts, self.temporal]:
            part.kill()
        await self.db.close()

    def _env(self) -> dict[str, str]:
        settings = self.settings
        env = {
            "DESK_ENV": "test",
            "DESK_JWT_SECRET": settings.jwt_secret.get_secret_value(),
            "DESK_DATABASE_URL": self.db.url,
            "DESK_TEMPORAL_ADDRESS": self.temporal.address,
            "DESK_TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "DESK_API_HOST": "127.0.0.1",
            "DESK_UPDATE_TIMEOUT_SECONDS": str(self.update_timeout_s),
            "DESK_PASSWORD_HASH_TIME_COST": str(settings.password_hash_time_cost),
            "DESK_PASSWORD_HASH_MEMORY_KIB": str(settings.password_hash_memory_kib),
            "DESK_WORKER_METRICS_PORT": "0",
            "DESK_LOG_LEVEL": "INFO",
            "DESK_PUBLIC_BASE_URL": "http://desk.test",
            "PYTHONUNBUFFERED": "1",
        }
        if self.upload_dir is not None:
            env["DESK_UPLOAD_DIR"] = str(self.upload_dir)
        if self.smtp_port is not None:
            env |= {"DESK_SMTP_HOST": "127.0.0.1", "DESK_SMTP_PORT": str(self.smtp_port)}
        return env

    @property
    def urls(self) -> list[str]:
        return [part.url for part in self.api_parts]

    def logs(self) -> str:
        parts = [self.temporal, *self.worker_parts, *self.api_parts]
        return "\n".join(f"--- {p.name} (last lines)\n{p.tail(3000)}" for p in parts)


def now() -> float:
    return time.monotonic()
