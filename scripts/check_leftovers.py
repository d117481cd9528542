"""Fail if a test run left a process running or a TCP port listening (Linux /proc).

    check_leftovers.py snapshot FILE   before the run: what already runs and listens
    check_leftovers.py check FILE      after it: exit 1 naming each leftover, else 0

A leftover is a process that was not running at the snapshot, still runs after a grace
period, and belongs to the run: it carries the run's tag in its environment (the
``LEFTOVER_TAG`` variable ``.ci/run`` exports, inherited by everything the tests start, even
once orphaned), descends from the shell that runs ``check``, or runs something from this
checkout (its ``.venv``'s Python or Temporal binaries). The TCP ports it listens on are named
with it. What ran before the snapshot (PostgreSQL, other services, other checkouts' runs)
and this script's own ancestors never count. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAG_VARIABLE = "LEFTOVER_TAG"
PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    start: int  # clock ticks after boot: with the pid, names one process for good
    cmdline: str
    exe: str
    environ: bytes


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone meanwhile, or not ours to read
        return b""


def processes() -> dict[int, Process]:
    found: dict[int, Process] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read(entry / "stat").decode(errors="replace")
        if not stat:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":  # a zombie runs nothing; its parent reaps it
            continue
        try:
            exe = os.readlink(entry / "exe")
        except OSError:
            exe = ""
        cmdline = _read(entry / "cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
        if not cmdline:  # kernel threads
            continue
        pid = int(entry.name)
        found[pid] = Process(
            pid, int(fields[1]), int(fields[19]), cmdline, exe, _read(entry / "environ")
        )
    return found


def listening_ports() -> dict[int, str]:
    """Socket inode -> ``address:port`` for every listening TCP socket."""
    ports: dict[int, str] = {}
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in _read(PROC / "net" / table).decode().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            address, port = fields[1].split(":")
            host = "*" if set(address) == {"0"} else _address(address, width)
            ports[int(fields[9])] = f"{host}:{int(port, 16)}"
    return ports


def _address(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if width == 8:
        return ".".join(str(b) for b in words)
    return "[" + ":".join(words[i : i + 2].hex() for i in range(0, 16, 2)) + "]"


def sockets_of(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in (PROC / str(pid) / "fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        pass
    return inodes


def ancestors(pid: int, table: dict[int, Process]) -> list[int]:
    chain = []
    while pid in table and pid not in chain:
        chain.append(pid)
        pid = table[pid].ppid
    return chain


def belongs_to_run(process: Process, table: dict[int, Process], shell: int, tag: str) -> bool:
    if tag and f"{TAG_VARIABLE}={tag}".encode() in process.environ.split(b"\0"):
        return True
    if shell in ancestors(process.ppid, table):
        return True
    inside = str(ROOT) + os.sep
    return process.exe.startswith(inside) or inside in process.cmdline


def leftovers(before: set[tuple[int, int]], shell: int, tag: str) -> list[Process]:
    table = processes()
    mine = set(ancestors(os.getpid(), table))
    return [
        p
        for p in table.values()
        if (p.pid, p.start) not in before
        and p.pid not in mine
        and belongs_to_run(p, table, shell, tag)
    ]


def snapshot(path: Path) -> int:
    state = {
        "processes": [[p.pid, p.start] for p in processes().values()],
        "ports": sorted(set(listening_ports().values())),
    }
    path.write_text(json.dumps(state))
    return 0


def check(path: Path, grace: float) -> int:
    state = json.loads(path.read_text())
    before = {tuple(entry) for entry in state["processes"]}
    shell = os.getppid()
    tag = os.environ.get(TAG_VARIABLE, "")
    deadline = time.monotonic() + grace
    while (left := leftovers(before, shell, tag)) and time.monotonic() < deadline:
        time.sleep(0.5)  # give what is stopping a moment to finish
    ports = listening_ports()
    if not left:
        print("leftovers: none (every process the run started has ended)")
        return 0
    print(f"leftovers: the run left {len(left)} process(es) running:")
    for process in sorted(left, key=lambda p: p.pid):
        print(f"  pid {process.pid} (parent {process.ppid}): {process.cmdline[:300]}")
        for inode in sorted(sockets_of(process.pid)):
            if inode in ports:
                new = "" if ports[inode] in state["ports"] else " (new since the snapshot)"
                print(f"    listening on {ports[inode]}{new}")
    return 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["snapshot", "check"])
    parser.add_argument("file", type=Path)
    parser.add_argument("--grace", type=float, default=15.0, help="seconds to wait (check)")
    args = parser.parse_args(argv)
    if not PROC.joinpath("self", "stat").exists():
        print("leftovers: not checked (needs Linux /proc)")
        return 0
    if args.action == "snapshot":
        return snapshot(args.file)
    return check(args.file, args.grace)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
