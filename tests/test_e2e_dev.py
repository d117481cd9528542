"""`desk dev` end to end: the real command as a subprocess, with free ports and its own data
directory; logs in over real HTTP with a printed demo login, checks the port-in-use error,
then stops it with SIGINT and checks that nothing it started is left running.

`desk dev` always embeds its own SQLite database, so this runs in the SQLite run of the
suite only.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

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


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, dict[str, str]]]:
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port()}
    env = dev_env(tmp_path / "data", ports)
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
    # Temporal's file is in WAL mode (desk.devrun.TEMPORAL_SQLITE_PRAGMAS): a burst of timers
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
