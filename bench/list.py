"""``GET /api/v1/tickets`` p50/p99 with 100,000 tickets of one organization in PostgreSQL:
the first page, the 50th page by cursor, a status filter and a customer's own list; beside
them, in the same run, the same service call without HTTP (``queries.list_tickets`` on a
session) and the HTTP floor (``GET /healthz``). A read benchmark: the projection rows are
bulk-loaded with COPY, no workflow runs.

    .venv/bin/python bench/list.py [--tickets 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from common.stack import Stack, StackOptions, Tenant, http_client
from common.stats import Run, latency_table, machine, run_load
from sqlalchemy import select

from desk.auth.models import User
from desk.auth.security import create_access_token
from desk.db.types import utcnow
from desk.enums import Priority, Role, TicketStatus
from desk.tickets import queries
from desk.tickets.models import Ticket

STATUS_MIX = [  # an organization a few years in: mostly closed
    (TicketStatus.CLOSED, 70),
    (TicketStatus.RESOLVED, 8),
    (TicketStatus.IN_PROGRESS, 8),
    (TicketStatus.WAITING_CUSTOMER, 5),
    (TicketStatus.ACCEPTED, 5),
    (TicketStatus.NEW, 4),
]
CUSTOMERS = 200
PAGE = 50
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


async def load_tickets(stack: Stack, tenant: Tenant, count: int) -> list[uuid.UUID]:
    """COPY ``count`` projection rows (plus customers to request them); returns customers."""
    assert stack.sessionmaker is not None
    customers = []
    async with stack.sessionmaker() as session:
        for i in range(CUSTOMERS):
            user = User(
                organization_id=tenant.org.id,
                email=f"customer-{i}-{uuid.uuid4().hex[:6]}@bench.example.com",
                full_name=f"Customer {i}",
                role=Role.CUSTOMER,
                password_hash="!",  # noqa: S106 - never logs in
            )
            session.add(user)
            customers.append(user)
        await session.commit()
    customer_ids = [c.id for c in customers]
    statuses = [s for s, weight in STATUS_MIX for _ in range(weight)]
    priorities = list(Priority)
    rng = random.Random(42)
    start = datetime.now(UTC) - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / count
    dsn = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    columns = (
        "id, organization_id, number, subject, description, priority, status, requester_id, "
        "created_by_id, sla_paused_duration, version, created_at, updated_at"
    )
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        async with conn.cursor().copy(f"COPY tickets ({columns}) FROM STDIN") as copy:
            for number in range(1, count + 1):
                requester = rng.choice(customer_ids)
                created = start + step * number
                await copy.write_row(
                    (
                        uuid.uuid4(),
                        tenant.org.id,
                        number,
                        f"Ticket {number}: something is broken",
                        "Details of the problem.",
                        rng.choice(priorities).value,
                        rng.choice(statuses).value,
                        requester,
                        requester,
                        0,
                        1,
                        created,
                        created,
                    )
                )
        await conn.execute("ANALYZE tickets")
        await conn.commit()
    return customer_ids


async def measure(count: int, requests: int) -> None:
    async with Stack(StackOptions(worker=False)) as stack:
        tenant = await stack.seed_tenant()
        started = time.perf_counter()
        customer_ids = await load_tickets(stack, tenant, count)
        load_s = time.perf_counter() - started
        manager = tenant.headers[Role.MANAGER]
        customer = await _customer_headers(stack, tenant, customer_ids[0])

        async with http_client(stack.api_url, 10) as api:
            page_50 = await _page_url(api, manager, 50)

            def get(url: str, headers: dict[str, str]):
                async def call(_: int) -> None:
                    response = await api.get(url, headers=headers)
                    response.raise_for_status()
                    if len(response.json()) == 0:
                        raise RuntimeError(f"{url}: empty page")

                return call

            async def healthz(_: int) -> None:
                (await api.get("/healthz")).raise_for_status()

            manager_user = tenant.users[Role.MANAGER]

            async def direct_first_page(_: int) -> None:
                assert stack.sessionmaker is not None
                async with stack.sessionmaker() as session:
                    user = await session.get(User, manager_user.id)
                    await queries.list_tickets(
                        session, user, queries.TicketFilters(), limit=PAGE, cursor=None
                    )

            cases = {
                "HTTP floor (GET /healthz)": healthz,
                "queries.list_tickets, no HTTP (first page)": direct_first_page,
                "first page (manager, all 100k)": get(f"/api/v1/tickets?limit={PAGE}", manager),
                "50th page by cursor": get(page_50, manager),
                "first page, status=NEW": get(f"/api/v1/tickets?limit={PAGE}&status=NEW", manager),
                "first page, q=broken (substring)": get(
                    f"/api/v1/tickets?limit={PAGE}&q=broken", manager
                ),
                "customer's own, first page": get(f"/api/v1/tickets?limit={PAGE}", customer),
            }
            results: dict[int, dict[str, Run]] = {}
            for name, call in cases.items():  # warm caches and pools
                await run_load(name, call, count=10, concurrency=2)
            for concurrency in (1, 10):
                results[concurrency] = {
                    name: await run_load(name, call, count=requests, concurrency=concurrency)
                    for name, call in cases.items()
                }
        plans = await _plans(stack, tenant)

    print(f"\n## list — {machine()}\n")
    print(f"{count:,} tickets loaded with COPY in {load_s:.1f} s; page size {PAGE}\n")
    floor = "HTTP floor (GET /healthz)"
    print(latency_table(results, lambda runs: runs[floor], "p50 / HTTP floor"))
    print("\nPostgreSQL plans (EXPLAIN ANALYZE, manager's queries):\n")
    for name, plan in plans.items():
        print(f"- {name}: {plan}")


async def _customer_headers(stack: Stack, tenant: Tenant, customer_id: uuid.UUID) -> dict:
    token = create_access_token(
        stack.settings(),
        user_id=customer_id,
        organization_id=tenant.org.id,
        role=Role.CUSTOMER.value,
        now=utcnow(),
    )
    return {"Authorization": f"Bearer {token}"}


async def _page_url(api, headers: dict[str, str], page: int) -> str:
    """The URL of page ``page``, following Link: rel="next" (untimed)."""
    url = f"/api/v1/tickets?limit={PAGE}"
    for _ in range(page - 1):
        response = await api.get(url, headers=headers)
        response.raise_for_status()
        match = _NEXT.search(response.headers.get("link", ""))
        if not match:
            raise RuntimeError(f"no next page after {url}")
        url = match.group(1)
    return url


async def _plans(stack: Stack, tenant: Tenant) -> dict[str, str]:
    """The top plan node and the execution time of each list query, for the record."""
    assert stack.sessionmaker is not None
    filters = {
        "first page": queries.TicketFilters(),
        "status=NEW": queries.TicketFilters(status=TicketStatus.NEW),
        "q=broken": queries.TicketFilters(q="broken"),
    }
    plans = {}
    async with stack.sessionmaker() as session:
        user = (
            await session.execute(select(User).where(User.id == tenant.users[Role.MANAGER].id))
        ).scalar_one()
        for name, chosen in filters.items():
            query = queries._apply_filters(queries.visible_tickets(user), chosen)
            query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(PAGE + 1)
            # With bound parameters, as the API runs it: a literal LIKE pattern gets a
            # different (and for q= much faster) plan than the API's.
            compiled = query.compile(dialect=session.get_bind().dialect)
            connection = await session.connection()
            result = await connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}", compiled.params
            )
            rows = list(result.scalars())
            nodes = [r.strip() for r in rows if "->" in r or rows.index(r) == 0]
            timing = next((r for r in rows if r.startswith("Execution Time")), "")
            plans[name] = f"{' / '.join(n.split('  (')[0] for n in nodes[:3])}; {timing}"
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="per case and concurrency")
    args = parser.parse_args()
    asyncio.run(measure(args.tickets, args.requests))


if __name__ == "__main__":
    main()
