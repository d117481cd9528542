"""CPU per ticket, whole stack: user + system CPU of every process (the Temporal dev server,
the API and worker processes, our database's PostgreSQL backends, this load generator) per
ticket taken through create -> accept -> assign -> public comment -> resolve -> close over
HTTP at concurrency 10; and per ticket of the same-run baseline, a raw SDK
``start_workflow`` plus five updates on a minimal workflow with its own worker, on the same
dev server. Also how many bytes a ticket adds to our database and to Temporal's store
(the dev server's SQLite file).

Each configuration (``--configs``) gets a stack of its own and its own baseline; rounds
alternate baseline and lifecycle, and the tables give the median over rounds.

    .venv/bin/python bench/lifecycle_cpu.py [--tickets 150] [--rounds 3] \\
        [--configs pg,sqlite,pg:no-sa-refresh,pg:w2,pg:a2,pg:w2a2]

A configuration is an engine (``pg`` or ``sqlite``) and options after colons:
``w2`` / ``a2`` two worker / API processes, ``no-sa-refresh`` the dev server started with
``system.forceSearchAttributesCacheRefreshOnRead=false``, ``create`` only creates (the
baseline only starts), ``env=NAME=VALUE`` an environment variable for the workers and APIs (a
lever's switch, e.g. ``env=DESK_WORKFLOW_SANDBOX=false``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import common.stack
from common.minimal import MinimalWorkflow
from common.stack import Stack, StackOptions, cpu_seconds, http_client, pids_matching
from common.stats import Run, machine, ratio, run_load, table

from desk.devrun import dynamic_config_args
from desk.enums import Role

CONCURRENCY = 10
WARMUP = 20
SETTLE_S = 1.5  # after a phase: the worker's last local activities and polls land inside it
BODY = {"subject": "Printer on fire", "description": "Smoke since 9 am.", "priority": "HIGH"}
# `desk dev`'s dynamic config (the search-attribute cache flag), against the CLI's default.
NO_SA_REFRESH = dynamic_config_args()
KINDS = ("temporal", "api", "worker", "postgres", "bench")
# What each phase does not use: idle but polling (or holding a pool), reported apart.
IDLE = {"lifecycle": ("minimal",), "baseline": ("api", "worker", "postgres")}


@dataclass
class Config:
    spec: str
    engine: str = "postgresql"
    workers: int = 1
    apis: int = 1
    dev_server_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    create_only: bool = False

    @classmethod
    def parse(cls, spec: str) -> Config:
        engine, *options = spec.split(":")
        config = cls(spec, engine={"pg": "postgresql", "sqlite": "sqlite"}[engine])
        for option in options:
            if option.startswith("w") and option[1:].isdigit():
                config.workers = int(option[1:])
            elif option.startswith("a") and option[1:].isdigit():
                config.apis = int(option[1:])
            elif option.startswith("w") and "a" in option:  # w2a2
                w, a = option[1:].split("a")
                config.workers, config.apis = int(w), int(a)
            elif option == "no-sa-refresh":
                config.dev_server_args = NO_SA_REFRESH
            elif option == "create":
                config.create_only = True
            elif option.startswith("env="):
                name, value = option[4:].split("=", 1)
                config.extra_env[name] = value
            else:
                raise SystemExit(f"unknown option {option!r} in {spec!r}")
        return config


class CpuMeter:
    """CPU seconds by process kind between two readings. PostgreSQL counts only the
    backends connected to the stack's own database; a backend that ended between the
    readings is lost (the pools keep theirs open, and the count of lost ones is kept)."""

    def __init__(self, stack: Stack):
        self.stack = stack
        port = stack.temporal_address.rsplit(":", 1)[1]
        self.temporal_pids = pids_matching("start-dev", port)
        self.lost_backends = 0

    def read(self) -> dict[str, dict[int, float]]:
        pids: dict[str, list[int]] = {kind: [] for kind in (*KINDS, "minimal")}
        pids["temporal"] = self.temporal_pids
        for name, process in self.stack.processes.items():
            kind = "minimal" if name == "minimal-worker" else name.split("-")[0]
            pids[kind].append(process.pid)
        pids["postgres"] = self.stack.database_backend_pids()
        pids["bench"] = [os.getpid()]
        return {kind: {pid: cpu_seconds(pid) for pid in found} for kind, found in pids.items()}

    def since(self, before: dict[str, dict[int, float]]) -> dict[str, float]:
        after = self.read()
        used = {}
        for kind, now in after.items():
            then = before.get(kind, {})
            self.lost_backends += len(set(then) - set(now))
            used[kind] = sum(cpu - then.get(pid, 0.0) for pid, cpu in now.items())
        return used


@dataclass
class Phase:
    name: str
    tickets: int
    cpu_s: dict[str, float]
    run: Run

    def per_ticket_ms(self, kind: str) -> float:
        """CPU ms per ticket of a kind; the baseline's "worker" is its minimal worker, and
        "idle" the processes the phase does not use."""
        if self.name == "baseline" and kind == "worker":
            kind = "minimal"
        if kind == "idle":
            return sum(self.cpu_s.get(k, 0.0) for k in IDLE[self.name]) * 1000 / self.tickets
        if kind in IDLE[self.name]:
            return 0.0
        return self.cpu_s.get(kind, 0.0) * 1000 / self.tickets

    @property
    def total_ms(self) -> float:
        """Everything the phase used (idle processes left out)."""
        return sum(self.per_ticket_ms(kind) for kind in KINDS)


@dataclass
class Result:
    config: Config
    lifecycle: list[Phase]
    baseline: list[Phase]
    db_bytes_per_ticket: float
    temporal_bytes_per_ticket: float
    temporal_bytes_per_baseline: float
    lost_backends: int
    load: str
    history_events: dict[str, int]


def start_profilers(stack: Stack, directory: Path | None, phase: str) -> list:
    """py-spy (sampling, all threads) on our processes for the first round of a phase:
    collapsed stacks in ``directory``/<config>-<phase>-<process>.txt. It slows what it
    samples a little, so the figures of a profiled run are not the ones to quote."""
    if directory is None:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).with_name("py-spy")
    profilers = []
    for name, process in stack.processes.items():
        out = directory / f"{phase}-{name}.txt"
        argv = [spy, "record", "--nonblocking", "--format", "raw", "-o", str(out)]
        profilers.append(
            subprocess.Popen(
                [*argv, "--pid", str(process.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    time.sleep(1)  # attached before the load starts
    return profilers


def stop_profilers(profilers: list) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
    for profiler in profilers:
        profiler.wait(30)


async def measure(config: Config, tickets: int, rounds: int, profile: Path | None) -> Result:
    options = StackOptions(
        engine=config.engine,
        minimal_worker=True,
        temporal_db_on_disk=True,  # its growth per ticket is one of the figures
        workers=config.workers,
        apis=config.apis,
        dev_server_args=config.dev_server_args,
        extra_env=config.extra_env,
    )
    async with Stack(options) as stack:
        tenant = await stack.seed_tenant()
        customer = tenant.headers[Role.CUSTOMER]
        manager = tenant.headers[Role.MANAGER]
        agent = tenant.headers[Role.AGENT]
        agent_id = str(tenant.users[Role.AGENT].id)
        client = stack.client
        apis = [http_client(url, CONCURRENCY) for url in stack.api_urls]
        meter = CpuMeter(stack)
        last_ids: dict[str, str] = {}  # one workflow of each kind, to count its events
        try:

            async def call(api, path: str, headers: dict, body: dict | None = None) -> dict:
                response = await api.post(path, json=body, headers=headers)
                if response.status_code not in (200, 201):
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
                return response.json()

            async def lifecycle(index: int) -> None:
                api = apis[index % len(apis)]  # tickets spread over the API processes
                ticket = await call(api, "/api/v1/tickets", customer, BODY)
                last_ids["lifecycle"] = f"ticket-{ticket['id']}"
                if config.create_only:
                    return
                base = f"/api/v1/internal/tickets/{ticket['id']}"
                await call(api, f"{base}/accept", manager)
                await call(api, f"{base}/assign", manager, {"assigned_to": agent_id})
                await call(
                    api,
                    f"/api/v1/comments/ticket/{ticket['id']}",
                    agent,
                    {"content": "Replaced the fuser; try again please.", "is_internal": False},
                )
                await call(api, f"{base}/status", agent, {"status": "RESOLVED"})
                closed = await call(api, f"/api/v1/tickets/{ticket['id']}/close", agent)
                if closed["status"] != "CLOSED":
                    raise RuntimeError(f"not closed: {closed['status']}")

            async def baseline(_: int) -> None:
                handle = await client.start_workflow(
                    MinimalWorkflow.run,
                    id=f"raw-{uuid.uuid4()}",
                    task_queue=stack.minimal_task_queue,
                )
                last_ids["baseline"] = handle.id
                if config.create_only:
                    return
                for _ in range(4):
                    await handle.execute_update(MinimalWorkflow.touch)
                await handle.execute_update(MinimalWorkflow.close)

            await run_load("warm-up", lifecycle, count=WARMUP, concurrency=CONCURRENCY)
            await run_load("warm-up", baseline, count=WARMUP, concurrency=CONCURRENCY)
            await asyncio.sleep(SETTLE_S)

            async def phase(name: str, operation) -> Phase:
                profilers = start_profilers(stack, profile, name) if not ours else []
                before = meter.read()
                run = await run_load(name, operation, count=tickets, concurrency=CONCURRENCY)
                await asyncio.sleep(SETTLE_S)
                used = meter.since(before)
                stop_profilers(profilers)
                # Per ticket that made it through: a failed one's CPU is counted, not it.
                return Phase(name, run.n, used, run)

            ours: list[Phase] = []
            raw: list[Phase] = []
            db_growth: list[float] = []
            temporal_growth: list[float] = []
            raw_growth: list[float] = []
            for _ in range(rounds):
                size = stack.temporal_store_bytes()
                raw.append(await phase("baseline", baseline))
                raw_growth.append((stack.temporal_store_bytes() - size) / tickets)
                db_before, size = stack.database_bytes(), stack.temporal_store_bytes()
                ours.append(await phase("lifecycle", lifecycle))
                db_growth.append((stack.database_bytes() - db_before) / tickets)
                temporal_growth.append((stack.temporal_store_bytes() - size) / tickets)
            events = {}
            for kind, workflow_id in last_ids.items():  # what a history shard writes per ticket
                history = await client.get_workflow_handle(workflow_id).fetch_history()
                events[kind] = len(history.events)
        finally:
            for api in apis:
                await api.aclose()
    return Result(
        config,
        ours,
        raw,
        statistics.median(db_growth),
        statistics.median(temporal_growth),
        statistics.median(raw_growth),
        meter.lost_backends,
        load_average(),
        events,
    )


def load_average() -> str:
    with open("/proc/loadavg") as loadavg:
        return " ".join(loadavg.read().split()[:3])


def median_ms(phases: list[Phase], kind: str | None = None) -> float:
    values = [p.total_ms if kind is None else p.per_ticket_ms(kind) for p in phases]
    return statistics.median(values)


def report(results: list[Result], tickets: int, rounds: int) -> None:
    print(f"\n## lifecycle_cpu — {machine()}")
    print(f"{tickets} tickets per round, {rounds} rounds, c={CONCURRENCY}; medians of rounds\n")
    rows = []
    for result in results:
        what = "create" if result.config.create_only else "lifecycle (6 requests)"
        for label, phases in ((what, result.lifecycle), ("baseline", result.baseline)):
            rows.append(
                [
                    result.config.spec,
                    label,
                    *(median_ms(phases, kind) for kind in KINDS),
                    median_ms(phases),
                    median_ms(phases, "idle"),
                    statistics.median(p.run.rate for p in phases),
                    statistics.median(p.run.p50_ms for p in phases),
                    sum(p.run.errors for p in phases),
                ]
            )
    headers = [
        "config",
        "what",
        *(f"{kind} ms" for kind in KINDS),
        "total ms",
        "idle others ms",
        "tickets/s",
        "p50 ms (one ticket)",
        "failed",
    ]
    print("CPU per ticket, by process kind (the baseline's 'worker' is its minimal worker)\n")
    print(table(headers, rows))
    print()
    rows = []
    for r in results:
        ours, raw = median_ms(r.lifecycle), median_ms(r.baseline)
        spread = ", ".join(f"{p.total_ms:.1f}" for p in r.lifecycle)
        rows.append(
            [
                r.config.spec,
                ratio(ours, raw),
                ratio(median_ms(r.lifecycle, "temporal"), median_ms(r.baseline, "temporal")),
                spread,
                r.db_bytes_per_ticket,
                r.temporal_bytes_per_ticket,
                r.temporal_bytes_per_baseline,
                f"{r.history_events.get('lifecycle')} / {r.history_events.get('baseline')}",
                r.lost_backends,
                r.load,
            ]
        )
    print(
        table(
            [
                "config",
                "total CPU / baseline (target <= 2x)",
                "Temporal server CPU / baseline",
                "our total ms, each round",
                "our DB bytes/ticket",
                "Temporal store bytes/ticket",
                "Temporal store bytes/baseline wf",
                "history events: ticket / baseline wf",
                "PG backends lost",
                "load avg at end",
            ],
            rows,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=150, help="tickets per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", default="pg,sqlite", help="see the module docstring")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the first round of each phase into this directory (needs py-spy)",
    )
    args = parser.parse_args()
    configs = [Config.parse(spec) for spec in args.configs.split(",")]
    # SIGTERM (or SIGINT, which a shell's background job ignores) stops the run the way
    # Ctrl-C does: the stack's processes stopped, its database dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Five Python processes importing at once on a busy machine can take minutes to start.
    common.stack.START_TIMEOUT_S = max(common.stack.START_TIMEOUT_S, 300.0)
    results = []
    for config in configs:
        started = time.monotonic()
        print(f"# {config.spec}: load average {load_average()}", flush=True)
        profile = args.profile / config.spec if args.profile else None
        results.append(asyncio.run(measure(config, args.tickets, args.rounds, profile)))
        print(f"# {config.spec}: {time.monotonic() - started:.0f} s", flush=True)
        if len(configs) > 1:  # a long run shows each configuration as it ends
            report(results[-1:], args.tickets, args.rounds)
    report(results, args.tickets, args.rounds)


if __name__ == "__main__":
    main()
