"""Who may see a ticket: the one rule every ticket-scoped route (tickets, comments,
attachments, timeline) uses, so none of them can drift."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.models import User
from desk.enums import STAFF_ROLES
from desk.errors import NotFound
from desk.tickets.models import Ticket


def is_staff(user: User) -> bool:
    return user.role in STAFF_ROLES


def can_view_ticket(user: User, ticket: Ticket) -> bool:
    """Staff see their organization's tickets; a customer sees only those they requested."""
    if ticket.organization_id != user.organization_id:
        return False
    return is_staff(user) or ticket.requester_id == user.id


async def get_visible_ticket_or_404(
    session: AsyncSession, ticket_id: uuid.UUID, user: User
) -> Ticket:
    """The ticket if the caller may see it; 404 otherwise (never 403: no existence leak)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not can_view_ticket(user, ticket):
        raise NotFound("ticket not found", code="ticket_not_found")
    return ticket
