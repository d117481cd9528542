"""`desk dev` end to end: the real command as a subprocess, with free ports and its own data
directory; logs in over real HTTP with a printed demo login, checks the port-in-use error,
then stops it with SIGINT and checks that nothing it started is left running.

`desk dev` always embeds its own SQLite database, so this runs in the SQLite run of the
suite only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from desk.tickets.search_index import ticket_workflow_id
from tests.support.ports import free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.subprocess,
    pytest.mark.skipif(
        os.environ.get("DESK_TEST_DB", "sqlite") != "sqlite",
        reason="desk dev embeds SQLite: run once",
    ),
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 120


def desk_command() -> list[str]:
    script = Path(sys.executable).parent / "desk"
    return [str(script)] if script.exists() else [sys.executable, "-m", "desk.cli"]


def dev_env(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESK_")}
    env.update(
        DESK_DATA_DIR=str(data_dir),
        DESK_DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'desk.db'}",
        DESK_UPLOAD_DIR=str(data_dir / "uploads"),
        DESK_API_PORT=str(ports["api"]),
        DESK_TEMPORAL_PORT=str(ports["temporal"]),
        DESK_TEMPORAL_UI_PORT=str(ports["ui"]),
    )
    return env


class Output:
    """Collects a process's output lines in a thread, so its pipe never fills up."""

    def __init__(self, process: subprocess.Popen[str]):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    raise AssertionError(f"no line matching {pattern!r} in:\n{self.text}")
                self._changed.wait(min(remaining, 1.0))

    def finish(self) -> None:
        self._thread.join(timeout=10)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@contextmanager
def desk_dev(
    tmp_path: Path, **extra_env: str
) -> Iterator[tuple[subprocess.Popen[str], Output, dict[str, str]]]:
    """`desk dev` running in ``tmp_path``; stopped (and whatever it left killed) on the way
    out if the test did not stop it."""
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port()}
    env = {**dev_env(tmp_path / "data", ports), **extra_env}
    process = subprocess.Popen(
        [*desk_command(), "dev"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(process)
    try:
        yield process, output, env
    finally:
        if process.poll() is None:  # the test failed before stopping it: clean up
            leftovers = descendants(process.pid)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
            for pid in leftovers:
                if running(pid):
                    os.kill(pid, signal.SIGKILL)
        output.finish()


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, dict[str, str]]]:
    with desk_dev(tmp_path) as running_dev:
        yield running_dev


def test_desk_dev_serves_logs_in_and_stops_cleanly(dev, tmp_path):
    process, output, env = dev
    started = time.monotonic()

    output.wait_for(r"Press Ctrl-C to stop\.", START_TIMEOUT_S)
    startup_s = time.monotonic() - started
    portal = output.wait_for(r"^dev\s+\|\s+Portal:\s+(http://\S+/)$", 1).group(1)
    api = output.wait_for(r"^dev\s+\|\s+API docs:\s+(http://\S+)/docs", 1).group(1)
    ui = output.wait_for(r"^dev\s+\|\s+Temporal UI:\s+(http://\S+)", 1).group(1)
    assert api == f"http://127.0.0.1:{env['DESK_API_PORT']}"
    assert ui == f"http://127.0.0.1:{env['DESK_TEMPORAL_UI_PORT']}"
    login = output.wait_for(r"^dev\s+\|\s+CUSTOMER\s+(\S+@\S+)\s+(\S+)$", 1)

    with httpx.Client(timeout=10) as http:
        assert http.get(f"{api}/healthz").status_code == 200
        ready = http.get(f"{api}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "temporal": "ok"}
        assert http.get(f"{api}/docs").status_code == 200
        assert portal == f"{api}/"
        assert ">Sign in</button>" in http.get(f"{portal}login").text
        assert http.get(ui).status_code == 200

        response = http.post(
            f"{api}/api/v1/auth/login",
            data={"username": login.group(1), "password": login.group(2)},
        )
        assert response.status_code == 200, response.text
        tokens = response.json()
        assert tokens["token_type"] == "bearer" and tokens["access_token"]
        me = http.get(
            f"{api}/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert me.status_code == 200, me.text
        assert me.json()["role"] == "CUSTOMER"

    # The state lives in the data directory: Temporal's SQLite file beside the app's.
    data_dir = Path(env["DESK_DATA_DIR"])
    assert (data_dir / "temporal.db").exists() and (data_dir / "desk.db").exists()
    # Temporal's file is in WAL mode (desk.devrun.SQLITE_PRAGMAS): a burst of timers
    # does not queue behind the disk syncs of a rollback journal.
    with contextlib.closing(sqlite3.connect(data_dir / "temporal.db")) as temporal_db:
        assert temporal_db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    # A second run on the same ports: one line naming the port and its setting.
    second = subprocess.run(
        [*desk_command(), "dev"],
        cwd=tmp_path,
        env={**env, "DESK_DATA_DIR": str(tmp_path / "other")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1, second.stdout + second.stderr
    assert second.stdout == ""
    assert second.stderr == (
        f"error: port {env['DESK_API_PORT']} (API) is already in use; "
        "stop what holds it or set DESK_API_PORT to another port\n"
    )

    children = descendants(process.pid)
    assert len(children) >= 3  # temporal, worker, api
    process.send_signal(signal.SIGINT)
    stopping = time.monotonic()
    assert process.wait(timeout=STOP_TIMEOUT_S) == 0, output.text
    shutdown_s = time.monotonic() - stopping
    output.finish()

    text = output.text
    order = [text.index(f"stopping {name}") for name in ("api", "worker", "temporal")]
    assert order == sorted(order), text
    for name in ("api", "worker", "temporal"):
        assert f"{name} stopped (exit 0)" in text, text
    assert "stopped cleanly" in text
    assert "Traceback" not in text
    assert not [pid for pid in children if running(pid)], "children left running"
    print(f"desk dev: ready in {startup_s:.1f} s, stopped in {shutdown_s:.1f} s")


# --- Supervision -----------------------------------------------------------------------------


def demo_login(output: Output, role: str, http: httpx.Client, api: str) -> dict[str, str]:
    """Bearer headers for the demo user of ``role`` whose login `desk dev` printed."""
    login = output.wait_for(rf"^dev\s+\|\s+{role}\s+(\S+@\S+)\s+(\S+)$", 1)
    response = http.post(
        f"{api}/api/v1/auth/login", data={"username": login.group(1), "password": login.group(2)}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def pids(output: Output, name: str) -> list[int]:
    """The pids `desk dev` printed for ``name``, in start order."""
    return [int(pid) for pid in re.findall(rf"started {name} \(pid (\d+)\)", output.text)]


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.3)


def file_ticket(http: httpx.Client, api: str, customer: dict[str, str], subject: str) -> str:
    response = http.post(
        f"{api}/api/v1/tickets",
        headers=customer,
        json={
            "subject": subject,
            "description": "filed by the supervision test",
            "priority": "HIGH",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def accept(http: httpx.Client, api: str, manager: dict[str, str], ticket_id: str) -> httpx.Response:
    return http.post(f"{api}/api/v1/internal/tickets/{ticket_id}/accept", headers=manager)


def accepted_once_up(http: httpx.Client, api: str, manager: dict[str, str], ticket_id: str) -> None:
    """Accept the ticket, trying again while a part is down (503, or no answer yet)."""

    def attempt() -> bool:
        try:
            response = accept(http, api, manager, ticket_id)
        except httpx.HTTPError:
            return False
        assert response.status_code in (200, 503), response.text
        return response.status_code == 200

    wait_until(attempt, 120, f"ticket {ticket_id} accepted")


def healthy(http: httpx.Client, api: str) -> bool:
    try:
        return http.get(f"{api}/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def stop_cleanly(process: subprocess.Popen[str], output: Output, started: set[int]) -> None:
    """SIGINT `desk dev`: it exits 0 and nothing it ever started is left running."""
    started |= descendants(process.pid)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_TIMEOUT_S) == 0, output.text
    output.finish()
    assert "stopped cleanly" in output.text, output.text
    assert "Traceback" not in output.text and "Fatal Python error" not in output.text
    assert not [pid for pid in started if running(pid)], "children left running"


def test_desk_dev_restarts_a_killed_worker_and_a_killed_temporal_on_its_file(tmp_path):
    with desk_dev(tmp_path) as (process, output, env):
        output.wait_for(r"Press Ctrl-C to stop\.", START_TIMEOUT_S)
        api = f"http://127.0.0.1:{env['DESK_API_PORT']}"
        started = descendants(process.pid)
        with httpx.Client(timeout=30) as http:
            customer = demo_login(output, "CUSTOMER", http, api)
            manager = demo_login(output, "MANAGER", http, api)
            before = file_ticket(http, api, customer, "filed before the kills")

            # The worker, SIGKILLed: restarted after the first backoff, and it works tickets.
            [worker] = pids(output, "worker")
            os.kill(worker, signal.SIGKILL)
            output.wait_for(r"worker exited with code -9; restarting in 0\.5 s", 30)
            wait_until(lambda: len(pids(output, "worker")) == 2, 30, "worker restarted")
            started |= descendants(process.pid)
            after = file_ticket(http, api, customer, "filed after the worker was killed")
            accepted_once_up(http, api, manager, after)

            # Temporal, SIGKILLed with a ticket's workflow running: restarted on its file
            # and ports, the ticket filed before is there and can still be worked.
            [temporal] = pids(output, "temporal")
            os.kill(temporal, signal.SIGKILL)
            output.wait_for(r"temporal exited with code -9; restarting in 0\.5 s", 30)
            wait_until(lambda: len(pids(output, "temporal")) == 2, 30, "temporal restarted")
            started |= descendants(process.pid)
            accepted_once_up(http, api, manager, before)
            ticket = http.get(f"{api}/api/v1/tickets/{before}", headers=manager).json()
            assert ticket["status"] == "ACCEPTED" and ticket["sla_started_at"], ticket
            assert workflow_status(env, before) == "RUNNING"
            # Its search attributes, upserted by the restarted server, answer a query.
            wait_until(lambda: listed_as_accepted(env, before), 60, "visibility")
            text = output.text
            print(
                "after the Temporal kill, the worker "
                + (
                    "was restarted"
                    if "worker exited" in text.split("temporal exited")[1]
                    else "reconnected by itself"
                )
            )
        stop_cleanly(process, output, started)
        assert pids(output, "api") and "api exited" not in output.text  # reconnected


def workflow_status(env: dict[str, str], ticket_id: str) -> str:
    """The ticket workflow's status as the restarted Temporal describes it."""

    async def describe() -> str:
        client = await Client.connect(f"127.0.0.1:{env['DESK_TEMPORAL_PORT']}")
        described = await client.get_workflow_handle(ticket_workflow_id(ticket_id)).describe()
        assert described.status is not None
        return described.status.name

    return asyncio.run(describe())


def listed_as_accepted(env: dict[str, str], ticket_id: str) -> bool:
    """Whether Temporal's visibility lists the ticket's workflow as ACCEPTED."""

    async def listed() -> bool:
        client = await Client.connect(f"127.0.0.1:{env['DESK_TEMPORAL_PORT']}")
        query = (
            f'WorkflowId = "{ticket_workflow_id(ticket_id)}" '
            'AND TicketStatus = "ACCEPTED" AND ExecutionStatus = "Running"'
        )
        return [w async for w in client.list_workflows(query)] != []

    return asyncio.run(listed())


def test_desk_dev_runs_two_workers_and_two_api_processes(tmp_path):
    with desk_dev(tmp_path, DESK_WORKERS="2", DESK_API_PROCESSES="2") as (process, output, env):
        output.wait_for(r"Press Ctrl-C to stop\.", START_TIMEOUT_S)
        api = f"http://127.0.0.1:{env['DESK_API_PORT']}"
        assert len(pids(output, "worker-1")) == 1 and len(pids(output, "worker-2")) == 1
        [api_parent] = pids(output, "api")
        # uvicorn's two worker processes under the API's own process.
        serving = wait_until(lambda: len(descendants(api_parent)) >= 2 or None, 60, "2 APIs")
        assert serving
        with httpx.Client(timeout=30) as http:
            customer = demo_login(output, "CUSTOMER", http, api)
            manager = demo_login(output, "MANAGER", http, api)
        for n in range(4):  # a connection each: the kernel spreads them over both processes
            with httpx.Client(timeout=30) as http:
                ticket_id = file_ticket(http, api, customer, f"ticket {n} with two of each")
                response = accept(http, api, manager, ticket_id)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "ACCEPTED"

        # The API's own process SIGKILLed: its uvicorn workers, orphaned, would hold the
        # port; they go with it, and the restarted API serves on the same port.
        started, uvicorn_workers = descendants(process.pid), descendants(api_parent)
        os.kill(api_parent, signal.SIGKILL)
        try:
            output.wait_for(r"api exited with code -9; restarting in 0\.5 s", 30)
            wait_until(lambda: len(pids(output, "api")) == 2, 30, "api restarted")
            with httpx.Client(timeout=30) as http:
                wait_until(lambda: healthy(http, api), 120, "the restarted API answers")
                ticket_id = file_ticket(http, api, customer, "after the API was killed")
                accepted_once_up(http, api, manager, ticket_id)
            orphans = [pid for pid in uvicorn_workers if running(pid)]
            assert not orphans, "orphans left serving"
        finally:  # no longer below `desk dev`: the fixture would not find them
            for pid in uvicorn_workers:
                if running(pid):
                    os.kill(pid, signal.SIGKILL)
        assert "api exited with code 3" not in output.text  # the port was free again
        stop_cleanly(process, output, started | descendants(process.pid))
        for name in ("api", "worker-1", "worker-2", "temporal"):
            assert f"{name} stopped (exit 0)" in output.text, output.text
