"""Who may see a ticket, for every ticket-scoped read (tickets, comments, attachments,
timeline), so none of them can drift: the tenant first, then the lifecycle's rule."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.principal import Principal
from desk.enums import Role
from desk.errors import NotFound
from desk.tickets import lifecycle
from desk.tickets.models import Ticket


def actor(who: Principal) -> lifecycle.Actor:
    """The caller as the lifecycle rules see them."""
    return lifecycle.Actor(id=str(who.id), role=Role(who.role))


def is_staff(who: Principal) -> bool:
    return lifecycle.is_staff(actor(who))


def is_triage(who: Principal) -> bool:
    return lifecycle.is_triage(actor(who))


def can_view_ticket(who: Principal, ticket: Ticket) -> bool:
    """Same organization, and the lifecycle lets them (staff: all; a customer: their own)."""
    if ticket.organization_id != who.organization_id:
        return False
    return lifecycle.may_view(actor(who), str(ticket.requester_id))


async def get_visible_ticket_or_404(
    session: AsyncSession, ticket_id: uuid.UUID, who: Principal
) -> Ticket:
    """The ticket if the caller may see it; 404 otherwise (never 403: no existence leak)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not can_view_ticket(who, ticket):
        raise NotFound("ticket not found", code="ticket_not_found")
    return ticket
