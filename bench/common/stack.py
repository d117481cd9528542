"""The real stack, started and stopped by a benchmark: a PostgreSQL database of its own
(created, migrated, dropped; or a SQLite file, ``StackOptions(engine="sqlite")``), the
Temporal dev server, the worker and the API as subprocesses (``python -m worker`` /
``python -m api``, as in production), and optionally
the baselines' processes (the minimal workflow's worker, the plain FastAPI app; with both,
the plain app also serves the HTTP floor's routes on the minimal workflow).

    async with Stack(options) as stack:
        org = await stack.seed_org()
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import desk.db.models  # noqa: F401 - every mapper
from desk.admin.organizations import create_organization
from desk.auth.models import Organization, User
from desk.auth.security import create_access_token
from desk.binaries import temporal_cli
from desk.db.engine import create_engine, create_sessionmaker
from desk.db.migrate import upgrade_async
from desk.db.types import utcnow
from desk.enums import Role
from desk.settings import Settings
from desk.temporal import SEARCH_ATTRIBUTES

BENCH_DIR = Path(__file__).resolve().parents[1]  # for `python -m common.<baseline>`
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT_S = 180.0  # a loaded machine imports slowly
TOKEN_MINUTES = 600  # a full-size run outlasts the default 15-minute access token


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of a process (VmRSS), MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class StackOptions:
    api: bool = True
    worker: bool = True
    minimal_worker: bool = False  # the raw Temporal baseline's worker
    plain_app: bool = False  # the old design's baseline
    # Keep the dev server's state in a file (``Stack.temporal_db_file``, to measure its
    # size); in memory otherwise.
    temporal_db_on_disk: bool = False
    postgres_url: str = field(
        default_factory=lambda: os.environ.get("DESK_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    )
    # "postgresql" (a database of its own on postgres_url) or "sqlite" (a file in workdir).
    engine: str = "postgresql"
    pool_size: int = 10
    # Scale-out on one machine: more worker / API processes (named worker-2, api-2, ...).
    workers: int = 1
    apis: int = 1
    # More arguments of `temporal server start-dev` (`desk dev`'s SQLite pragmas, a
    # --dynamic-config-value).
    dev_server_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # workers and APIs: a switch


@dataclass
class Tenant:
    """An organization with one user per role, and their bearer headers."""

    org: Organization
    users: dict[Role, User]
    headers: dict[Role, dict[str, str]]


class Stack:
    def __init__(self, options: StackOptions | None = None):
        self.options = options or StackOptions()
        self.workdir = Path(tempfile.mkdtemp(prefix="desk-bench-"))
        self.database_url = ""
        self.task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.minimal_task_queue = f"bench-minimal-{uuid.uuid4().hex[:8]}"
        self.jwt_secret = secrets.token_urlsafe(48)
        self.env: WorkflowEnvironment | None = None
        self.engine: AsyncEngine | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.api_url = ""
        self.api_urls: list[str] = []
        self.plain_url = ""
        self.worker_metrics_url = ""
        self._db_name = ""
        self.temporal_db_file = self.workdir / "temporal.db"

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Stack:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        await self._stop()
        if exc_type is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:  # the processes' logs explain the failure
            print(f"bench stack logs kept in {self.workdir}", file=sys.stderr)

    async def _start(self) -> None:
        opts = self.options
        if opts.engine == "sqlite":
            self.database_url = f"sqlite+aiosqlite:///{self.workdir / 'desk.db'}"
        else:
            self._db_name = f"desk_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            with psycopg.connect(_libpq(opts.postgres_url), autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{self._db_name}"')
            self.database_url = (
                make_url(opts.postgres_url)
                .set(database=self._db_name)
                .render_as_string(hide_password=False)
            )
        await upgrade_async(self.database_url)
        self.engine = create_engine(self.database_url)
        self.sessionmaker = create_sessionmaker(self.engine)

        self.env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(),
            search_attributes=SEARCH_ATTRIBUTES,
            dev_server_database_filename=(
                str(self.temporal_db_file) if opts.temporal_db_on_disk else None
            ),
            dev_server_log_level="error",
            dev_server_extra_args=list(opts.dev_server_args),
            ui=False,
        )
        waits = []
        for index in range(opts.workers if opts.worker else 0):
            name = "worker" if index == 0 else f"worker-{index + 1}"
            port = free_port()
            metrics_url = f"http://127.0.0.1:{port}"
            self.worker_metrics_url = self.worker_metrics_url or metrics_url
            self._spawn(
                name,
                [sys.executable, "-m", "worker"],
                {"DESK_WORKER_METRICS_PORT": str(port), **opts.extra_env},
            )
            waits.append(self._wait_http(f"{metrics_url}/healthz", name))
        for index in range(opts.apis if opts.api else 0):
            name = "api" if index == 0 else f"api-{index + 1}"
            port = free_port()
            self.api_urls.append(f"http://127.0.0.1:{port}")
            self._spawn(
                name, [sys.executable, "-m", "api"], {"DESK_API_PORT": str(port), **opts.extra_env}
            )
            waits.append(self._wait_http(f"{self.api_urls[-1]}/readyz", name))
        self.api_url = self.api_urls[0] if self.api_urls else ""
        if opts.minimal_worker:
            self._spawn(
                "minimal-worker",
                [
                    sys.executable,
                    "-m",
                    "common.minimal",
                    "--address",
                    self.temporal_address,
                    "--task-queue",
                    self.minimal_task_queue,
                ],
                {},
            )
            waits.append(self._wait_log("minimal-worker", "minimal worker polling"))
        if opts.plain_app:
            port = free_port()
            self.plain_url = f"http://127.0.0.1:{port}"
            argv = [sys.executable, "-m", "common.plain_app", "--port", str(port)]
            if opts.minimal_worker:  # the HTTP floor's routes, on the minimal workflow
                argv += [
                    "--temporal-address",
                    self.temporal_address,
                    "--minimal-task-queue",
                    self.minimal_task_queue,
                ]
            self._spawn("plain-app", argv, {})
            waits.append(self._wait_http(f"{self.plain_url}/healthz", "plain-app"))
        await asyncio.gather(*waits)

    async def _stop(self) -> None:
        # The API first, then the worker (as in production); each drains, then exits.
        order = ("api", "plain-app", "worker", "minimal-worker")
        names = sorted(
            self.processes,
            key=lambda n: next(
                (i for i, kind in enumerate(order) if n == kind or n.startswith(f"{kind}-")), 9
            ),
        )
        for name in names:
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.engine is not None:
            await self.engine.dispose()
        if self.env is not None:
            await self.env.shutdown()
        if self._db_name:
            with psycopg.connect(_libpq(self.options.postgres_url), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self._db_name}" WITH (FORCE)')

    # --- processes --------------------------------------------------------------------------

    @property
    def client(self) -> Client:
        assert self.env is not None
        return self.env.client

    @property
    def temporal_address(self) -> str:
        return self.client.service_client.config.target_host

    def process_env(self) -> dict[str, str]:
        # DESK_WORKFLOW_SANDBOX=false in the benchmark's environment measures that lever.
        keep = {"DESK_WORKFLOW_SANDBOX"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("DESK_") or k in keep}
        # Bytecode as in production (the image compiles it at build time): without .pyc
        # files the worker's workflow sandbox compiles the workflow module's source for
        # every new workflow. The cache goes to the bench's directory, not the tree.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.workdir / "pycache")
        env.update(
            DESK_ENV="test",
            DESK_JWT_SECRET=self.jwt_secret,
            DESK_ACCESS_TOKEN_MINUTES=str(TOKEN_MINUTES),
            DESK_DATABASE_URL=self.database_url,
            DESK_DATABASE_POOL_SIZE=str(self.options.pool_size),
            DESK_TEMPORAL_ADDRESS=self.temporal_address,
            DESK_TEMPORAL_TASK_QUEUE=self.task_queue,
            DESK_API_HOST="127.0.0.1",
            DESK_UPLOAD_DIR=str(self.workdir / "uploads"),
            PYTHONPATH=str(BENCH_DIR),
            PYTHONUNBUFFERED="1",
        )
        return env

    def settings(self) -> Settings:
        return Settings(
            env="test",
            jwt_secret=self.jwt_secret,
            access_token_minutes=TOKEN_MINUTES,
            database_url=self.database_url,
            temporal_task_queue=self.task_queue,
            _env_file=None,
        )

    def _spawn(self, name: str, argv: list[str], extra_env: dict[str, str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        # cwd is the bench's own directory: no .env from the repository is read.
        self.processes[name] = subprocess.Popen(
            argv,
            env={**self.process_env(), **extra_env},
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _check_alive(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    async def _wait_http(self, url: str, name: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                self._check_alive(name)
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready at {url}:\n{self.log_tail(name)}")
                await asyncio.sleep(0.2)

    async def _wait_log(self, name: str, text: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while text not in self.log_tail(name, 200):
            self._check_alive(name)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{self.log_tail(name)}")
            await asyncio.sleep(0.2)

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each part: our processes, the Temporal dev server,
        PostgreSQL (every backend: other users of the server count too) and this one."""
        usage = {name: cpu_seconds(p.pid) for name, p in self.processes.items()}
        port = self.temporal_address.rsplit(":", 1)[1]
        usage["temporal"] = sum(cpu_seconds(pid) for pid in pids_matching("start-dev", port))
        usage["postgres"] = sum(cpu_seconds(pid) for pid in pids_matching("postgres"))
        usage["bench"] = cpu_seconds(os.getpid())
        return usage

    def database_backend_pids(self) -> list[int]:
        """The PostgreSQL backends connected to this stack's own database (not to others
        sharing the server); none on SQLite."""
        if not self._db_name:
            return []
        with psycopg.connect(_libpq(self.options.postgres_url), autocommit=True) as admin:
            rows = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self._db_name,)
            ).fetchall()
        return [pid for (pid,) in rows]

    def database_bytes(self) -> int:
        """Our database's size: pg_database_size, or the SQLite file's used pages."""
        if self._db_name:
            with psycopg.connect(_libpq(self.options.postgres_url), autocommit=True) as admin:
                row = admin.execute("SELECT pg_database_size(%s)", (self._db_name,)).fetchone()
            return int(row[0])
        return sqlite_bytes(self.workdir / "desk.db")

    def temporal_store_bytes(self) -> int:
        """The dev server's SQLite store's used pages (``temporal_db_on_disk`` only)."""
        return sqlite_bytes(self.temporal_db_file)

    # --- data ---------------------------------------------------------------------------------

    async def seed_tenant(self, name: str = "Bench Org") -> Tenant:
        """An organization (default SLA policies) with one active user per role."""
        assert self.sessionmaker is not None
        async with self.sessionmaker() as session:
            org = await create_organization(session, name)
            users = {}
            for role in Role:
                user = User(
                    organization_id=org.id,
                    email=f"{role.lower()}-{uuid.uuid4().hex[:8]}@bench.example.com",
                    full_name=f"Bench {role.title()}",
                    role=role,
                    password_hash="!",  # noqa: S106 - no password: tokens are minted below
                )
                session.add(user)
                users[role] = user
            await session.commit()
        settings = self.settings()
        headers = {
            role: {
                "Authorization": "Bearer "
                + create_access_token(
                    settings,
                    user_id=user.id,
                    organization_id=org.id,
                    role=str(role),
                    now=utcnow(),
                )
            }
            for role, user in users.items()
        }
        return Tenant(org, users, headers)


def http_client(base_url: str, concurrency: int) -> httpx.AsyncClient:
    """A keep-alive client with a connection per concurrent caller."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60)


class TicketCalls:
    """Filing and accepting tickets over HTTP, one call per ``run_load`` step: ``create``
    files one ticket as the tenant's customer and keeps its id in ``ids``; ``accept(i)``
    accepts the ``i``-th as its manager. A refusal stops the run with its body."""

    def __init__(self, api: httpx.AsyncClient, tenant: Tenant, body: dict):
        self.ids: list[str] = []
        self._api, self._body = api, body
        self._customer = tenant.headers[Role.CUSTOMER]
        self._manager = tenant.headers[Role.MANAGER]

    async def create(self, _: int) -> None:
        response = await self._api.post("/api/v1/tickets", json=self._body, headers=self._customer)
        _expect(response, 201)
        self.ids.append(response.json()["id"])

    async def accept(self, i: int) -> None:
        path = f"/api/v1/internal/tickets/{self.ids[i]}/accept"
        _expect(await self._api.post(path, headers=self._manager), 200)


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{response.status_code} {response.text[:200]}")


# --- CPU accounting: where the time of a run went ----------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children, seconds."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is the state (3rd field of stat); utime, stime, cutime, cstime are 14-17.
    return sum(int(v) for v in fields[11:15]) / CLOCK_TICKS


def pids_matching(*needles: str) -> list[int]:
    """Processes whose command line contains every needle (e.g. the dev server's port)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if all(needle in cmdline for needle in needles):
            found.append(int(entry.name))
    return found


def sqlite_bytes(path: Path) -> int:
    """Pages in use (page_count - freelist_count, times page_size) of a SQLite file, read
    through SQLite so that pages still in the WAL count."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * page_size
