"""The worker's projection writes in a burst (a breach storm): the ``project_ticket``
activity writes what arrives while a write is in flight together, in one transaction, on
the real database; each ticket's write stays whole, and one failing write fails alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from activities.tickets import GROUP_MAX, TicketActivities
from desk.db.types import utcnow
from desk.enums import Priority, Role, TicketStatus
from desk.notifications.contracts import SlaNotice
from desk.notifications.models import Notification
from desk.tickets.contracts import AuditItem, ProjectionBatch, TicketState
from desk.tickets.models import AuditLog, Ticket

DUE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class CountingSessions:
    """A session factory that counts the sessions (so the transactions) it opened."""

    def __init__(self, sessionmaker):
        self._sessionmaker = sessionmaker
        self.opened = 0

    def __call__(self):
        self.opened += 1
        return self._sessionmaker()


def breach(org, customer, number: int, organization_id: str | None = None) -> ProjectionBatch:
    """A ticket's first projection carrying a first-response breach and its notice."""
    ticket_id = str(uuid.uuid4())
    state = TicketState(
        ticket_id=ticket_id,
        organization_id=organization_id or str(org.id),
        number=number,
        subject=f"Storm {number}",
        description="",
        priority=Priority.URGENT,
        status=TicketStatus.ACCEPTED,
        requester_id=str(customer.id),
        created_by_id=str(customer.id),
        created_at=DUE - timedelta(days=2),
        version=3,
        updated_at=utcnow(),
    )
    notice = SlaNotice(
        ticket_id=ticket_id,
        organization_id=state.organization_id,
        ticket_number=number,
        ticket_subject=state.subject,
        priority=state.priority,
        assignee_id=None,
        metric="first_response",
        kind="breach",
        at=DUE,
        due_at=DUE,
        target_seconds=3600.0,
        dedupe_key=f"{ticket_id}:first_response:breach:1",
    )
    audit = AuditItem("sla_breached", None, DUE, 3, to_value="first_response", is_internal=True)
    return ProjectionBatch(state=state, audit=[audit], notices=[notice])


async def test_a_burst_is_written_in_few_transactions_each_ticket_whole(world, sessionmaker):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    managers = [await world.user(org, Role.MANAGER) for _ in range(2)]
    sessions = CountingSessions(sessionmaker)
    activities = TicketActivities(sessions)
    batches = [breach(org, customer, 9000 + i) for i in range(3 * GROUP_MAX)]

    await asyncio.gather(*(activities.project_ticket(b) for b in batches))
    # A retry of every write (a worker that lost the answers) changes nothing.
    await asyncio.gather(*(activities.project_ticket(b) for b in batches))

    # The first write went alone; the rest waited for it and went in full groups.
    assert sessions.opened <= 2 * (1 + -(-(len(batches) - 1) // GROUP_MAX))
    ids = [uuid.UUID(b.state.ticket_id) for b in batches]
    async with sessionmaker() as session:
        versions = set(
            (await session.execute(select(Ticket.version).where(Ticket.id.in_(ids)))).scalars()
        )
        audit = await session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.ticket_id.in_(ids))
        )
        notices = (
            await session.execute(
                select(Notification.ticket_id, Notification.user_id).where(
                    Notification.ticket_id.in_(ids)
                )
            )
        ).all()
    assert versions == {3}
    assert audit == len(batches)
    assert sorted(notices) == sorted((t, m.id) for t in ids for m in managers)


async def test_a_failing_write_fails_alone(world, sessionmaker):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    await world.user(org, Role.MANAGER)
    activities = TicketActivities(sessionmaker)
    good = [breach(org, customer, 9500 + i) for i in range(5)]
    # No such organization: the row's foreign key refuses it.
    bad = breach(org, customer, 9599, organization_id=str(uuid.uuid4()))
    batches = [good[0], *good[1:3], bad, *good[3:]]

    results = await asyncio.gather(
        *(activities.project_ticket(b) for b in batches), return_exceptions=True
    )

    assert [isinstance(r, Exception) for r in results] == [b is bad for b in batches]
    ids = [uuid.UUID(b.state.ticket_id) for b in good]
    async with sessionmaker() as session:
        written = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.id.in_(ids))
        )
        notified = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.ticket_id.in_(ids))
        )
    assert written == len(good) and notified == len(good)
