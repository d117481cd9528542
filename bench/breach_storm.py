"""Breach storms: N accepted tickets whose first-response deadlines fall on the same instant
(a business calendar that opens at one second: every ticket accepted while it was closed is
due the same time after it opens), beside M open tickets. Reports the time from the due
instant to each breach written with its in-app notices (p50, p99, last), and counts the
notices: every breach must be notified exactly once.

    .venv/bin/python bench/breach_storm.py [--tickets 1000] [--open 10000]
                                           [--engine postgresql|sqlite] [--temporal-file]

Baseline in the same run, on the same server: N minimal workflows whose timers fire at one
instant, each running one local activity, on one SDK worker with default settings
(``common.timers``). Target: the last breach within 2x the baseline's last activity.

``make run``'s embedded defaults (SQLite, the dev server on its file) with 300 tickets:
``--engine sqlite --temporal-file --tickets 300 --open 0``.

The open tickets are seeded cheaply: their rows are bulk-inserted and their workflows
started with the SDK, already accepted (an SLA timer armed hours ahead), without HTTP. The
storm's tickets are created and accepted over HTTP, as users do.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from common.stack import Stack, StackOptions, Tenant, TicketCalls, http_client
from common.stats import machine, percentile, run_load, table
from common.timers import TimerWorkflow
from sqlalchemy import func, insert, select, update
from temporalio.client import WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from desk.auth.models import Organization, User
from desk.db.engine import READ_ONLY
from desk.devrun import temporal_store_args
from desk.enums import Priority, Role, TicketStatus
from desk.notifications.models import Notification
from desk.sla import tracker
from desk.sla.models import BusinessCalendar, SlaPolicy
from desk.sla.service import sla_targets_for
from desk.tickets.contracts import TicketInput, TicketState
from desk.tickets.creation import record_creation
from desk.tickets.models import Ticket
from desk.tickets.projection import ticket_row
from desk.tickets.search_index import ticket_index, ticket_workflow_id, workflow_summary
from workflows.ticket import TicketWorkflow

CONCURRENCY = 20
FIRST_RESPONSE_S = 5.0  # the storm's target after the calendar opens


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def spread(values: list[float]) -> list[object]:
    if not values:
        return ["-", "-", "-"]
    return [percentile(values, 50), percentile(values, 99), max(values)]


# --- seeding ------------------------------------------------------------------------------


async def seed_open(stack: Stack, tenant: Tenant, count: int, workflows: bool = True) -> float:
    """``count`` accepted HIGH tickets, rows bulk-inserted and (unless ``workflows`` is
    false: rows only, as bench/portal.py seeds) workflows started with their state (an SLA
    timer armed hours ahead). Returns the seconds it took, up to the worker having run
    every first workflow task."""
    if count == 0:
        return 0.0
    started = time.monotonic()
    org = tenant.org
    customer = tenant.users[Role.CUSTOMER]
    manager = tenant.users[Role.MANAGER]
    now = datetime.now(UTC)
    async with stack.sessionmaker() as session:
        targets = await sla_targets_for(session, org.id, Priority.HIGH, None)
        first = (
            await session.execute(
                update(Organization)
                .where(Organization.id == org.id)
                .values(next_ticket_number=Organization.next_ticket_number + count)
                .returning(Organization.next_ticket_number)
            )
        ).scalar_one() - count
        states = []
        for i in range(count):
            state = TicketState(
                ticket_id=str(uuid.uuid4()),
                organization_id=str(org.id),
                number=first + i,
                subject=f"Open ticket {first + i}",
                description="Waiting beside the storm.",
                priority=Priority.HIGH,
                status=TicketStatus.NEW,
                requester_id=str(customer.id),
                created_by_id=str(customer.id),
                created_at=now,
            )
            record_creation(state, targets)
            state.status = TicketStatus.ACCEPTED
            state.accepted_by, state.accepted_at = str(manager.id), now
            state.version = 2
            state.updated_at = state.status_changed_at = now
            tracker.on_accepted(state.sla, now, targets)
            states.append(state)
        rows = [ticket_row(s) for s in states]
        for chunk in range(0, len(rows), 1000):
            await session.execute(insert(Ticket), rows[chunk : chunk + 1000])
        await session.commit()
    if not workflows:
        return time.monotonic() - started

    client = stack.client

    async def start(i: int) -> None:
        state = states[i]
        await client.start_workflow(
            TicketWorkflow.run,
            TicketInput(state=state),
            id=ticket_workflow_id(state.ticket_id),
            task_queue=stack.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=workflow_summary(state.number, state.subject, state.priority),
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(k, v) for k, v in ticket_index(state) if v is not None]
            ),
        )

    run = await run_load("start open workflows", start, count=count, concurrency=50)
    print(f"  open tickets: {count} workflows started at {run.rate:.0f}/s", flush=True)
    # The worker runs their first tasks in about the order they were started: wait for
    # the last few to have completed one (a timer armed), so the storm meets a quiet worker.
    tail = [client.get_workflow_handle(ticket_workflow_id(s.ticket_id)) for s in states[-10:]]
    await wait_first_tasks(tail)
    return time.monotonic() - started


async def wait_first_tasks(handles: list[WorkflowHandle], limit_s: float = 1800) -> None:
    deadline = time.monotonic() + limit_s
    for handle in handles:
        while (await handle.describe()).raw_description.workflow_execution_info.history_length < 4:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{handle.id}: first workflow task not done in {limit_s}s")
            await asyncio.sleep(1)


async def storm_policy(stack: Stack, tenant: Tenant, opens_at: datetime) -> None:
    """URGENT tickets: a calendar closed until ``opens_at`` (UTC, to the second), open to
    the end of that day; first response due ``FIRST_RESPONSE_S`` business seconds after,
    resolution and acceptance far off, no warning before the breach."""
    opens = opens_at.astimezone(UTC)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[opens.weekday()]
    if opens.hour * 3600 + opens.minute * 60 + opens.second + FIRST_RESPONSE_S >= 86_399:
        raise SystemExit("the storm would straddle midnight UTC: run it again in a minute")
    async with stack.sessionmaker() as session:
        calendar = BusinessCalendar(
            organization_id=tenant.org.id,
            name="Storm",
            timezone="UTC",
            weekly_hours={day: [[opens.strftime("%H:%M:%S"), "24:00"]]},
            holidays=[],
        )
        session.add(calendar)
        await session.flush()
        await session.execute(
            update(SlaPolicy)
            .where(
                SlaPolicy.organization_id == tenant.org.id,
                SlaPolicy.priority == Priority.URGENT,
            )
            .values(
                calendar_id=calendar.id,
                accept_minutes=None,
                first_response_minutes=FIRST_RESPONSE_S / 60,
                resolution_minutes=600,
                warn_at_percent=100,
            )
        )
        await session.commit()


# --- the storm ----------------------------------------------------------------------------


async def scrape(stack: Stack) -> dict[str, float]:
    """The worker's SDK metrics: histograms' sums and counts, and counters."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{stack.worker_metrics_url}/metrics")).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(
            r"^(temporal_[a-z_]+?)(_sum|_count|_total)?(\{[^}]*\})? ([0-9.e+-]+)$", line
        )
        if match and match[2]:
            key = f"{match[1]}{match[2]}"
            found[key] = found.get(key, 0.0) + float(match[4])
    return found


def sdk_profile(before: dict[str, float], after: dict[str, float]) -> list[list[object]]:
    """Per SDK histogram: tasks and mean milliseconds; per counter: its increase."""
    rows: list[list[object]] = []
    for name in sorted({k.removesuffix("_count") for k in after if k.endswith("_count")}):
        count = after.get(f"{name}_count", 0) - before.get(f"{name}_count", 0)
        total = after.get(f"{name}_sum", 0) - before.get(f"{name}_sum", 0)
        if count > 0 and "latency" in name:
            # The SDK exports milliseconds for these histograms.
            rows.append([name.removeprefix("temporal_"), int(count), total / count])
    for name in sorted(k for k in after if k.endswith("_total")):
        if (increase := after[name] - before.get(name, 0)) > 0:
            rows.append([name.removeprefix("temporal_"), int(increase), ""])
    return rows


def start_profile(stack: Stack, path: str | None) -> subprocess.Popen[bytes] | None:
    """py-spy (when installed) sampling the worker, ``--profile``: collapsed stacks."""
    if not path:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [spy, "record", "-p", str(stack.pid("worker")), "-f", "raw", "-r", "200"]
    return subprocess.Popen([*argv, "-o", path, "--nonblocking"], stdout=subprocess.DEVNULL)


def stop_profile(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


async def desk_storm(
    stack: Stack,
    tenant: Tenant,
    count: int,
    lead_s: float,
    settle_s: float,
    profile: str | None = None,
) -> dict:
    """``count`` URGENT tickets created, then accepted while their calendar is closed;
    all breach together ``FIRST_RESPONSE_S`` after it opens."""
    async with http_client(stack.api_url, CONCURRENCY) as api:
        body = {"subject": "Filed over the weekend", "priority": "URGENT"}
        calls = TicketCalls(api, tenant, body)
        ids = calls.ids
        created = await run_load("create", calls.create, count=count, concurrency=CONCURRENCY)
        # Accepting takes about twice as long as creating: the calendar opens after that.
        lead = lead_s or max(10.0, 2.5 * created.wall_s + 5)
        opens_at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
        await storm_policy(stack, tenant, opens_at)
        due = opens_at + timedelta(seconds=FIRST_RESPONSE_S)
        accepted = await run_load("accept", calls.accept, count=len(ids), concurrency=CONCURRENCY)
    left = (opens_at - datetime.now(UTC)).total_seconds()
    print(
        f"  storm: {len(ids)} created ({created.rate:.0f}/s), accepted ({accepted.rate:.0f}/s); "
        f"calendar opens in {left:.1f}s, due {due:%H:%M:%S} UTC",
        flush=True,
    )
    if left < 1:
        raise SystemExit(f"the accepts outlasted the lead ({lead:.0f}s): raise --lead")
    storm_ids = [uuid.UUID(i) for i in ids]
    await asyncio.sleep(max(0.0, left - 0.5))
    before = await scrape(stack)
    cpu_before = stack.cpu()
    spy = start_profile(stack, profile)
    rows = await wait_notified(stack, storm_ids, due, settle_s)
    cpu_after = stack.cpu()
    stop_profile(spy)
    after = await scrape(stack)

    async with stack.sessionmaker() as session:
        await session.connection(execution_options=READ_ONLY)
        dues = (
            await session.execute(
                select(Ticket.sla_first_response_due_at, Ticket.first_response_breached_at).where(
                    Ticket.id.in_(storm_ids)
                )
            )
        ).all()
        counts = (
            await session.execute(
                select(
                    func.count(),
                    func.count(func.distinct(Notification.ticket_id)),
                )
                .select_from(Notification)
                .where(Notification.ticket_id.in_(storm_ids), Notification.kind == "SLA_BREACHED")
            )
        ).one()
        managers = (
            await session.execute(
                select(func.count())
                .select_from(User)
                .where(User.organization_id == tenant.org.id, User.role == Role.MANAGER)
            )
        ).scalar_one()
    aligned = sum(1 for d, _ in dues if d is not None and d.astimezone(UTC) == due)
    breached = sum(1 for _, b in dues if b is not None)
    return {
        "created": len(ids),
        "due": due,
        "rows": rows,
        "aligned": aligned,
        "breached": breached,
        "notices": counts[0],
        "notified_tickets": counts[1],
        "managers": managers,
        "profile": sdk_profile(before, after),
        "cpu": {k: cpu_after[k] - cpu_before.get(k, 0) for k in cpu_after},
    }


async def wait_notified(
    stack: Stack, ids: list[uuid.UUID], due: datetime, settle_s: float
) -> list[tuple]:
    """Per ticket: when its breach's workflow task began (``updated_at``: ``workflow.now()``
    of the breach) and when its in-app notices were written; polled until every ticket has
    them or ``settle_s`` after the due instant."""

    async def read() -> list[tuple]:
        async with stack.sessionmaker() as session:
            # DEFERRED on SQLite: the bench's polling never takes the writers' lock.
            await session.connection(execution_options=READ_ONLY)
            return (
                await session.execute(
                    select(Ticket.id, Ticket.updated_at, func.min(Notification.created_at))
                    .join(Notification, Notification.ticket_id == Ticket.id)
                    .where(Ticket.id.in_(ids), Notification.kind == "SLA_BREACHED")
                    .group_by(Ticket.id, Ticket.updated_at)
                )
            ).all()

    deadline = due + timedelta(seconds=settle_s)
    await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
    rows = await read()
    while len(rows) < len(ids) and datetime.now(UTC) < deadline:
        await asyncio.sleep(0.5)
        rows = await read()
    return rows


async def baseline_storm(
    stack: Stack, count: int, lead_s: float
) -> tuple[list[float], dict[str, float]]:
    """``count`` TimerWorkflows firing at one instant: each one's lateness (seconds), and
    the CPU seconds of each process from the instant to the last result."""
    fire_at = datetime.now(UTC) + timedelta(seconds=lead_s)
    handles: list[WorkflowHandle] = []
    queue = f"{stack.minimal_task_queue}-timers"

    async def start(_: int) -> None:
        handles.append(
            await stack.client.start_workflow(
                TimerWorkflow.run,
                fire_at.isoformat(),
                id=f"storm-baseline-{uuid.uuid4()}",
                task_queue=queue,
            )
        )

    started = await run_load("baseline start", start, count=count, concurrency=50)
    left = (fire_at - datetime.now(UTC)).total_seconds()
    print(f"  baseline: {count} started ({started.rate:.0f}/s), fire in {left:.1f}s", flush=True)
    if left < 1:
        raise SystemExit(f"the starts outlasted the lead ({lead_s:.0f}s): raise --lead")
    stamps: list[float] = []

    async def result(i: int) -> None:
        stamps.append(await handles[i].result())

    await asyncio.sleep(max(0.0, left - 0.5))
    cpu_before = stack.cpu()
    await run_load("baseline results", result, count=len(handles), concurrency=50)
    cpu_after = stack.cpu()
    cpu = {k: cpu_after[k] - cpu_before.get(k, 0) for k in cpu_after}
    return [s - fire_at.timestamp() for s in stamps], cpu


# --- the run ------------------------------------------------------------------------------


async def measure(args: argparse.Namespace) -> bool:
    options = StackOptions(
        engine=args.engine,
        temporal_db_on_disk=args.temporal_file,
        # As `desk dev` starts it, unless --server-default-pragmas.
        dev_server_args=[]
        if args.server_default_pragmas or not args.temporal_file
        else temporal_store_args(),
    )
    async with Stack(options) as stack:
        stack._spawn(
            "timer-worker",
            [
                sys.executable,
                "-m",
                "common.timers",
                "--address",
                stack.temporal_address,
                "--task-queue",
                f"{stack.minimal_task_queue}-timers",
            ],
            {},
        )
        await stack._wait_log("timer-worker", "timer worker polling")
        tenant = await stack.seed_tenant()
        seeded_s = await seed_open(stack, tenant, args.open, not args.open_rows_only)
        load_before = load()
        baseline, baseline_cpu = await baseline_storm(
            stack, args.tickets, args.baseline_lead or max(20.0, args.tickets / 10)
        )
        load_baseline = load()
        if args.baseline_only:
            print(
                table(
                    ["baseline", "n", "p50 s", "p99 s", "last s"],
                    [["", len(baseline), *spread(baseline)]],
                )
            )
            print(f"load average {load_before} before, {load_baseline} after")
            return True
        storm = await desk_storm(stack, tenant, args.tickets, args.lead, args.settle, args.profile)
        load_storm = load()

    due: datetime = storm["due"]
    written = [(n - due).total_seconds() for _, _, n in storm["rows"]]
    task_began = [(u - due).total_seconds() for _, u, _ in storm["rows"]]
    expected = storm["breached"] * storm["managers"]
    # Against the tickets created: a create refused under overload (503) is no ticket.
    created = storm["created"]
    exactly_once = (
        storm["aligned"] == created
        and storm["breached"] == created
        and storm["notified_tickets"] == created
        and storm["notices"] == expected
    )
    ratio = max(written) / max(baseline) if written and baseline else float("nan")
    where = (
        f"{args.engine}, dev server "
        + (
            "on its SQLite file"
            + (" (server's default pragmas)" if args.server_default_pragmas else "")
            if args.temporal_file
            else "in memory"
        )
        + f", {args.tickets} tickets beside {args.open} open"
        + (" (rows only)" if args.open_rows_only else "")
    )
    print(f"\n## breach_storm — {where} — {machine()}\n")
    print(
        f"open tickets seeded in {seeded_s:.0f}s; load average {load_before} before the "
        f"baseline, {load_baseline} after it, {load_storm} after the storm\n"
    )
    print(
        table(
            ["seconds after the due instant", "n", "p50 s", "p99 s", "last s"],
            [
                ["baseline: timer fired, local activity ran", len(baseline), *spread(baseline)],
                ["storm: breach's workflow task began", len(task_began), *spread(task_began)],
                ["storm: breach + in-app notices written", len(written), *spread(written)],
            ],
        )
    )
    print(
        f"\nlast breach / baseline's last activity: {ratio:.2f}x (target <= 2x); "
        f"last breach {max(written) if written else float('nan'):.2f}s (make run target <= 3s)"
    )
    print(
        f"tickets created: {created}/{args.tickets}; deadlines aligned: {storm['aligned']}; "
        f"breaches written: "
        f"{storm['breached']}; notified tickets: {storm['notified_tickets']}; SLA_BREACHED "
        f"notices: {storm['notices']} (expected {expected}: {storm['managers']} manager(s) "
        f"x {storm['breached']} breaches) -> "
        + ("EXACTLY ONCE: OK" if exactly_once else "MISMATCH: FAILED")
    )
    print("\nthe worker's SDK metrics over the storm (histograms: mean ms; counters):\n")
    print(table(["SDK metric", "n", "mean ms"], storm["profile"]))
    print()
    n = args.tickets
    for what, cpu in (("baseline, per timer", baseline_cpu), ("storm, per breach", storm["cpu"])):
        print(
            f"CPU ms {what} (from the instant to the last one): "
            + ", ".join(f"{k} {v / n * 1000:.1f}" for k, v in cpu.items() if v >= 0.05)
        )
    return exactly_once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1000, help="breaching together")
    parser.add_argument("--open", type=int, default=10_000, help="open tickets beside them")
    parser.add_argument(
        "--open-rows-only",
        action="store_true",
        help="the open tickets as rows only, without workflows (quicker to seed)",
    )
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--temporal-file", action="store_true", help="the dev server on a SQLite file"
    )
    parser.add_argument(
        "--server-default-pragmas",
        action="store_true",
        help="with --temporal-file: the dev server's own SQLite settings, not `desk dev`'s",
    )
    parser.add_argument(
        "--baseline-lead",
        type=float,
        default=0,
        help="seconds from the baseline's first start to its timers (default: N/10, >= 20)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=300.0,
        help="seconds after the due instant to wait for the last notice",
    )
    parser.add_argument(
        "--profile", help="write py-spy's collapsed stacks of the worker during the storm here"
    )
    parser.add_argument("--baseline-only", action="store_true", help="skip the desk's storm")
    parser.add_argument(
        "--lead",
        type=float,
        default=0,
        help="seconds from the last create to the calendar's opening (default: from the "
        "create rate)",
    )
    args = parser.parse_args()
    if not asyncio.run(measure(args)):
        sys.exit(1)


if __name__ == "__main__":
    main()
