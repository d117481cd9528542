"""Ticket reads from the projection, always scoped to the caller's organization and to what
the caller may see. Plain query functions on a session; the use cases own the sessions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.models import User
from desk.auth.principal import Principal
from desk.enums import STAFF_ROLES, Priority, TicketStatus
from desk.errors import NotFound
from desk.http.pagination import decode_position, encode_position
from desk.sla import tracker
from desk.tickets.access import is_staff
from desk.tickets.models import AuditLog, Comment, Ticket


@dataclass(frozen=True)
class TicketFilters:
    status: TicketStatus | None = None
    priority: Priority | None = None
    assigned_to: uuid.UUID | None = None
    requester_id: uuid.UUID | None = None
    q: str | None = None
    breached: bool | None = None
    sla_due_before: datetime | None = None


def breached_condition() -> ColumnElement[bool]:
    """:func:`desk.sla.tracker.is_breached` on the stored row."""
    return or_(*(getattr(Ticket, column).is_not(None) for column in tracker.BREACHED_COLUMNS))


def visible_tickets(who: Principal) -> Select[tuple[Ticket]]:
    """The tickets the caller may list: the organization's for staff, their own for a
    customer."""
    query = select(Ticket).where(Ticket.organization_id == who.organization_id)
    if not is_staff(who):
        query = query.where(Ticket.requester_id == who.id)
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
    if f.breached is True:
        query = query.where(breached_condition())
    elif f.breached is False:
        query = query.where(~breached_condition())
    if f.sla_due_before is not None:
        query = query.where(Ticket.sla_due_at < f.sla_due_before)
    return query


async def list_tickets(
    session: AsyncSession,
    who: Principal,
    filters: TicketFilters,
    *,
    limit: int,
    cursor: str | None,
    oldest_first: bool = False,
) -> tuple[list[Ticket], str | None]:
    """One page of visible tickets, ordered by creation (keyset on created_at, id)."""
    query = _apply_filters(visible_tickets(who), filters)
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


async def get_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket:
    """Any organization's ticket (the caller checked the tenant)."""
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    if ticket is None:
        raise NotFound("ticket not found", code="ticket_not_found")
    return ticket


async def list_comments(
    session: AsyncSession, ticket: Ticket, who: Principal, *, limit: int, offset: int
) -> list[Comment]:
    """Comments, oldest first; customers never see internal ones."""
    query = select(Comment).where(
        Comment.ticket_id == ticket.id, Comment.organization_id == who.organization_id
    )
    if not is_staff(who):
        query = query.where(Comment.is_internal.is_(False))
    query = query.order_by(Comment.created_at.asc(), Comment.id.asc()).offset(offset).limit(limit)
    return list((await session.execute(query)).scalars())


async def get_comment(session: AsyncSession, comment_id: uuid.UUID) -> Comment:
    comment = await session.get(Comment, comment_id)
    if comment is None:
        raise NotFound("comment not found", code="comment_not_found")
    return comment


async def list_events(
    session: AsyncSession, ticket: Ticket, who: Principal, *, limit: int, offset: int
) -> list[AuditLog]:
    """The ticket's timeline, oldest first; customers do not see internal-only events."""
    query = select(AuditLog).where(
        AuditLog.ticket_id == ticket.id, AuditLog.organization_id == who.organization_id
    )
    if not is_staff(who):
        query = query.where(AuditLog.is_internal.is_(False))
    query = query.order_by(
        AuditLog.created_at.asc(), AuditLog.ticket_version.asc(), AuditLog.id.asc()
    )
    return list((await session.execute(query.offset(offset).limit(limit))).scalars())


# --- worklists (the portal's queue, open tickets, at risk, breached) --------------------


def next_due() -> ColumnElement[datetime | None]:
    """The ticket's next SLA deadline on the stored row: acceptance while NEW, then first
    response until met (while it falls before resolution), then resolution."""
    first_response_next = and_(
        Ticket.first_responded_at.is_(None),
        Ticket.sla_first_response_due_at.is_not(None),
        or_(Ticket.sla_due_at.is_(None), Ticket.sla_first_response_due_at < Ticket.sla_due_at),
    )
    return case(
        (Ticket.status == TicketStatus.NEW, Ticket.sla_accept_due_at),
        (first_response_next, Ticket.sla_first_response_due_at),
        else_=Ticket.sla_due_at,
    )


def _clock_running() -> ColumnElement[bool]:
    """No pause, not resolved or closed: the row's deadlines are running."""
    return and_(
        Ticket.sla_paused_at.is_(None),
        Ticket.status.not_in([TicketStatus.RESOLVED, TicketStatus.CLOSED]),
    )


def by_next_due() -> list[ColumnElement[Any]]:
    """Most urgent first: running clocks by their next deadline (overdue first), then
    paused or stopped ones, then tickets without a deadline."""
    due = next_due()
    return [(~_clock_running()).asc(), due.is_(None).asc(), due.asc(), Ticket.number.asc()]


async def worklist(
    session: AsyncSession,
    who: Principal,
    filters: TicketFilters,
    *,
    open_only: bool,
    by_deadline: bool,
    limit: int,
    offset: int,
) -> list[Ticket]:
    """Visible tickets matching ``filters`` (``open_only``: not CLOSED), by next SLA
    deadline or by latest activity."""
    query = _apply_filters(visible_tickets(who), filters)
    if open_only:
        query = query.where(Ticket.status != TicketStatus.CLOSED)
    order = by_next_due() if by_deadline else [Ticket.updated_at.desc(), Ticket.id.desc()]
    query = query.order_by(*order).offset(offset).limit(limit)
    return list((await session.execute(query)).scalars())


async def at_risk(
    session: AsyncSession, who: Principal, until: datetime, *, limit: int
) -> list[Ticket]:
    """Open tickets not breached (:func:`breached_condition`) whose running clock's next
    deadline falls before ``until``, most urgent first."""
    due = next_due()
    query = (
        visible_tickets(who)
        .where(_clock_running(), ~breached_condition(), due.is_not(None), due <= until)
        .order_by(*by_next_due())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def breached_open(session: AsyncSession, who: Principal, *, limit: int) -> list[Ticket]:
    """Tickets that breached (:func:`breached_condition`) and are not CLOSED."""
    query = (
        visible_tickets(who)
        .where(breached_condition(), Ticket.status != TicketStatus.CLOSED)
        .order_by(*by_next_due())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def people(
    session: AsyncSession, organization_id: uuid.UUID, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, User]:
    """The organization's users with these ids, by id (names on a page)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    query = select(User).where(User.organization_id == organization_id, User.id.in_(wanted))
    return {user.id: user for user in (await session.execute(query)).scalars()}


async def staff_members(session: AsyncSession, organization_id: uuid.UUID) -> list[User]:
    """Who a ticket may be assigned to: the organization's active staff, by name."""
    query = (
        select(User)
        .where(
            User.organization_id == organization_id,
            User.role.in_([str(role) for role in STAFF_ROLES]),
            User.is_active.is_(True),
        )
        .order_by(User.full_name, User.email)
    )
    return list((await session.execute(query)).scalars())
