"""The portal's costs, on SQLite and on PostgreSQL, each run against ``python -m api``:

- server time of the agent's queue page (``GET /queue``: open tickets assigned to them,
  next SLA deadline first, a page of 50) with 10,000 open tickets, all assigned to that
  agent (``--agents 1``, the worst case) or shared by several; beside it, in the same run,
  the staff list page (``GET /tickets``, 50 rows), the JSON list route
  (``GET /api/v1/tickets?limit=50``) and the HTTP floor (``GET /healthz``);
- the latency of a live update, from the commit of a ticket change (a projection write,
  as the worker makes it) to Chromium's ``EventSource`` on ``/events`` receiving it.

Rows are bulk-inserted; no workflow runs (neither page asks Temporal).

    .venv/bin/python bench/portal.py [--tickets 10000] [--agents 1] [--requests 200]
                                     [--changes 40] [--engines sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from common.stack import DEFAULT_POSTGRES_URL, free_port, http_client
from common.stats import machine, percentile, ratio, run_load, table
from playwright.async_api import async_playwright
from sqlalchemy import insert
from sqlalchemy.engine import make_url

import desk.db.models  # noqa: F401 - every mapper
from desk.admin.organizations import create_organization
from desk.auth.models import User
from desk.auth.security import create_access_token
from desk.auth.sessions import SESSION_COOKIE, open_session
from desk.db.engine import create_engine, create_sessionmaker
from desk.db.migrate import upgrade_async
from desk.db.types import utcnow
from desk.enums import Priority, Role, TicketStatus
from desk.settings import Settings
from desk.tickets.contracts import ProjectionBatch, TicketState
from desk.tickets.models import Ticket
from desk.tickets.projection import write_projection

CHROMIUM = "/usr/bin/chromium"  # Debian's (`make test` installs it where missing)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]
OPEN = [TicketStatus.ACCEPTED, TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CUSTOMER]


class Api:
    """``python -m api`` on a database, on a free loopback port."""

    def __init__(self, database_url: str, secret: str, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DESK_")}
        env.update(
            DESK_ENV="dev",  # plain HTTP on loopback: session cookies without Secure
            DESK_JWT_SECRET=secret,
            DESK_DATABASE_URL=database_url,
            DESK_API_HOST="127.0.0.1",
            DESK_API_PORT=str(self.port),
            DESK_TEMPORAL_ADDRESS="127.0.0.1:9",  # never asked by these pages
            DESK_LOG_LEVEL="WARNING",
            DESK_UPLOAD_DIR=str(workdir / "uploads"),
        )
        self.log = (workdir / f"api-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    async def ready(self) -> None:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=self.url) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the API exited: see {self.log.name}")
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError("the API did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


async def seed(sessionmaker, settings: Settings, count: int, agents: int = 1):
    """An organization, its agents and manager, and ``count`` open tickets assigned to the
    agents in turn (the measured agent is the first), with SLA deadlines spread over the
    next days (some breached)."""
    async with sessionmaker() as session:
        org = await create_organization(session, "Portal bench")
        users = {
            role: User(
                organization_id=org.id,
                email=f"{role.lower()}-{uuid.uuid4().hex[:8]}@bench.example.com",
                full_name=f"Bench {role.title()}",
                role=role,
                password_hash="!",  # noqa: S106 - signed in by a session row below
            )
            for role in (Role.CUSTOMER, Role.AGENT, Role.MANAGER)
        }
        others = [
            User(
                organization_id=org.id,
                email=f"agent{i}-{uuid.uuid4().hex[:8]}@bench.example.com",
                full_name=f"Bench Agent {i}",
                role=Role.AGENT,
                password_hash="!",  # noqa: S106 - never signs in
            )
            for i in range(1, agents)
        ]
        session.add_all([*users.values(), *others])
        await session.flush()
        assignees = [users[Role.AGENT].id, *(other.id for other in others)]
        rng = random.Random(42)
        now = utcnow()
        rows = []
        for number in range(1, count + 1):
            started = now - timedelta(minutes=rng.randint(1, 3000))
            due = now + timedelta(minutes=rng.randint(-600, 6000))
            status = rng.choice(OPEN)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "organization_id": org.id,
                    "number": number,
                    "subject": f"Ticket {number}: something is broken",
                    "description": "Details of the problem.",
                    "priority": rng.choice(list(Priority)).value,
                    "status": status.value,
                    "requester_id": users[Role.CUSTOMER].id,
                    "created_by_id": users[Role.CUSTOMER].id,
                    "assigned_to": assignees[number % len(assignees)],
                    "accepted_at": started,
                    "sla_started_at": started,
                    "sla_first_response_due_at": due - timedelta(hours=4),
                    "sla_due_at": due,
                    "sla_paused_at": now if status == TicketStatus.WAITING_CUSTOMER else None,
                    "sla_breached_at": due if due < now else None,
                    "sla_paused_duration": 0,
                    "version": 3,
                    "created_at": started,
                    "updated_at": started,
                }
            )
        for chunk in range(0, len(rows), 1000):
            await session.execute(insert(Ticket), rows[chunk : chunk + 1000])
        tokens = {}
        for role in (Role.AGENT, Role.MANAGER):
            tokens[role] = open_session(session, users[role], now=now, lifetime=timedelta(hours=12))
        await session.commit()
    bearer = create_access_token(
        settings,
        user_id=users[Role.AGENT].id,
        organization_id=org.id,
        role=Role.AGENT.value,
        now=utcnow(),
    )
    return org, users, tokens, {"Authorization": f"Bearer {bearer}"}


async def page_times(api: Api, tokens, bearer, requests: int) -> dict:
    cookie = {SESSION_COOKIE: tokens[Role.AGENT]}
    async with http_client(api.url, 1) as http:

        def get(path: str, **kwargs):
            async def call(_: int) -> None:
                response = await http.get(path, **kwargs)
                response.raise_for_status()

            return call

        http.cookies.update(cookie)
        cases = {
            "HTTP floor (GET /healthz)": get("/healthz"),
            "JSON list (GET /api/v1/tickets?limit=50)": get(
                "/api/v1/tickets?limit=50", headers=bearer
            ),
            "open tickets page (GET /tickets, 50 rows)": get("/tickets"),
            "agent queue page (GET /queue, 50 rows)": get("/queue"),
        }
        for name, call in cases.items():  # warm caches, pools, template compilation
            await run_load(name, call, count=10, concurrency=1)
        return {
            name: await run_load(name, call, count=requests, concurrency=1)
            for name, call in cases.items()
        }


async def sse_latency(api: Api, sessionmaker, org, users, tokens, changes: int) -> list[float]:
    """Seconds from each committed ticket change to Chromium receiving its event."""
    state = TicketState(
        ticket_id=str(uuid.uuid4()),
        organization_id=str(org.id),
        number=10_000_000,
        subject="Watched",
        description="",
        priority=Priority.HIGH,
        status=TicketStatus.IN_PROGRESS,
        requester_id=str(users[Role.CUSTOMER].id),
        created_by_id=str(users[Role.CUSTOMER].id),
        created_at=utcnow(),
        version=1,
    )
    async with sessionmaker() as session:
        await write_projection(session, ProjectionBatch(state=state))
        await session.commit()
    committed: dict[int, float] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(base_url=api.url)
        await context.add_cookies(
            [{"name": SESSION_COOKIE, "value": tokens[Role.MANAGER], "url": api.url}]
        )
        page = await context.new_page()
        await page.goto("/notifications")
        await page.evaluate(
            """() => new Promise(resolve => {
                window.arrivals = [];
                const source = new EventSource('/events');
                source.addEventListener('ticket', e => {
                    window.arrivals.push([JSON.parse(e.data).version, Date.now()]);
                });
                source.addEventListener('open', () => resolve());
            })"""
        )
        await asyncio.sleep(1)
        rng = random.Random(7)
        for version in range(2, changes + 2):
            state = replace(state, version=version, updated_at=utcnow())
            async with sessionmaker() as session:
                await write_projection(session, ProjectionBatch(state=state))
                await session.commit()
            committed[version] = time.time()
            await asyncio.sleep(0.2 + rng.random() * 0.4)
        await asyncio.sleep(2)
        arrivals = await page.evaluate("() => window.arrivals")
        await browser.close()
    seen = {version: at / 1000 for version, at in arrivals}
    missing = set(committed) - set(seen)
    if missing:
        print(f"  ! {len(missing)} of {changes} changes never reached the browser")
    return [seen[v] - committed[v] for v in committed if v in seen]


async def one_engine(
    engine: str, count: int, agents: int, requests: int, changes: int, workdir: Path
):
    admin_url = os.environ.get("DESK_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    db_name = f"desk_bench_portal_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    if engine == "sqlite":
        database_url = f"sqlite+aiosqlite:///{workdir / 'desk.db'}"
    else:
        libpq = make_url(admin_url).set(drivername="postgresql").render_as_string(False)
        with psycopg.connect(libpq, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{db_name}"')
        database_url = make_url(admin_url).set(database=db_name).render_as_string(False)
    secret = secrets.token_urlsafe(48)
    settings = Settings(env="dev", jwt_secret=secret, database_url=database_url, _env_file=None)
    await upgrade_async(database_url)
    db = create_engine(database_url)
    sessionmaker = create_sessionmaker(db)
    api = None
    try:
        org, users, tokens, bearer = await seed(sessionmaker, settings, count, agents)
        api = Api(database_url, secret, workdir)
        await api.ready()
        pages = await page_times(api, tokens, bearer, requests)
        latencies = await sse_latency(api, sessionmaker, org, users, tokens, changes)
    finally:
        if api is not None:
            api.stop()
        await db.dispose()
        if engine == "postgres":
            with psycopg.connect(libpq, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    return pages, latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=1)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    print(f"\n## portal — {machine()}\n")
    print(
        f"{args.tickets:,} open tickets shared by {args.agents} agent(s), the measured one "
        f"holding {-(-args.tickets // args.agents):,}; {args.requests} sequential "
        f"requests per page; {args.changes} ticket changes watched over SSE.\n"
    )
    page_rows, sse_rows = [], []
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory(prefix="desk-bench-portal-") as tmp:
            pages, latencies = await one_engine(
                engine, args.tickets, args.agents, args.requests, args.changes, Path(tmp)
            )
        floor = pages["HTTP floor (GET /healthz)"]
        for name, run in pages.items():
            page_rows.append(
                [engine, name, run.n, run.p50_ms, run.p99_ms, ratio(run.p50_ms, floor.p50_ms)]
            )
        ms = [s * 1000 for s in latencies]
        sse_rows.append(
            [engine, len(ms), percentile(ms, 50), percentile(ms, 90), percentile(ms, 99), max(ms)]
        )
    print(table(["engine", "what", "n", "p50 ms", "p99 ms", "p50 / HTTP floor"], page_rows))
    print("\nLive update: committed ticket change -> Chromium's EventSource\n")
    print(table(["engine", "changes", "p50 ms", "p90 ms", "p99 ms", "max ms"], sse_rows))
    print(f"\n(started {datetime.now(UTC):%H:%M} UTC)")


if __name__ == "__main__":
    asyncio.run(main())
