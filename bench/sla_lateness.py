"""How late SLA breaches are noticed: N tickets whose resolution deadlines are spread over a
minute; for each, (in-app notification recorded - due time). Beside it, in the same run and on
the same deadlines, the old design: a worker polling the database every 60 seconds for
tickets past due.

    .venv/bin/python bench/sla_lateness.py [--tickets 500] [--spread 60] [--poll 60]

The stack is real (PostgreSQL, the Temporal dev server, the worker and the API as
subprocesses); tickets are created and accepted over HTTP under a policy whose resolution
target is ``--target`` seconds, paced so their deadlines spread over ``--spread`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
import uuid
from datetime import datetime

from common.stack import Stack, StackOptions, http_client
from common.stats import machine, percentile, table
from sqlalchemy import select, update

from desk.db.types import utcnow
from desk.enums import Priority, Role
from desk.notifications.models import Notification
from desk.sla.models import SlaPolicy
from desk.tickets.models import Ticket


async def set_target(stack: Stack, org_id: uuid.UUID, seconds: float) -> None:
    """The organization's URGENT policy: resolution in ``seconds``, no early warning."""
    async with stack.sessionmaker() as session:
        await session.execute(
            update(SlaPolicy)
            .where(SlaPolicy.organization_id == org_id, SlaPolicy.priority == Priority.URGENT)
            .values(resolution_minutes=seconds / 60, first_response_minutes=600, warn_at_percent=99)
        )
        await session.commit()


async def poller(
    stack: Stack,
    org_id: uuid.UUID,
    interval: float,
    seen: dict[uuid.UUID, datetime],
    stop: asyncio.Event,
) -> None:
    """The old design: every ``interval`` seconds, look for tickets past their due date."""
    await asyncio.sleep(random.uniform(0, interval))  # the poller's phase is arbitrary
    while not stop.is_set():
        now = utcnow()
        async with stack.sessionmaker() as session:
            due = await session.execute(
                select(Ticket.id).where(Ticket.organization_id == org_id, Ticket.sla_due_at <= now)
            )
            for (ticket_id,) in due:
                seen.setdefault(ticket_id, now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def summary(name: str, lateness_s: list[float]) -> list[object]:
    return [
        name,
        len(lateness_s),
        f"{percentile(lateness_s, 50) * 1000:.0f}",
        f"{percentile(lateness_s, 99) * 1000:.0f}",
        f"{max(lateness_s) * 1000:.0f}",
    ]


async def measure(tickets: int, spread: float, target: float, poll: float) -> None:
    async with Stack(StackOptions()) as stack:
        tenant = await stack.seed_tenant()
        org_id = tenant.org.id
        await set_target(stack, org_id, target)
        customer, manager = tenant.headers[Role.CUSTOMER], tenant.headers[Role.MANAGER]
        seen_by_poller: dict[uuid.UUID, datetime] = {}
        stop = asyncio.Event()
        polling = asyncio.create_task(poller(stack, org_id, poll, seen_by_poller, stop))

        async with http_client(stack.api_url, 10) as api:
            created = []
            for _ in range(tickets):
                response = await api.post(
                    "/api/v1/tickets",
                    json={"subject": "Down", "priority": "URGENT"},
                    headers=customer,
                )
                response.raise_for_status()
                created.append(response.json()["id"])
            # Accept at an even pace: the deadlines spread over `spread` seconds.
            started = time.monotonic()
            for i, ticket_id in enumerate(created):
                await asyncio.sleep(max(0.0, started + i * spread / tickets - time.monotonic()))
                response = await api.post(
                    f"/api/v1/internal/tickets/{ticket_id}/accept", headers=manager
                )
                response.raise_for_status()
            print(f"accepted {tickets} tickets in {time.monotonic() - started:.1f}s", flush=True)

        # Wait for the last deadline, then for the poller's next round after it.
        await asyncio.sleep(target + poll + 5)
        stop.set()
        await polling

        async with stack.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Ticket.id, Ticket.sla_due_at, Notification.created_at)
                    .join(Notification, Notification.ticket_id == Ticket.id)
                    .where(Ticket.organization_id == org_id, Notification.kind == "SLA_BREACHED")
                )
            ).all()
            dues = dict(
                (
                    await session.execute(
                        select(Ticket.id, Ticket.sla_due_at).where(Ticket.organization_id == org_id)
                    )
                ).all()
            )
        timers = [(noticed - due).total_seconds() for _, due, noticed in rows]
        polled = [(seen_by_poller[t] - dues[t]).total_seconds() for t in seen_by_poller]
        missing = tickets - len(rows)

    print(
        f"\nSLA breach lateness, {tickets} tickets, deadlines over {spread:.0f}s "
        f"(target {target:.0f}s) — {machine()}"
    )
    print(
        table(
            ["design", "breaches", "p50 ms", "p99 ms", "max ms"],
            [
                summary("durable timers (workflow)", timers),
                summary(f"poller every {poll:.0f}s (old design)", polled),
            ],
        )
    )
    ratio = percentile(polled, 50) / max(percentile(timers, 50), 1e-3)
    print(f"p50 ratio poller/timers: {ratio:.0f}x; breaches not notified: {missing}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds")
    parser.add_argument("--target", type=float, default=60.0, help="resolution target, seconds")
    parser.add_argument("--poll", type=float, default=60.0, help="old poller interval, seconds")
    args = parser.parse_args()
    asyncio.run(measure(args.tickets, args.spread, args.target, args.poll))


if __name__ == "__main__":
    main()
