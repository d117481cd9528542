"""The embedded Temporal dev server as `desk dev` starts it, against the CLI's defaults.

Three ``temporal server start-dev`` processes, each on a SQLite file of its own and with our
search attributes: the baseline with the CLI's defaults (rollback journal, a database read
per search-attribute lookup), one with `desk dev`'s SQLite pragmas only (write-ahead log,
synchronous=FULL stated), and one with all of `desk dev`'s flags (the pragmas and
``forceSearchAttributesCacheRefreshOnRead=false``). The same load on each,
in alternating rounds so that a busy machine weighs on both alike: ``start_workflow`` of a
minimal workflow carrying the ticket's search attributes, at a fixed concurrency. Reported
per server: starts per second and the server's own CPU (user+system) per start, medians
over the rounds, and desk dev's as a ratio of the baseline's.

    .venv/bin/python bench/devserver_file.py [--starts 300] [--concurrency 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common.minimal import MinimalWorkflow
from common.stack import free_port
from common.stats import machine, ratio, run_load, table
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from desk import devrun
from desk.settings import Settings
from desk.tickets.search_index import (
    ORGANIZATION_ID,
    SLA_BREACHED,
    TICKET_PRIORITY,
    TICKET_STATUS,
)

TICK = os.sysconf("SC_CLK_TCK")
OWN_FLAGS = ("--sqlite-pragma", "--dynamic-config-value")
BASELINE = "CLI defaults (baseline)"
VARIANTS = {  # name: which of desk dev's flags it keeps
    BASELINE: (),
    "+ SQLite pragmas (WAL)": ("--sqlite-pragma",),
    "desk dev (pragmas + search-attribute cache)": OWN_FLAGS,
}
TASK_QUEUE = "bench-devserver"  # nobody polls it: a start is the server's work alone


def command(data_dir: Path, keep: tuple[str, ...]) -> list[str]:
    """`desk dev`'s Temporal command, with only those of its own flags named in ``keep``
    (``--sqlite-pragma``, ``--dynamic-config-value``)."""
    settings = Settings(
        data_dir=data_dir, temporal_port=free_port(), temporal_ui_port=free_port(), _env_file=None
    )
    argv, kept, skip = [], [], False
    for arg in devrun.temporal_command(settings):
        if skip:
            skip = False
            if kept[-1] in keep:
                argv += [kept[-1], arg]
        elif arg in OWN_FLAGS:
            skip = True
            kept.append(arg)
        else:
            argv.append(arg)
    return argv


def launch(argv: list[str]) -> subprocess.Popen[bytes]:
    Path(argv[argv.index("--db-filename") + 1]).parent.mkdir(parents=True)
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def connect(argv: list[str]) -> Client:
    port = argv[argv.index("--port") + 1]
    deadline = time.monotonic() + 120
    while True:
        try:
            client = await Client.connect(f"127.0.0.1:{port}")
            await client.service_client.check_health()
            return client
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def one_round(client: Client, pid: int, starts: int, concurrency: int) -> tuple[float, float]:
    """(starts per second, server CPU ms per start) of one round."""
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(TICKET_STATUS, "NEW"),
            SearchAttributePair(TICKET_PRIORITY, "HIGH"),
            SearchAttributePair(ORGANIZATION_ID, str(uuid.uuid4())),
            SearchAttributePair(SLA_BREACHED, False),
        ]
    )

    async def start(_: int) -> None:
        await client.start_workflow(
            MinimalWorkflow.run,
            id=f"bench-{uuid.uuid4()}",
            task_queue=TASK_QUEUE,
            search_attributes=attributes,
        )

    cpu_before = cpu_seconds(pid)
    run = await run_load("start", start, count=starts, concurrency=concurrency)
    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / max(run.n, 1)
    return run.rate, cpu_ms


async def measure(starts: int, concurrency: int, rounds: int) -> None:
    print(machine())
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        servers = {
            name: command(Path(tmp) / f"server-{n}", keep)
            for n, (name, keep) in enumerate(VARIANTS.items())
        }
        processes = {name: launch(argv) for name, argv in servers.items()}
        try:
            clients = {name: await connect(argv) for name, argv in servers.items()}
            for name, client in clients.items():  # warm-up, not counted
                await one_round(client, processes[name].pid, 30, concurrency)
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
            for _ in range(rounds):
                for name, client in clients.items():
                    results[name].append(
                        await one_round(client, processes[name].pid, starts, concurrency)
                    )
        finally:
            for process in processes.values():
                process.terminate()
                process.wait(timeout=30)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    medians = {
        name: (
            statistics.median(rate for rate, _ in runs),
            statistics.median(cpu for _, cpu in runs),
        )
        for name, runs in results.items()
    }
    base_rate, base_cpu = medians[BASELINE]
    rows = [
        (
            name,
            rate,
            ratio(rate, base_rate),
            cpu,
            ratio(cpu, base_cpu),
            " / ".join(f"{r:.0f}" for r, _ in results[name]),
        )
        for name, (rate, cpu) in medians.items()
    ]
    print(
        f"\n{starts} starts per round at c={concurrency}, {rounds} rounds alternating "
        "(medians; the per-round rates last)\n"
    )
    print(
        table(
            [
                "server",
                "starts/s",
                "vs baseline",
                "server CPU ms/start",
                "vs baseline",
                "rounds (starts/s)",
            ],
            rows,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(measure(args.starts, args.concurrency, args.rounds))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
