"""Ticket reads from the projection, always scoped to the caller's organization and to what
the caller may see. Plain query functions on a session; the use cases own the sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.principal import Principal
from desk.enums import Priority, TicketStatus
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
