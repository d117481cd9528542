"""Many open tickets, each a running workflow with an armed durable timer: the time to
create and accept them over HTTP (accepting starts the SLA clock: its timers are armed),
the worker's resident memory and the dev server's database size as they accumulate; then
the breach lateness of a slice of tickets falling due together beside them.

    .venv/bin/python bench/open_tickets.py [--tickets 1000]   # the issue's size: 10000

Baselines in the same run: the same stack before any ticket (memory, size), and the raw
``start_workflow`` rate of a minimal workflow with a timer-free wait (per-ticket costs
beside the bare cost of one open workflow).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

from common.minimal import MinimalWorkflow
from common.stack import Stack, StackOptions, Tenant, TicketCalls, http_client, rss_mib
from common.stats import Run, machine, percentile, run_load, table
from sqlalchemy import func, select, update

from desk.enums import Priority
from desk.notifications.models import Notification
from desk.sla.models import SlaPolicy
from desk.tickets.models import Ticket

DEFAULT_TICKETS = 1_000  # `make bench`; the figure is --tickets 10000
CONCURRENCY = 20
BODY = {"subject": "Disk almost full", "priority": "HIGH"}


def db_size_mib(path: Path) -> float:
    """The dev server's SQLite file with its WAL and shared-memory files."""
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1024 / 1024


async def measure(count: int, slice_size: int, target_s: float) -> None:
    options = StackOptions(minimal_worker=True, temporal_db_on_disk=True)
    async with Stack(options) as stack:
        tenant = await stack.seed_tenant()
        rows, runs = await _phases(stack, tenant, count)
        lateness = await measure_breach_lateness(stack, tenant, slice_size, target_s)

    print(f"\n## open_tickets — {machine()}\n")
    print(table(["after", "worker RSS MiB", "dev-server DB MiB", "open workflows"], rows))
    print()
    print(
        table(
            ["phase", "n", "per s", "p50 ms", "p99 ms", "wall s"],
            [[r.name, r.n, r.rate, r.p50_ms, r.p99_ms, r.wall_s] for r in runs],
        )
    )
    print(f"\nBreach lateness: {lateness}")


async def _phases(stack: Stack, tenant: Tenant, count: int) -> tuple[list[list], list[Run]]:
    """Create, then accept, ``count`` tickets; snapshot memory and size after each."""
    worker_pid = stack.pid("worker")
    db = stack.temporal_db_file
    rows = [["start (no tickets)", rss_mib(worker_pid), db_size_mib(db), 0]]
    runs = []
    async with http_client(stack.api_url, CONCURRENCY) as api:
        calls = TicketCalls(api, tenant, BODY)
        ids = calls.ids
        runs.append(
            await run_load("create (HTTP)", calls.create, count=count, concurrency=CONCURRENCY)
        )
        rows.append([f"{len(ids):,} created (NEW)", rss_mib(worker_pid), db_size_mib(db), len(ids)])
        runs.append(
            await run_load("accept (HTTP)", calls.accept, count=len(ids), concurrency=CONCURRENCY)
        )
        rows.append(
            [
                f"{len(ids):,} accepted (SLA timers armed)",
                rss_mib(worker_pid),
                db_size_mib(db),
                len(ids),
            ]
        )

    async def raw_start(_: int) -> None:
        await stack.client.start_workflow(
            MinimalWorkflow.run, id=f"open-raw-{uuid.uuid4()}", task_queue=stack.minimal_task_queue
        )

    runs.append(
        await run_load(
            "raw start_workflow (baseline)", raw_start, count=count, concurrency=CONCURRENCY
        )
    )
    # The minimal workflows run on the baseline's own worker: our worker's memory is unmoved.
    rows.append(
        [f"+ {count:,} minimal workflows", rss_mib(worker_pid), db_size_mib(db), 2 * len(ids)]
    )
    return rows, runs


async def measure_breach_lateness(stack: Stack, tenant: Tenant, size: int, target_s: float) -> str:
    """Beside the open tickets, ``size`` URGENT tickets under a policy of ``target_s``
    seconds, accepted in one burst so their deadlines fall due within seconds of each other.
    Lateness of the breach's projection write (``updated_at - sla_due_at``: the breach is
    the ticket's last change) and of the managers' in-app notification."""
    assert stack.sessionmaker is not None
    org_id = tenant.org.id
    async with stack.sessionmaker() as session:
        await session.execute(
            update(SlaPolicy)
            .where(SlaPolicy.organization_id == org_id, SlaPolicy.priority == Priority.URGENT)
            .values(
                resolution_minutes=target_s / 60, first_response_minutes=600, warn_at_percent=99
            )
        )
        await session.commit()
    async with http_client(stack.api_url, CONCURRENCY) as api:
        calls = TicketCalls(api, tenant, {"subject": "Everything is down", "priority": "URGENT"})
        await run_load("slice create", calls.create, count=size, concurrency=CONCURRENCY)
        burst = await run_load(
            "slice accept", calls.accept, count=len(calls.ids), concurrency=CONCURRENCY
        )
    slice_ids = [uuid.UUID(i) for i in calls.ids]

    async def breached() -> list:
        async with stack.sessionmaker() as session:
            return (
                await session.execute(
                    # sla_breached_at is the due instant itself (the clock's breach time);
                    # updated_at is when the breach was written (the ticket's last change).
                    select(Ticket.id, Ticket.sla_due_at, Ticket.updated_at).where(
                        Ticket.id.in_(slice_ids), Ticket.sla_breached_at.is_not(None)
                    )
                )
            ).all()

    deadline = time.monotonic() + target_s + burst.wall_s + 120
    rows = await breached()
    while len(rows) < len(slice_ids) and time.monotonic() < deadline:
        await asyncio.sleep(1)
        rows = await breached()

    async def notified() -> list:
        async with stack.sessionmaker() as session:
            return (
                await session.execute(
                    select(Ticket.sla_due_at, func.min(Notification.created_at))
                    .join(Notification, Notification.ticket_id == Ticket.id)
                    .where(Ticket.id.in_(slice_ids), Notification.kind == "SLA_BREACHED")
                    .group_by(Ticket.id, Ticket.sla_due_at)
                )
            ).all()

    deadline = time.monotonic() + 120  # the notifications follow the breaches
    notices_rows = await notified()
    while len(notices_rows) < len(rows) and time.monotonic() < deadline:
        await asyncio.sleep(1)
        notices_rows = await notified()
    dues = sorted(due for _, due, _ in rows)
    window = (dues[-1] - dues[0]).total_seconds() if dues else float("nan")
    projected = [(at - due).total_seconds() * 1000 for _, due, at in rows]
    notices = [(at - due).total_seconds() * 1000 for due, at in notices_rows]
    return "\n".join(
        [
            f"{len(slice_ids)} URGENT tickets (target {target_s:.0f} s) accepted in "
            f"{burst.wall_s:.1f} s beside the open ones; deadlines within {window:.1f} s:",
            "",
            table(
                ["lateness after the due instant", "tickets", "p50 ms", "p99 ms", "max ms"],
                [
                    ["breach written to the ticket row", len(projected), *_spread(projected)],
                    ["in-app notification written", len(notices), *_spread(notices)],
                ],
            ),
            f"(not breached within the wait: {len(slice_ids) - len(rows)}; "
            f"breached but not notified: {len(rows) - len(notices_rows)})",
        ]
    )


def _spread(values: list[float]) -> list[float]:
    if not values:
        return [float("nan")] * 3
    return [percentile(values, 50), percentile(values, 99), max(values)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=DEFAULT_TICKETS)
    parser.add_argument(
        "--slice",
        type=int,
        default=None,
        help="tickets falling due together (default N/10, <= 200)",
    )
    parser.add_argument("--target", type=float, default=30.0, help="their SLA target, seconds")
    args = parser.parse_args()
    size = args.slice if args.slice is not None else max(10, min(200, args.tickets // 10))
    asyncio.run(measure(args.tickets, size, args.target))


if __name__ == "__main__":
    main()
