"""SLA reports on 100,000 tickets with their SLA facts (PostgreSQL, or SQLite with
``--engine sqlite``): the report for a quarter grouped by week (and by priority, by agent,
and for a whole year), the breaches' first page, against the plain list page
(``GET /api/v1/tickets``) and the HTTP floor (``GET /healthz``) in the same run, the cases
taking turns in rounds (outside load weighs on all alike); the projection write of an
acceptance with its facts and without (what recording them costs every ticket change); then
the quarter's and the year's CSV streamed, the API process's resident memory sampled while
it streams. Tickets and facts are bulk-loaded (COPY; executemany on SQLite), the facts drawn
from plausible distributions rather than computed; no workflow runs.

    .venv/bin/python bench/reports.py [--tickets 100000] [--requests 100] [--engine sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import psycopg
from common.stack import Stack, StackOptions, Tenant, http_client, rss_mib
from common.stats import Run, latency_table, machine, run_load, table

from desk.admin.models import Service
from desk.auth.models import User
from desk.db.base import Base
from desk.enums import Priority, Role
from desk.sla import tracker
from desk.sla.contracts import SlaTargets
from desk.tickets import projection
from desk.tickets.contracts import ProjectionBatch, TicketState
from desk.tickets.creation import record_creation

DAYS = 365  # the tickets' creation instants spread evenly over a year ending now
AGENTS = 20
SERVICES = 5
PAGE = 50
ROUNDS = 5
WRITES = 300  # projection writes timed with facts, and as many without
LIST_PAGE = "list page (GET /tickets, baseline)"
# (first response, resolution) targets in seconds, 24x7, per priority.
TARGETS = {
    Priority.URGENT: (15 * 60, 4 * 3600),
    Priority.HIGH: (3600, 8 * 3600),
    Priority.MEDIUM: (4 * 3600, 24 * 3600),
    Priority.LOW: (8 * 3600, 80 * 3600),
}


def _clock(rng: random.Random, started: datetime, target: float, now: datetime) -> tuple:
    """One metric's fact: (outcome, due, met, breached, business, paused)."""
    due = started + timedelta(seconds=target)
    taken = target * rng.lognormvariate(-0.6, 0.7)  # about one in five over the target
    paused = rng.choice((0.0, 0.0, 0.0, rng.uniform(600, 86400)))
    if started + timedelta(seconds=taken + paused) > now:  # still open
        outcome = "breached" if due + timedelta(seconds=paused) < now else "running"
        if outcome == "running" and paused and rng.random() < 0.5:
            outcome = "paused"
        breached = due if outcome == "breached" else None
        return outcome, due, None, breached, None, paused
    met = started + timedelta(seconds=taken + paused)
    late = taken >= target
    return ("breached" if late else "met"), due, met, (due if late else None), taken, paused


async def load(stack: Stack, tenant: Tenant, count: int) -> tuple[int, list[uuid.UUID]]:
    """COPY ``count`` tickets and their facts; returns the fact count and the agents."""
    assert stack.sessionmaker is not None
    org_id = tenant.org.id
    async with stack.sessionmaker() as session:
        agents = [
            User(
                organization_id=org_id,
                email=f"agent-{i}-{uuid.uuid4().hex[:6]}@bench.example.com",
                full_name=f"Agent {i}",
                role=Role.AGENT,
                password_hash="!",  # noqa: S106 - never logs in
            )
            for i in range(AGENTS)
        ]
        services = [Service(organization_id=org_id, name=f"Service {i}") for i in range(SERVICES)]
        session.add_all([*agents, *services])
        await session.commit()
    agent_ids = [a.id for a in agents]
    service_ids = [s.id for s in services]
    requester = tenant.users[Role.CUSTOMER].id
    rng = random.Random(42)
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / count
    tickets, facts = [], []
    for number in range(1, count + 1):
        ticket_id = uuid.uuid4()
        created = start + step * number
        priority = rng.choice(list(Priority))
        service = rng.choice([None, *service_ids])
        accepted = created + timedelta(minutes=rng.uniform(1, 90))
        is_new = accepted > now or rng.random() < 0.03
        assignee = None if is_new else rng.choice([None, *agent_ids])
        status = "NEW" if is_new else "CLOSED"
        dims = (org_id, priority.value, service, assignee)
        if is_new:
            facts.append((ticket_id, "accept", *dims, created, "running", *[None] * 5, 0.0))
        else:
            waited = (accepted - created).total_seconds()
            accept = (None, None, accepted, None, waited, 0.0)
            facts.append((ticket_id, "accept", *dims, created, "untracked", *accept))
            for metric, target in zip(
                ("first_response", "resolution"), TARGETS[priority], strict=True
            ):
                outcome, due, met, breached, business, paused = _clock(rng, accepted, target, now)
                if met is None:
                    status = "IN_PROGRESS"
                clock = (outcome, target, due, met, breached, business, paused)
                facts.append((ticket_id, metric, *dims, accepted, *clock))
        subject = f"Ticket {number}: something is broken"
        people = (requester, requester, service, assignee)
        rest = (None if is_new else accepted, 0, 1, created, created)
        tickets.append(
            (ticket_id, org_id, number, subject, "", priority.value, status, *people, *rest)
        )
    ticket_columns = (
        "id, organization_id, number, subject, description, priority, status, requester_id, "
        "created_by_id, service_id, assigned_to, sla_started_at, sla_paused_duration, "
        "version, created_at, updated_at"
    )
    fact_columns = (
        "ticket_id, metric, organization_id, priority, service_id, assigned_to, started_at, "
        "outcome, target_seconds, due_at, met_at, breached_at, business_seconds, "
        "paused_seconds"
    )
    tables = (("tickets", ticket_columns, tickets), ("sla_facts", fact_columns, facts))
    if stack.options.engine == "sqlite":
        await _insert(stack, tables)
    else:
        await _copy(stack, tables)
    return len(facts), agent_ids


async def _copy(stack: Stack, tables: tuple) -> None:
    """PostgreSQL: COPY each table's rows, then ANALYZE."""
    dsn = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        for name, columns, rows in tables:
            async with conn.cursor().copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    await copy.write_row(row)
            await conn.execute(f"ANALYZE {name}")
        await conn.commit()


async def _insert(stack: Stack, tables: tuple) -> None:
    """SQLite: executemany INSERTs in chunks (the column types convert ids and instants),
    then ANALYZE."""
    assert stack.engine is not None
    for name, columns, rows in tables:
        table = Base.metadata.tables[name]
        keys = [c.strip() for c in columns.split(",")]
        for start in range(0, len(rows), 10_000):
            chunk = [dict(zip(keys, row, strict=True)) for row in rows[start : start + 10_000]]
            async with stack.engine.begin() as conn:
                await conn.execute(table.insert(), chunk)
    async with stack.engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")


async def interleaved(
    cases: dict[str, Callable[[int], Awaitable[None]]], requests: int, concurrency: int
) -> dict[str, Run]:
    """Each case's ``requests`` calls in :data:`ROUNDS` rounds, the cases taking turns, so
    that load from outside the benchmark weighs on every case alike; latencies pooled."""
    per_round = max(1, requests // ROUNDS)
    parts: dict[str, list[Run]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, call in cases.items():
            parts[name].append(await run_load(name, call, count=per_round, concurrency=concurrency))
    return {
        name: Run(
            name,
            concurrency,
            [latency for run in runs for latency in run.latencies],
            sum(run.wall_s for run in runs),
            sum(run.errors for run in runs),
        )
        for name, runs in parts.items()
    }


async def stream_csv(stack: Stack, api, headers: dict, params: dict) -> dict[str, float]:
    """Stream one CSV export, sampling the API's RSS every 50 ms; its figures."""
    pid = stack.pid("api")
    before = rss_mib(pid)
    samples: list[float] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(rss_mib(pid))
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    size = rows = 0
    started = time.perf_counter()
    first_byte = None
    async with api.stream("GET", "/api/v1/reports/sla", params=params, headers=headers) as reply:
        reply.raise_for_status()
        async for chunk in reply.aiter_bytes():
            if first_byte is None:
                first_byte = time.perf_counter() - started
            size += len(chunk)
            rows += chunk.count(b"\n")
    wall = time.perf_counter() - started
    done.set()
    await sampler
    return {
        "rows": rows - 1,
        "MiB": size / 1024 / 1024,
        "s": wall,
        "first byte ms": (first_byte or 0) * 1000,
        "rows per s": (rows - 1) / wall,
        "RSS before MiB": before,
        "RSS peak MiB": max(samples, default=before),
        "RSS after MiB": rss_mib(pid),
    }


async def projection_cost(stack: Stack, tenant: Tenant, count: int) -> dict[str, Run]:
    """What the facts add to every ticket change: the projection write of an acceptance
    (the ticket row at version 2 and its three facts) against the same write with the
    facts' upsert left out, taking turns ticket by ticket."""
    assert stack.sessionmaker is not None
    sessionmaker = stack.sessionmaker
    targets = SlaTargets.from_minutes(None, first_response_minutes=60, resolution_minutes=480)
    customer = tenant.users[Role.CUSTOMER]
    latencies: dict[str, list[float]] = {"with facts": [], "without facts": []}
    number = 10_000_000  # clear of the loaded tickets' numbers

    async def skip_facts(*_args: object, **_kwargs: object) -> None:
        return None

    for i in range(2 * count):
        name = "with facts" if i % 2 == 0 else "without facts"
        number += 1
        now = datetime.now(UTC)
        state = TicketState(
            ticket_id=str(uuid.uuid4()),
            organization_id=str(tenant.org.id),
            number=number,
            subject="Projection cost",
            description="",
            priority=Priority.HIGH,
            status="NEW",
            requester_id=str(customer.id),
            created_by_id=str(customer.id),
            created_at=now,
        )
        record_creation(state, targets)
        async with sessionmaker() as session:
            await projection.write_projection(session, ProjectionBatch(state=state))
            await session.commit()
        state.status, state.accepted_at, state.version = "ACCEPTED", now, 2
        tracker.on_accepted(state.sla, now, targets)
        writer = projection.write_facts
        if name == "without facts":
            projection.write_facts = skip_facts
        try:
            started = time.perf_counter()
            async with sessionmaker() as session:
                await projection.write_projection(session, ProjectionBatch(state=state))
                await session.commit()
            latencies[name].append(time.perf_counter() - started)
        finally:
            projection.write_facts = writer
    return {name: Run(name, 1, values, sum(values)) for name, values in latencies.items()}


def _quarter(now: datetime) -> dict[str, str]:
    """The last full 91 days before today (UTC: the organization's default zone)."""
    last = now.date() - timedelta(days=1)
    return {"from": (last - timedelta(days=90)).isoformat(), "to": last.isoformat()}


async def measure(count: int, requests: int, engine: str) -> None:
    async with Stack(StackOptions(worker=False, engine=engine)) as stack:
        tenant = await stack.seed_tenant()
        started = time.perf_counter()
        fact_count, _agents = await load(stack, tenant, count)
        load_s = time.perf_counter() - started
        manager = tenant.headers[Role.MANAGER]
        now = datetime.now(UTC)
        quarter = _quarter(now)
        year = {"from": (now.date() - timedelta(days=365)).isoformat(), "to": quarter["to"]}

        async with http_client(stack.api_url, 10) as api:

            def get(url: str, params: dict | None = None):
                async def call(_: int) -> None:
                    response = await api.get(url, params=params, headers=manager)
                    response.raise_for_status()

                return call

            cases = {
                "HTTP floor (GET /healthz)": get("/healthz"),
                LIST_PAGE: get("/api/v1/tickets", {"limit": PAGE}),
                "report, quarter by week": get(
                    "/api/v1/reports/sla", {**quarter, "group_by": "week"}
                ),
                "report, quarter by priority": get(
                    "/api/v1/reports/sla", {**quarter, "group_by": "priority"}
                ),
                "report, quarter by agent": get(
                    "/api/v1/reports/sla", {**quarter, "group_by": "agent"}
                ),
                "report, year by week": get("/api/v1/reports/sla", {**year, "group_by": "week"}),
                "breaches, quarter, first page": get(
                    "/api/v1/reports/sla/breaches", {**quarter, "limit": PAGE}
                ),
            }
            for name, call in cases.items():  # warm caches and pools
                await run_load(name, call, count=5, concurrency=1)
            results = {c: await interleaved(cases, requests, c) for c in (1, 10)}
            writes = await projection_cost(stack, tenant, WRITES)
            exports = {
                "quarter": await stream_csv(stack, api, manager, {**quarter, "format": "csv"}),
                "year": await stream_csv(stack, api, manager, {**year, "format": "csv"}),
            }

    print(f"\n## reports ({engine}) — {machine()}\n")
    print(
        f"{count:,} tickets over {DAYS} days with {fact_count:,} SLA facts, loaded in "
        f"{load_s:.1f} s; quarter {quarter['from']}..{quarter['to']}\n"
    )
    print(latency_table(results, lambda runs: runs[LIST_PAGE], "p50 / list page"))
    print("\nThe projection write of an acceptance, the facts' cost on every ticket change:\n")
    print(
        table(
            ["what", "n", "p50 ms", "p99 ms", "mean ms"],
            [[r.name, r.n, r.p50_ms, r.p99_ms, r.mean_ms] for r in writes.values()],
        )
    )
    print("\nCSV export, streamed (API resident memory sampled every 50 ms):\n")
    keys = list(next(iter(exports.values())))
    print(
        table(["period", *keys], [[name, *figures.values()] for name, figures in exports.items()])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=100, help="per case and concurrency")
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    asyncio.run(measure(args.tickets, args.requests, args.engine))


if __name__ == "__main__":
    main()
