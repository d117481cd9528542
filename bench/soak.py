"""The soak: the mixed load at a steady rate for a long time, watching every process for
leaks (resident memory and open file descriptors growing minute after minute).

    .venv/bin/python bench/soak.py [--minutes 30] [--rate 0.5] [--engine postgresql|sqlite]

The stack is real and started here (a database of its own, the Temporal dev server with its
state in a file, the worker and the API as subprocesses). ``--rate`` tickets a second are
filed, each by its own story over HTTP: accept, assign, a staff comment, status moves, a
customer reply, resolve, close. Every ``--breach-every``-th ticket is URGENT under a
policy whose resolution target is ``--target`` seconds and is left open past it, so SLA
deadlines fall due all through the run; it is closed afterwards.

Each ``--interval`` seconds a row is recorded: requests answered in that window, errors
(anything but 2xx; 5xx apart), p50/p99 latency, and for each part its resident memory
(VmRSS) and open file descriptors: the API, the worker, the Temporal dev server, the
PostgreSQL backends of the run's database (their private memory, RssAnon: a backend's RSS
also counts the shared buffers it touched, which is not a leak) or, on SQLite, the
descriptors the API and the worker hold on the database's files. The baseline is the run's
own second row (the first includes warm-up): the last rows are compared with it, and a
least-squares slope over the second half says whether anything still grows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import common.stack
import httpx
from common.stack import Stack, StackOptions, http_client, pids_matching
from common.stats import machine, percentile, table
from sqlalchemy import func, select, text, update

from desk.enums import Priority, Role
from desk.notifications.models import Notification
from desk.sla.models import SlaPolicy
from desk.tickets.models import Ticket

TICKETS = "/api/v1/tickets"
INTERNAL = "/api/v1/internal/tickets"
COMMENTS = "/api/v1/comments/ticket"
RESENDS = 3
RESEND_AFTER_S = 2.0


# --- what the load saw ------------------------------------------------------------------


@dataclass
class Requests:
    """Every answered request: when it ended, how long it took, its status (0: no answer)."""

    ended: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    first_error: str = ""

    def record(self, started: float, status: int, error: str = "") -> None:
        now = time.monotonic()
        self.ended.append(now)
        self.latency.append(now - started)
        self.status.append(status)
        if error and not self.first_error:
            self.first_error = error

    def window(self, since: float, until: float) -> tuple[list[float], Counter[int]]:
        latencies, statuses = [], Counter()
        for ended, latency, status in zip(self.ended, self.latency, self.status, strict=True):
            if since <= ended < until:
                latencies.append(latency)
                statuses[status] += 1
        return latencies, statuses


class Load:
    """The stories, one per ticket, over one keep-alive client."""

    def __init__(
        self, api: httpx.AsyncClient, headers: dict, org_id: uuid.UUID, agent_id: str, seed: int
    ):
        self.api = api
        self.org_id = org_id
        self.h = headers
        self.agent_id = agent_id
        self.random = random.Random(seed)
        self.requests = Requests()
        self.stories_started = 0
        self.stories_done = 0
        self.stories_failed = 0
        self.breach_tickets: list[str] = []

    async def call(self, role: Role, path: str, body: dict | None = None) -> dict | None:
        """POST as a client should: with an Idempotency-Key, resent with it after a 503
        (the answer to slowness or a part down). Every answer is recorded."""
        headers = {**self.h[role], "Idempotency-Key": uuid.uuid4().hex}
        for _ in range(RESENDS + 1):
            started = time.monotonic()
            try:
                response = await self.api.post(path, json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.requests.record(started, 0, repr(exc))
                await asyncio.sleep(RESEND_AFTER_S)
                continue
            ok = response.is_success
            self.requests.record(
                started, response.status_code, "" if ok else f"{path} {response.text[:200]}"
            )
            if ok:
                return response.json()
            if response.status_code != 503:
                return None
            await asyncio.sleep(RESEND_AFTER_S)
        return None

    async def pause(self, low: float = 0.2, high: float = 1.5) -> None:
        await asyncio.sleep(self.random.uniform(low, high))

    async def story(self, index: int, breach_every: int, target: float) -> None:
        self.stories_started += 1
        try:
            done = await self._story(index, breach_every, target)
        except Exception as exc:  # counted and shown; the run goes on
            done = False
            if not self.requests.first_error:
                self.requests.first_error = repr(exc)
        if done:
            self.stories_done += 1
        else:
            self.stories_failed += 1

    async def _story(self, index: int, breach_every: int, target: float) -> bool:
        breach = breach_every > 0 and index % breach_every == 0
        priority = Priority.URGENT if breach else self.random.choice([Priority.LOW, Priority.HIGH])
        ticket = await self.call(
            Role.CUSTOMER,
            TICKETS,
            {"subject": f"Soak {index}", "description": "It broke.", "priority": priority},
        )
        if ticket is None:
            return False
        tid = ticket["id"]
        if breach:
            self.breach_tickets.append(tid)
        steps: list[tuple[Role, str, dict | None]] = [
            (Role.MANAGER, f"{INTERNAL}/{tid}/accept", None),
            (Role.MANAGER, f"{INTERNAL}/{tid}/assign", {"assigned_to": self.agent_id}),
        ]
        for role, path, body in steps:
            await self.pause()
            if await self.call(role, path, body) is None:
                return False
        if breach:
            await asyncio.sleep(target + 5)  # the resolution deadline falls due meanwhile
        steps = [
            (Role.AGENT, f"{COMMENTS}/{tid}", {"content": "Looking at it.", "is_internal": False}),
            (Role.AGENT, f"{INTERNAL}/{tid}/status", {"status": "IN_PROGRESS"}),
            (Role.AGENT, f"{INTERNAL}/{tid}/status", {"status": "WAITING_CUSTOMER"}),
            # The requester's reply moves the ticket back to IN_PROGRESS.
            (Role.CUSTOMER, f"{COMMENTS}/{tid}", {"content": "Here it is.", "is_internal": False}),
            (Role.AGENT, f"{INTERNAL}/{tid}/status", {"status": "RESOLVED"}),
            (Role.MANAGER, f"{INTERNAL}/{tid}/status", {"status": "CLOSED"}),
        ]
        for role, path, body in steps:
            await self.pause()
            if await self.call(role, path, body) is None:
                return False
        return True


# --- what the processes hold ---------------------------------------------------------------


def proc_status(pid: int, key: str) -> float:
    """A ``/proc/<pid>/status`` memory line (kB) in MiB; 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def file_mib(path: Path) -> float:
    return path.stat().st_size / 2**20 if path.exists() else 0.0


def fd_targets(pid: int) -> list[str]:
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    targets = []
    for entry in entries:
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{entry}"))
        except OSError:
            continue
    return targets


@dataclass
class Sample:
    minute: int
    requests: int
    errors: int
    errors_5xx: int
    p50_ms: float
    p99_ms: float
    in_flight: int
    breaches: int
    rss: dict[str, float]  # part -> MiB
    fds: dict[str, int]  # part -> open descriptors
    pg_backends: int = 0


async def sample(stack: Stack, load: Load, minute: int, since: float, until: float) -> Sample:
    latencies, statuses = load.requests.window(since, until)
    errors = sum(n for status, n in statuses.items() if not 200 <= status < 300)
    errors_5xx = sum(n for status, n in statuses.items() if status >= 500 or status == 0)
    rss: dict[str, float] = {}
    fds: dict[str, int] = {}
    for name in ("api", "worker"):
        pid = stack.pid(name)
        rss[name] = proc_status(pid, "VmRSS")
        fds[name] = len(fd_targets(pid))
    port = stack.temporal_address.rsplit(":", 1)[1]
    temporal = pids_matching("start-dev", port)
    rss["temporal"] = sum(proc_status(pid, "VmRSS") for pid in temporal)
    fds["temporal"] = sum(len(fd_targets(pid)) for pid in temporal)
    backends = 0
    async with stack.sessionmaker() as session:
        breaches = await session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.organization_id == load.org_id, Ticket.sla_breached_at.is_not(None))
        )
        if stack.options.engine == "postgresql":
            pids = (
                await session.scalars(
                    text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ).all()
            backends = len(pids)
            rss["pg (anon)"] = sum(proc_status(pid, "RssAnon") for pid in pids)
            fds["pg"] = sum(len(fd_targets(pid)) for pid in pids)
    if stack.options.engine == "sqlite":
        database = str(stack.workdir / "desk.db")
        fds["sqlite files"] = sum(
            sum(1 for target in fd_targets(stack.pid(name)) if target.startswith(database))
            for name in ("api", "worker")
        )
    in_flight = load.stories_started - load.stories_done - load.stories_failed
    return Sample(
        minute,
        len(latencies),
        errors,
        errors_5xx,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        in_flight,
        breaches or 0,
        rss,
        fds,
        backends,
    )


def slope(values: list[float]) -> float:
    """Least-squares growth per row."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    den = sum((x - mean_x) ** 2 for x in range(n))
    return num / den


def report(samples: list[Sample], interval: float) -> str:
    parts = list(samples[0].rss)
    fd_parts = list(samples[0].fds)
    headers = ["min", "reqs", "err", "5xx", "p50 ms", "p99 ms", "open", "breached"]
    headers += [f"{p} MiB" for p in parts] + [f"{p} fds" for p in fd_parts]
    if samples[0].pg_backends:
        headers.append("pg backends")
    rows = []
    for s in samples:
        row: list[object] = [
            s.minute,
            s.requests,
            s.errors,
            s.errors_5xx,
            s.p50_ms,
            s.p99_ms,
            s.in_flight,
            s.breaches,
        ]
        row += [s.rss[p] for p in parts] + [s.fds[p] for p in fd_parts]
        if s.pg_backends:
            row.append(s.pg_backends)
        rows.append(row)
    out = [table(headers, rows)]
    if len(samples) >= 3:
        base = samples[1]  # the first row includes the warm-up
        last = samples[-1]
        half = samples[len(samples) // 2 :]
        per_hour = 3600 / interval
        growth = []
        for p in parts:
            growth.append(
                [
                    f"{p} RSS",
                    f"{base.rss[p]:.1f} MiB",
                    f"{last.rss[p]:.1f} MiB",
                    f"{last.rss[p] / base.rss[p]:.2f}x" if base.rss[p] else "n/a",
                    f"{slope([s.rss[p] for s in half]) * per_hour:+.1f} MiB/h",
                ]
            )
        for p in fd_parts:
            growth.append(
                [
                    f"{p} fds",
                    base.fds[p],
                    last.fds[p],
                    f"{last.fds[p] / base.fds[p]:.2f}x" if base.fds[p] else "n/a",
                    f"{slope([s.fds[p] for s in half]) * per_hour:+.1f} /h",
                ]
            )
        out.append(
            f"\nAgainst the baseline (row {base.minute}); slope over the second half "
            f"(rows {half[0].minute}-{last.minute}), per hour:"
        )
        out.append(table(["part", "baseline", "last", "last/baseline", "slope"], growth))
    return "\n".join(out)


# --- the run --------------------------------------------------------------------------------


async def set_breach_target(stack: Stack, org_id: uuid.UUID, seconds: float) -> None:
    """The organization's URGENT policy: resolution in ``seconds``, no early warning."""
    async with stack.sessionmaker() as session:
        await session.execute(
            update(SlaPolicy)
            .where(SlaPolicy.organization_id == org_id, SlaPolicy.priority == Priority.URGENT)
            .values(resolution_minutes=seconds / 60, first_response_minutes=600, warn_at_percent=99)
        )
        await session.commit()


async def soak(args: argparse.Namespace) -> None:
    # A niced stack on a busy shared machine can take minutes to come up; the soak is
    # about what happens after.
    common.stack.START_TIMEOUT_S = 300.0
    options = StackOptions(engine=args.engine, temporal_db_on_disk=True)
    async with Stack(options) as stack:
        tenant = await stack.seed_tenant("Soak Org")
        await set_breach_target(stack, tenant.org.id, args.target)
        print(f"soak: {machine()}; load average {os.getloadavg()}", flush=True)
        print(
            f"soak: {args.minutes} min at {args.rate} tickets/s on {args.engine}, "
            f"1 in {args.breach_every} URGENT with a {args.target:.0f}s target; "
            f"logs in {stack.workdir}",
            flush=True,
        )
        samples: list[Sample] = []
        loads = [os.getloadavg()[0]]
        async with http_client(stack.api_url, 200) as api:
            agent_id = str(tenant.users[Role.AGENT].id)
            load = Load(api, tenant.headers, tenant.org.id, agent_id, args.seed)
            stories: set[asyncio.Task] = set()
            started = time.monotonic()
            end = started + args.minutes * 60
            next_sample = started + args.interval
            window_start = started
            index = 0
            stop = asyncio.Event()  # SIGTERM or SIGINT: end the load early, still report
            for signum in (signal.SIGTERM, signal.SIGINT):
                asyncio.get_running_loop().add_signal_handler(signum, stop.set)
            while time.monotonic() < end and not stop.is_set():
                now = time.monotonic()
                if now >= next_sample:
                    row = await sample(stack, load, len(samples) + 1, window_start, now)
                    samples.append(row)
                    loads.append(os.getloadavg()[0])
                    print(
                        f"  min {row.minute}: {row.requests} reqs, {row.errors} errors, "
                        f"p99 {row.p99_ms:.0f} ms, open {row.in_flight}, RSS "
                        + ", ".join(f"{k} {v:.0f}" for k, v in row.rss.items())
                        + ", fds "
                        + ", ".join(f"{k} {v}" for k, v in row.fds.items())
                        + f"; load {loads[-1]:.2f}",
                        flush=True,
                    )
                    window_start, next_sample = now, next_sample + args.interval
                # Steady rate: ticket i is filed at started + i / rate, whatever came before.
                due = started + index / args.rate
                if now >= due:
                    task = asyncio.create_task(load.story(index, args.breach_every, args.target))
                    stories.add(task)
                    task.add_done_callback(stories.discard)
                    index += 1
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(due, next_sample, end) - now)
            print(f"soak: load stopped; draining {len(stories)} stories", flush=True)
            if stories:
                await asyncio.wait(stories, timeout=args.target + 120)
            drained = time.monotonic()
            samples.append(
                await sample(stack, load, len(samples) + 1, window_start, drained)
            )  # the tail: what was in flight at the end
            loads.append(os.getloadavg()[0])

        async with stack.sessionmaker() as session:
            open_left = await session.scalar(
                select(func.count())
                .select_from(Ticket)
                .where(Ticket.organization_id == tenant.org.id, Ticket.status != "CLOSED")
            )
            breached = set(
                str(t)
                for t in (
                    await session.scalars(
                        select(Ticket.id).where(
                            Ticket.organization_id == tenant.org.id,
                            Ticket.sla_breached_at.is_not(None),
                        )
                    )
                ).all()
            )
            notices = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.kind == "SLA_BREACHED")
            )
        status_counts = Counter(load.requests.status)
        temporal_mib = file_mib(stack.temporal_db_file)

    print(f"\nSoak, {args.engine}, {args.minutes} min at {args.rate} tickets/s — {machine()}")
    print(
        f"load average (1 min) over the run: min {min(loads):.2f}, "
        f"median {percentile(loads, 50):.2f}, max {max(loads):.2f}"
    )
    print(report(samples, args.interval))
    all_latencies = load.requests.latency
    print(
        f"\nrequests {len(all_latencies)} (by status: {dict(sorted(status_counts.items()))}), "
        f"p50 {percentile(all_latencies, 50) * 1000:.0f} ms, "
        f"p99 {percentile(all_latencies, 99) * 1000:.0f} ms; stories {load.stories_started} "
        f"started, {load.stories_done} done, {load.stories_failed} failed; tickets not closed "
        f"{open_left}; URGENT tickets held past the deadline {len(load.breach_tickets)}, "
        f"breached {len(breached & set(load.breach_tickets))}, other tickets breached "
        f"{len(breached - set(load.breach_tickets))}; SLA_BREACHED notices {notices} "
        f"(one manager); Temporal state file {temporal_mib:.1f} MiB"
    )
    if load.requests.first_error:
        print(f"first error: {load.requests.first_error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=0.5, help="tickets filed per second")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between rows")
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--breach-every", type=int, default=5)
    parser.add_argument("--target", type=float, default=30.0, help="URGENT target, seconds")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    asyncio.run(soak(args))


if __name__ == "__main__":
    main()
