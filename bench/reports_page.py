"""What the portal's Reports page costs on 100,000 tickets with their SLA facts (the data set
of ``bench/reports.py``): the page for a quarter (by priority, the form's default grouping,
and by week), signed in by the session cookie, against the API's report of the same quarter
by week (the page asks the same use case for its grouping, the weekly trend, the breaches
by priority and the breaches' first page) and the plain list page, in the same run, the
cases taking turns in rounds.

    .venv/bin/python bench/reports_page.py [--tickets 100000] [--requests 30] [--engine sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

from common.stack import Stack, StackOptions, http_client
from common.stats import latency_table, machine, run_load
from reports import LIST_PAGE, PAGE, _quarter, interleaved, load

from desk.auth.sessions import SESSION_COOKIE, open_session
from desk.enums import Role

API_REPORT = "API report, quarter by week (GET /api/v1/reports/sla)"


async def manager_cookie(stack: Stack, user) -> dict[str, str]:
    """A portal session for ``user``, as signing in makes one (the header a browser sends)."""
    assert stack.sessionmaker is not None
    async with stack.sessionmaker() as session:
        token = open_session(session, user, now=datetime.now(UTC), lifetime=timedelta(hours=12))
        await session.commit()
    return {"Cookie": f"{SESSION_COOKIE}={token}"}


async def measure(count: int, requests: int, engine: str) -> None:
    async with Stack(StackOptions(worker=False, engine=engine)) as stack:
        tenant = await stack.seed_tenant()
        started = time.perf_counter()
        fact_count, _agents = await load(stack, tenant, count)
        load_s = time.perf_counter() - started
        bearer = tenant.headers[Role.MANAGER]
        cookie = await manager_cookie(stack, tenant.users[Role.MANAGER])
        quarter = _quarter(datetime.now(UTC))

        async with http_client(stack.api_url, 10) as api:

            def get(url: str, headers: dict, params: dict | None = None):
                async def call(_: int) -> None:
                    response = await api.get(url, params=params, headers=headers)
                    response.raise_for_status()

                return call

            cases = {
                LIST_PAGE: get("/api/v1/tickets", bearer, {"limit": PAGE}),
                API_REPORT: get("/api/v1/reports/sla", bearer, {**quarter, "group_by": "week"}),
                "Reports page, quarter by priority (GET /reports)": get(
                    "/reports", cookie, {**quarter, "group_by": "priority"}
                ),
                "Reports page, quarter by week (GET /reports)": get(
                    "/reports", cookie, {**quarter, "group_by": "week"}
                ),
            }
            for name, call in cases.items():  # warm caches, pools, template compilation
                await run_load(name, call, count=3, concurrency=1)
            results = {1: await interleaved(cases, requests, 1)}

    print(f"\n## reports page ({engine}) — {machine()}\n")
    print(
        f"{count:,} tickets with {fact_count:,} SLA facts, loaded in {load_s:.1f} s; "
        f"quarter {quarter['from']}..{quarter['to']}\n"
    )
    print(latency_table(results, lambda runs: runs[LIST_PAGE], "p50 / list page"))
    print()
    print(latency_table(results, lambda runs: runs[API_REPORT], "p50 / API report"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30, help="per case")
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    asyncio.run(measure(args.tickets, args.requests, args.engine))


if __name__ == "__main__":
    main()
