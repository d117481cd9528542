"""Our own processes as production runs them (``python -m api``, ``python -m worker``), for
tests of what only a real process shows: signals, exit codes, a kill mid-work.

Every process started here is stopped (killed if need be) and reaped when its test ends,
passing or not: the suite leaves nothing running (``scripts/check_leftovers.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from desk.settings import Settings
from tests.support.polling import eventually
from tests.support.ports import free_port


def start_module(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m <module>`` with ``env`` over this process's environment, its output to
    ``log`` (a file, not a pipe: a full pipe would stall it). It runs in ``log``'s directory,
    a fresh one, so it reads no ``.env``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module],
            env={**os.environ, **env},
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen | None) -> None:
    """Kill ``process`` if it still runs, and reap it."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()


class ServiceProcess:
    """``python -m <module>`` running, and its HTTP health endpoint."""

    def __init__(
        self, process: subprocess.Popen[bytes], port: int, health_path: str, task_queue: str
    ):
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.health_path = health_path
        self.task_queue = task_queue

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:
            return await http.get(path)

    async def status(self) -> int | None:
        try:
            return (await self.get(self.health_path)).status_code
        except httpx.HTTPError:
            return None

    async def up(self) -> bool:
        """True once its health answers 200; fails if the process has exited."""
        if self.process.poll() is not None:
            raise AssertionError(f"{self.process.args} exited with {self.process.returncode}")
        return await self.status() == 200


@asynccontextmanager
async def service_process(
    module: str,
    env: dict[str, str],
    tmp_path: Path,
    *,
    port: int,
    health_path: str = "/healthz",
    task_queue: str = "",
) -> AsyncIterator[ServiceProcess]:
    """``python -m <module>`` as production runs it, once its health answers 200; killed on
    the way out if still running."""
    process = start_module(module, env, tmp_path / f"{module}.log")
    service = ServiceProcess(process, port, health_path, task_queue)
    try:
        await eventually(service.up, timeout=60)
        yield service
    finally:
        stop(process)


@asynccontextmanager
async def worker_process(
    settings: Settings, dev_server: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    """``python -m worker`` on a task queue of its own, with its metrics endpoint up."""
    port, task_queue = free_port(), f"metrics-{uuid.uuid4().hex[:8]}"
    env = {
        "DESK_DATABASE_URL": settings.database_url,
        "DESK_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "DESK_TEMPORAL_TASK_QUEUE": task_queue,
        "DESK_WORKER_METRICS_PORT": str(port),
        "DESK_LOG_FORMAT": "json",
    }
    async with service_process("worker", env, tmp_path, port=port, task_queue=task_queue) as w:
        yield w


def start_worker(
    settings: Settings, database_url: str, target: str, log: Path
) -> subprocess.Popen[bytes]:
    """``python -m worker`` on ``settings``' task queue, against ``database_url`` and the
    Temporal frontend ``target``, logging to ``log``. The caller stops it (``stop``)."""
    env = {
        "DESK_ENV": "test",
        "DESK_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "DESK_DATABASE_URL": database_url,
        "DESK_TEMPORAL_ADDRESS": target,
        "DESK_TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "DESK_LOG_LEVEL": "INFO",
        "DESK_WORKER_METRICS_PORT": "0",
    }
    return start_module("worker", env, log)


async def wait_polling(process: subprocess.Popen, log: Path) -> None:
    """Wait until the worker logs that it polls its task queue."""

    async def polling() -> bool:
        assert process.poll() is None, f"worker exited:\n{log.read_text()}"
        return "worker polling" in log.read_text()

    await eventually(polling, timeout=60)
