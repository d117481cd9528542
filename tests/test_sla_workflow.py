"""The SLA clock inside TicketWorkflow, under the time-skipping test server: durable timers
fire at the right business instants, pauses move them, breaches are announced once."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from desk.auth.models import Organization, User
from desk.enums import Priority, Role, TicketStatus
from desk.notifications.models import Notification
from desk.sla.clock import add_business_seconds
from desk.sla.contracts import CalendarSpec, SlaTargets
from desk.sla.models import SlaFact
from desk.tickets.contracts import (
    AcceptRequest,
    AssignRequest,
    CommentRequest,
    PriorityRequest,
    StatusRequest,
    TicketState,
)
from desk.tickets.models import AuditLog, Ticket
from tests.support.polling import eventually
from tests.support.temporal import start_time_skipping_server
from tests.support.workflows import actor, new_ticket_state, start_ticket
from worker import build_worker
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.temporal  # every test runs workflows on its own time-skipping server

HOUR = 3600


def targets(first_response_h: float, resolution_h: float, calendar=None) -> SlaTargets:
    return SlaTargets.from_minutes(
        None,
        first_response_minutes=first_response_h * 60,
        resolution_minutes=resolution_h * 60,
        warn_at_percent=80,
        calendar=calendar,
    )


@dataclass
class Desk:
    """One organization on the time-skipping server with a worker of its own."""

    env: object
    sessionmaker: object
    org: Organization
    customer: User
    agent: User
    managers: list[User]
    queue: str
    handles: list = field(default_factory=list)

    async def ticket(self, **state_fields) -> tuple[object, TicketState]:
        state = new_ticket_state(self.org, self.customer, **state_fields)
        handle = await start_ticket(
            self.env.client, self.queue, state, index_search_attributes=False, sla_targets=None
        )
        self.handles.append(handle)
        return handle, state

    async def accept(self, handle, sla_targets: SlaTargets) -> None:
        manager = actor(self.managers[0])
        await handle.execute_update(TicketWorkflow.accept, AcceptRequest(manager, sla_targets))
        await handle.execute_update(
            TicketWorkflow.assign, AssignRequest(manager, str(self.agent.id))
        )

    async def status(self, handle, status: TicketStatus) -> None:
        await handle.execute_update(
            TicketWorkflow.set_status, StatusRequest(actor(self.agent), status)
        )

    async def comment(self, handle, who: User, *, internal: bool = False) -> None:
        await handle.execute_update(
            TicketWorkflow.add_comment,
            CommentRequest(actor(who), str(uuid.uuid4()), "hello", is_internal=internal),
        )

    async def sla(self, handle):
        return (await handle.query(TicketWorkflow.state)).sla

    async def skip(self, seconds: float) -> None:
        await self.env.sleep(timedelta(seconds=seconds))

    async def row(self, state: TicketState) -> Ticket:
        async with self.sessionmaker() as session:
            return await session.get(Ticket, uuid.UUID(state.ticket_id), populate_existing=True)

    async def facts(self, state: TicketState) -> dict[str, SlaFact]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(SlaFact).where(SlaFact.ticket_id == uuid.UUID(state.ticket_id))
            )
            return {fact.metric: fact for fact in rows.scalars()}

    async def notifications(self, state: TicketState, kind: str) -> list[Notification]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                select(Notification).where(
                    Notification.ticket_id == uuid.UUID(state.ticket_id),
                    Notification.kind == kind,
                )
            )
            return list(rows.scalars())

    async def audit_count(self, state: TicketState, action: str) -> int:
        async with self.sessionmaker() as session:
            return await session.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.ticket_id == uuid.UUID(state.ticket_id), AuditLog.action == action)
            )

    @asynccontextmanager
    async def worker(self, settings) -> AsyncIterator[None]:
        async with build_worker(
            self.env.client,
            settings.model_copy(update={"temporal_task_queue": self.queue}),
            self.sessionmaker,
            # No cache: every workflow task replays the history (determinism checked on each
            # step), and no sticky queue outlives a stopped worker.
            max_cached_workflows=0,
        ):
            yield


@pytest.fixture
async def own_time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test: its one clock is never held still by another test's
    leftovers (a shared one intermittently refused to skip: `Timeout expired`)."""
    env = await start_time_skipping_server()
    yield env
    await env.shutdown()


@pytest.fixture
async def idle_desk(own_time_skipping_server, sessionmaker, world) -> AsyncIterator[Desk]:
    """An organization on the time-skipping server; no worker yet."""
    org = await world.org()
    desk = Desk(
        env=own_time_skipping_server,
        sessionmaker=sessionmaker,
        org=org,
        customer=await world.user(org, Role.CUSTOMER),
        agent=await world.user(org, Role.AGENT),
        managers=[await world.user(org, Role.MANAGER), await world.user(org, Role.MANAGER)],
        queue=f"sla-{uuid.uuid4().hex[:8]}",
    )
    await world.user(org, Role.MANAGER, is_active=False)  # never notified
    yield desk
    # The time-skipping server shares one clock: a ticket left running would hold it still
    # once its next timer fires with no worker polling its queue.
    for handle in desk.handles:
        with contextlib.suppress(RPCError):
            await handle.terminate("test over")


@pytest.fixture
async def desk(idle_desk: Desk, settings) -> AsyncIterator[Desk]:
    async with idle_desk.worker(settings):
        yield idle_desk


async def test_resolution_breaches_at_the_right_business_instant(desk):
    calendar = CalendarSpec(
        timezone="Europe/Berlin",
        weekly_hours={
            d: [["09:00", "12:00"], ["13:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
        },
        holidays=["2026-12-25", "2027-01-01"],
    )
    handle, state = await desk.ticket()
    await desk.accept(handle, targets(4, 8, calendar))
    await desk.comment(handle, desk.agent)  # first response met: only resolution runs on
    sla = await desk.sla(handle)
    expected_due = add_business_seconds(calendar.to_calendar(), sla.started_at, 8 * HOUR)
    assert sla.resolution.due_at == expected_due
    row = await desk.row(state)
    assert row.sla_started_at == row.accepted_at == sla.started_at
    assert row.sla_due_at == expected_due
    assert row.sla_breached_at is None

    now = await desk.env.get_current_time()
    await desk.skip((expected_due - now).total_seconds() + 1)

    async def breached():
        return (await desk.row(state)).sla_breached_at

    assert await eventually(breached) == expected_due
    # Written in the breach's own transaction: no window with the breach but no notice.
    breaches = await desk.notifications(state, "SLA_BREACHED")
    assert sorted(n.user_id for n in breaches) == sorted(m.id for m in desk.managers)
    history = await handle.fetch_history()
    activities = {
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    }
    # In-app: with the projection (a regular activity after each update, local after the
    # timer), not an activity of its own.
    assert activities == {"project_ticket", "notify_email", "notify_webhooks"}


async def test_a_three_hour_wait_on_the_customer_moves_the_due_date_by_three_hours(desk):
    handle, state = await desk.ticket()
    await desk.accept(handle, targets(1, 8))
    due_before = (await desk.sla(handle)).resolution.due_at
    await desk.comment(handle, desk.agent)  # first response, so only resolution runs
    await desk.status(handle, TicketStatus.WAITING_CUSTOMER)
    paused = await desk.row(state)
    assert paused.sla_paused_at is not None

    await desk.skip(3 * HOUR)
    await desk.comment(handle, desk.customer)  # the reply resumes the clock
    sla = await desk.sla(handle)
    assert (await handle.query(TicketWorkflow.state)).status == TicketStatus.IN_PROGRESS
    assert sla.resolution.due_at - due_before == timedelta(seconds=sla.paused_seconds)
    assert 3 * HOUR <= sla.paused_seconds < 3 * HOUR + 60
    row = await desk.row(state)
    assert row.sla_paused_at is None
    assert row.sla_paused_duration == round(sla.paused_seconds)
    assert row.sla_due_at == sla.resolution.due_at


async def test_no_breach_fires_during_a_pause(desk):
    handle, state = await desk.ticket()
    await desk.accept(handle, targets(1, 2))
    await desk.comment(handle, desk.agent)
    await desk.status(handle, TicketStatus.WAITING_CUSTOMER)
    await desk.skip(10 * HOUR)  # far past the due date, but paused all along

    row = await desk.row(state)
    assert row.sla_breached_at is None
    assert await desk.notifications(state, "SLA_BREACHED") == []
    assert await desk.audit_count(state, "sla_breached") == 0

    await desk.status(handle, TicketStatus.IN_PROGRESS)
    sla = await desk.sla(handle)
    now = await desk.env.get_current_time()
    remaining = (sla.resolution.due_at - now).total_seconds()
    assert 2 * HOUR - 120 < remaining <= 2 * HOUR  # resumed where it stopped


async def test_reopen_resumes_the_clock_where_resolve_stopped_it(desk):
    handle, state = await desk.ticket()
    await desk.accept(handle, targets(1, 8))
    await desk.comment(handle, desk.agent)
    await desk.skip(2 * HOUR)
    await desk.status(handle, TicketStatus.RESOLVED)
    await desk.skip(20 * HOUR)  # stopped: nothing fires
    assert (await desk.row(state)).sla_breached_at is None

    await desk.comment(handle, desk.customer)  # a reply reopens
    assert (await handle.query(TicketWorkflow.state)).status == TicketStatus.IN_PROGRESS
    sla = await desk.sla(handle)
    now = await desk.env.get_current_time()
    remaining = (sla.resolution.due_at - now).total_seconds()
    assert 6 * HOUR - 120 < remaining <= 6 * HOUR
    assert sla.started_at == (await desk.row(state)).sla_started_at  # nothing restarted


async def test_a_priority_raise_carries_the_elapsed_time_and_breaches_at_once_when_over(desk):
    handle, state = await desk.ticket(priority=Priority.LOW)
    await desk.accept(handle, targets(8, 24))
    await desk.comment(handle, desk.agent)
    await desk.skip(5 * HOUR)
    started = (await desk.sla(handle)).started_at

    raise_to = PriorityRequest(actor(desk.managers[0]), "HIGH", targets(1, 8))
    await handle.execute_update(TicketWorkflow.set_priority, raise_to)
    assert (await desk.sla(handle)).resolution.due_at == started + timedelta(hours=8)
    assert (await desk.row(state)).sla_breached_at is None

    urgent = PriorityRequest(actor(desk.managers[0]), "URGENT", targets(0.25, 4))
    await handle.execute_update(TicketWorkflow.set_priority, urgent)
    row = await desk.row(state)
    # Over the new target already: the breach happens now (and is due now), not back when
    # the new target was reached.
    assert (
        started + timedelta(hours=5)
        <= row.sla_breached_at
        < started + timedelta(hours=5, minutes=1)
    )
    assert row.sla_due_at == row.sla_breached_at
    assert len(await eventually(lambda: desk.notifications(state, "SLA_BREACHED"))) == 2


async def test_the_projection_records_each_metrics_facts_as_they_happen(desk):
    handle, state = await desk.ticket()
    await desk.accept(handle, targets(1, 8))
    await desk.skip(2 * HOUR)  # first response breaches at 1 h
    breached = (await desk.facts(state))["first_response"]
    assert (breached.outcome, breached.business_seconds) == ("breached", None)
    await desk.comment(handle, desk.agent)  # met late
    await desk.status(handle, TicketStatus.WAITING_CUSTOMER)
    assert (await desk.facts(state))["resolution"].outcome == "paused"
    await desk.skip(3 * HOUR)
    await desk.status(handle, TicketStatus.IN_PROGRESS)
    await desk.skip(1 * HOUR)
    await desk.status(handle, TicketStatus.RESOLVED)

    facts = await desk.facts(state)
    sla = await desk.sla(handle)
    assert facts["accept"].outcome == "untracked"  # filed without an acceptance target
    first, resolution = facts["first_response"], facts["resolution"]
    assert (first.outcome, first.target_seconds, first.met_at) == (
        "breached",
        HOUR,
        sla.first_response.met_at,
    )
    assert first.business_seconds == sla.first_response.elapsed_seconds
    assert 2 * HOUR <= first.business_seconds < 2 * HOUR + 60
    assert (resolution.outcome, resolution.met_at) == ("met", sla.resolution.met_at)
    # Paused time excluded from the business seconds, and counted on its own.
    assert resolution.business_seconds == sla.resolution.elapsed_seconds
    assert 3 * HOUR <= resolution.business_seconds < 3 * HOUR + 60
    assert 3 * HOUR <= resolution.paused_seconds < 3 * HOUR + 60
    assert first.paused_seconds == 0
    assert resolution.started_at == first.started_at == (await desk.row(state)).sla_started_at


async def test_first_response_is_the_first_public_staff_comment(desk):
    handle, state = await desk.ticket()
    await desk.accept(handle, targets(1, 8))
    await desk.comment(handle, desk.agent, internal=True)
    await desk.comment(handle, desk.customer)
    assert (await desk.row(state)).first_responded_at is None

    await desk.comment(handle, desk.agent)
    first = (await desk.row(state)).first_responded_at
    assert first is not None
    await desk.comment(handle, desk.managers[0])
    assert (await desk.row(state)).first_responded_at == first
    await desk.skip(2 * HOUR)  # past the first-response target: met, so no breach
    assert (await desk.row(state)).first_response_breached_at is None


async def test_warning_then_breach_each_once_across_a_worker_restart(idle_desk, settings):
    desk = idle_desk
    async with desk.worker(settings):
        handle, state = await desk.ticket()
        await desk.accept(handle, targets(1, 10))
        await desk.comment(handle, desk.agent)
        sla = await desk.sla(handle)
        now = await desk.env.get_current_time()
        await desk.skip((sla.resolution.warn_at - now).total_seconds() + 1)
        warnings = await eventually(lambda: desk.notifications(state, "SLA_WARNING"))
        assert [n.user_id for n in warnings] == [desk.agent.id]  # the assignee

    # A new worker, with nothing cached, takes over the ticket for the breach.
    async with desk.worker(settings):
        now = await desk.env.get_current_time()
        await desk.skip((sla.resolution.due_at - now).total_seconds() + 1)
        breaches = await eventually(lambda: desk.notifications(state, "SLA_BREACHED"))
        assert sorted(n.user_id for n in breaches) == sorted(m.id for m in desk.managers)
        assert await desk.audit_count(state, "sla_warning") == 1
        assert await desk.audit_count(state, "sla_breached") == 1
        assert len(await desk.notifications(state, "SLA_WARNING")) == 1
