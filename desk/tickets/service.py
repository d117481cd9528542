"""Ticket reads (always tenant-scoped) and the database steps around a ticket command."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.admin.models import Service
from desk.auth.models import Organization, User
from desk.enums import STAFF_ROLES, Priority, Role, TicketStatus
from desk.errors import Forbidden, NotFound, Unprocessable
from desk.http.pagination import decode_position, encode_position
from desk.sla.contracts import MetricState, SlaTargets
from desk.sla.service import sla_targets_for
from desk.tickets.access import is_staff
from desk.tickets.contracts import ProjectionBatch, TicketState
from desk.tickets.creation import record_creation
from desk.tickets.models import AuditLog, Comment, Ticket
from desk.tickets.projection import ticket_row, write_projection
from desk.tickets.schemas import SlaClockOut, SlaMetricOut, TicketOut

# Ticket ids derived from an Idempotency-Key live in their own UUID namespace.
IDEMPOTENT_TICKET_NAMESPACE = uuid.UUID("6f1d3c5e-2b1a-4f0e-9d7c-8a4b2e1f0c3d")


def idempotent_ticket_id(organization_id: uuid.UUID, caller_id: uuid.UUID, key: str) -> uuid.UUID:
    """The same (caller, key) always names the same ticket, so a retried create finds it."""
    return uuid.uuid5(IDEMPOTENT_TICKET_NAMESPACE, f"{organization_id}:{caller_id}:{key}")


async def claim_ticket_number(session: AsyncSession, organization_id: uuid.UUID) -> tuple[int, int]:
    """The organization's next human ticket number (#42), claimed atomically, and its
    auto-close days (read in the same statement)."""
    result = await session.execute(
        update(Organization)
        .where(Organization.id == organization_id)
        .values(next_ticket_number=Organization.next_ticket_number + 1)
        .returning(Organization.next_ticket_number, Organization.auto_close_days)
    )
    next_number, close_days = result.one()
    return next_number - 1, close_days


@dataclass
class Filing:
    """A filed ticket: what to answer, and what its workflow starts with."""

    ticket: TicketOut
    # The workflow's first state (version 1), or None when the ticket has changed since,
    # which only its running workflow can have done: nothing left to start.
    first_state: TicketState | None
    sla_targets: SlaTargets | None
    is_new: bool  # False: filed earlier (a create retried with its Idempotency-Key)


async def file_ticket(
    session: AsyncSession,
    caller: User,
    ticket_id: uuid.UUID,
    *,
    subject: str,
    description: str,
    priority: Priority,
    service_id: uuid.UUID | None,
    requester_id: uuid.UUID | None,
    now: datetime,
    may_exist: bool = True,
) -> Filing:
    """Write a new ticket's row and ``created`` audit line (version 1) and commit, so the
    ticket is listed before its workflow starts; the workflow writes every later change.

    If the ticket exists already (the same Idempotency-Key, possibly in a request running
    right now) nothing is written and the existing ticket is returned. ``may_exist=False``
    (a fresh random id) skips looking for it first.
    """
    org_id = caller.organization_id
    if may_exist and (existing := await session.get(Ticket, ticket_id)) is not None:
        return await _filed_before(session, existing)
    requester = await resolve_requester(session, caller, requester_id)
    await check_service(session, org_id, service_id)
    sla_targets = await sla_targets_for(session, org_id, priority, service_id)
    number, close_days = await claim_ticket_number(session, org_id)
    filed = Ticket(
        id=ticket_id,
        organization_id=org_id,
        number=number,
        subject=subject,
        description=description,
        priority=priority,
        requester_id=requester,
        created_by_id=caller.id,
        created_at=now,
        service_id=service_id,
    )
    state = _first_state(filed, close_days)
    audit = record_creation(state, sla_targets)
    if not await write_projection(session, ProjectionBatch(state=state, audit=audit)):
        await session.rollback()  # the other request won; its number stays the only one
        return await _filed_before(session, await get_ticket(session, ticket_id))
    await session.commit()
    ticket = TicketOut.model_validate(ticket_row(state))
    return Filing(ticket, state, sla_targets, is_new=True)


async def refile(session: AsyncSession, ticket_id: uuid.UUID) -> Filing:
    """The filed ticket ``ticket_id`` (tenant already checked by the caller)."""
    return await _filed_before(session, await get_ticket(session, ticket_id))


async def _filed_before(session: AsyncSession, ticket: Ticket) -> Filing:
    """A ticket filed by an earlier request. Unchanged since (version 1), its workflow may
    not have started (that request failed right after writing it): rebuild its first state."""
    answer = TicketOut.model_validate(ticket)
    if ticket.version != 1:
        return Filing(answer, None, None, is_new=False)
    org = await session.get(Organization, ticket.organization_id)
    assert org is not None  # the ticket's row references it
    targets = await sla_targets_for(session, org.id, ticket.priority, ticket.service_id)
    state = _first_state(ticket, org.auto_close_days)
    record_creation(state, targets)
    return Filing(answer, state, targets, is_new=False)


def _first_state(ticket: Ticket, auto_close_days: int) -> TicketState:
    """The workflow state of ``ticket`` as filed (status NEW, version 0: before
    :func:`record_creation`)."""
    return TicketState(
        ticket_id=str(ticket.id),
        organization_id=str(ticket.organization_id),
        number=ticket.number,
        subject=ticket.subject,
        description=ticket.description,
        priority=ticket.priority,
        status=TicketStatus.NEW,
        requester_id=str(ticket.requester_id),
        created_by_id=str(ticket.created_by_id),
        created_at=ticket.created_at,
        service_id=str(ticket.service_id) if ticket.service_id else None,
        auto_close_days=auto_close_days,
    )


async def forget_unstarted_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """Remove a ticket whose workflow never started (Temporal refused the start), so no
    ticket is listed that nothing would ever move. Only version 1 (unchanged) goes; its
    audit line goes with it (ON DELETE CASCADE)."""
    await session.execute(delete(Ticket).where(Ticket.id == ticket_id, Ticket.version == 1))
    await session.commit()


async def resolve_requester(
    session: AsyncSession, caller: User, requester_id: uuid.UUID | None
) -> uuid.UUID:
    """Customers file for themselves; staff may file for an active customer of theirs."""
    if requester_id is None or requester_id == caller.id:
        return caller.id
    if not is_staff(caller):
        raise Forbidden("customers file tickets for themselves only", code="requester_forbidden")
    requester = await session.get(User, requester_id)
    if (
        requester is None
        or requester.organization_id != caller.organization_id
        or requester.role != Role.CUSTOMER
        or not requester.is_active
    ):
        raise Unprocessable(
            "requester_id must be an active customer of your organization",
            code="invalid_requester",
        )
    return requester.id


async def check_service(
    session: AsyncSession, organization_id: uuid.UUID, service_id: uuid.UUID | None
) -> None:
    if service_id is None:
        return
    service = await session.get(Service, service_id)
    if service is None or service.organization_id != organization_id or not service.is_active:
        raise Unprocessable(
            "service_id must be an active service of your organization", code="invalid_service"
        )


async def check_assignee(
    session: AsyncSession, organization_id: uuid.UUID, assignee_id: uuid.UUID | None
) -> None:
    """An assignee is an active agent, manager or admin of the same organization."""
    if assignee_id is None:
        return
    assignee = await session.get(User, assignee_id)
    if (
        assignee is None
        or assignee.organization_id != organization_id
        or assignee.role not in STAFF_ROLES
        or not assignee.is_active
    ):
        raise Unprocessable(
            "assigned_to must be an active agent, manager or admin of your organization",
            code="invalid_assignee",
        )


async def get_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket:
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    if ticket is None:
        raise NotFound("ticket not found", code="ticket_not_found")
    return ticket


@dataclass(frozen=True)
class TicketFilters:
    status: TicketStatus | None = None
    priority: Priority | None = None
    assigned_to: uuid.UUID | None = None
    requester_id: uuid.UUID | None = None
    q: str | None = None
    breached: bool | None = None
    sla_due_before: datetime | None = None


def visible_tickets(user: User) -> Select[tuple[Ticket]]:
    """The tickets the caller may list: the organization's for staff, their own for a
    customer."""
    query = select(Ticket).where(Ticket.organization_id == user.organization_id)
    if not is_staff(user):
        query = query.where(Ticket.requester_id == user.id)
    return query


def _apply_filters(query: Select[tuple[Ticket]], f: TicketFilters) -> Select[tuple[Ticket]]:
    if f.status is not None:
        query = query.where(Ticket.status == f.status)
    if f.priority is not None:
        query = query.where(Ticket.priority == f.priority)
    if f.assigned_to is not None:
        query = query.where(Ticket.assigned_to == f.assigned_to)
    if f.requester_id is not None:
        query = query.where(Ticket.requester_id == f.requester_id)
    if f.q:
        query = query.where(func.lower(Ticket.subject).contains(f.q.lower(), autoescape=True))
    breached = or_(
        Ticket.sla_breached_at.is_not(None), Ticket.first_response_breached_at.is_not(None)
    )
    if f.breached is True:
        query = query.where(breached)
    elif f.breached is False:
        query = query.where(~breached)
    if f.sla_due_before is not None:
        query = query.where(Ticket.sla_due_at < f.sla_due_before)
    return query


async def list_tickets(
    session: AsyncSession,
    user: User,
    filters: TicketFilters,
    *,
    limit: int,
    cursor: str | None,
    oldest_first: bool = False,
) -> tuple[list[Ticket], str | None]:
    """One page of visible tickets, ordered by creation (keyset on created_at, id)."""
    query = _apply_filters(visible_tickets(user), filters)
    if cursor:
        created_at, last_id = decode_position(cursor)
        if oldest_first:
            query = query.where(
                or_(
                    Ticket.created_at > created_at,
                    and_(Ticket.created_at == created_at, Ticket.id > last_id),
                )
            )
        else:
            query = query.where(
                or_(
                    Ticket.created_at < created_at,
                    and_(Ticket.created_at == created_at, Ticket.id < last_id),
                )
            )
    if oldest_first:
        query = query.order_by(Ticket.created_at.asc(), Ticket.id.asc())
    else:
        query = query.order_by(Ticket.created_at.desc(), Ticket.id.desc())
    rows = list((await session.execute(query.limit(limit + 1))).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_position(last.created_at, last.id)
    return rows, next_cursor


async def list_comments(
    session: AsyncSession, ticket: Ticket, user: User, *, limit: int, offset: int
) -> list[Comment]:
    query = select(Comment).where(
        Comment.ticket_id == ticket.id, Comment.organization_id == user.organization_id
    )
    if not is_staff(user):
        query = query.where(Comment.is_internal.is_(False))
    query = query.order_by(Comment.created_at.asc(), Comment.id.asc()).offset(offset).limit(limit)
    return list((await session.execute(query)).scalars())


async def get_comment(session: AsyncSession, comment_id: uuid.UUID) -> Comment:
    comment = await session.get(Comment, comment_id)
    if comment is None:
        raise NotFound("comment not found")
    return comment


async def list_events(
    session: AsyncSession, ticket: Ticket, user: User, *, limit: int, offset: int
) -> list[AuditLog]:
    """The ticket's timeline, oldest first; customers do not see internal-only events."""
    query = select(AuditLog).where(
        AuditLog.ticket_id == ticket.id, AuditLog.organization_id == user.organization_id
    )
    if not is_staff(user):
        query = query.where(AuditLog.is_internal.is_(False))
    query = query.order_by(
        AuditLog.created_at.asc(), AuditLog.ticket_version.asc(), AuditLog.id.asc()
    )
    return list((await session.execute(query.offset(offset).limit(limit))).scalars())


def sla_clock_from_projection(ticket: Ticket, now: datetime) -> SlaClockOut:
    """The live-clock shape for a ticket whose workflow is gone: what the stored row knows
    (due dates, met and breach instants); elapsed and remaining business time are unknown."""
    stopped = ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    started = ticket.sla_started_at is not None
    paused = ticket.sla_paused_at is not None

    def metric(
        name: str,
        due: datetime | None,
        met: datetime | None,
        breached: datetime | None,
        running: bool,
    ) -> SlaMetricOut:
        if breached is not None:
            state = MetricState.BREACHED
        elif met is not None:
            state = MetricState.MET
        elif due is None:
            state = MetricState.NOT_STARTED if running else MetricState.UNTRACKED
        elif stopped:
            state = MetricState.STOPPED
        else:
            state = MetricState.PAUSED if paused else MetricState.RUNNING
        return SlaMetricOut(
            metric=name,
            state=state,
            paused=paused and state is MetricState.PAUSED,
            target_seconds=None,
            elapsed_seconds=None,
            remaining_seconds=None,
            due_at=due,
            warn_at=None,
            met_at=met,
            breached_at=breached,
        )

    return SlaClockOut(
        now=now,
        source="projection",
        sla_state=TicketOut.model_validate(ticket).sla_state,
        policy_id=str(ticket.sla_policy_id) if ticket.sla_policy_id else None,
        started_at=ticket.sla_started_at,
        paused_at=ticket.sla_paused_at,
        paused_seconds=float(ticket.sla_paused_duration),
        accept=metric(
            "accept",
            ticket.sla_accept_due_at,
            ticket.accepted_at if ticket.sla_accept_due_at else None,
            ticket.accept_breached_at,
            True,
        ),
        first_response=metric(
            "first_response",
            ticket.sla_first_response_due_at,
            ticket.first_responded_at,
            ticket.first_response_breached_at,
            started,
        ),
        resolution=metric(
            "resolution", ticket.sla_due_at, ticket.resolved_at, ticket.sla_breached_at, started
        ),
    )
