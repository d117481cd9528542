"""Writing live events: one row per change, in the transaction of the change itself, so an
event exists exactly when its change was committed. On PostgreSQL a ``pg_notify`` in the
same transaction wakes every API process's listener at commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from desk.attachments.models import Attachment
from desk.db.types import utcnow
from desk.live.models import LiveEvent
from desk.notifications.models import Notification

CHANNEL = "desk_live"

TICKET, NOTIFICATION, ATTACHMENT = "ticket", "notification", "attachment"


@dataclass(frozen=True)
class NewEvent:
    """A live event to record (see :class:`desk.live.models.LiveEvent` for visibility)."""

    organization_id: uuid.UUID
    kind: str
    ticket_id: uuid.UUID | None = None
    requester_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    is_internal: bool = False
    data: dict[str, Any] = field(default_factory=dict)


async def publish(session: AsyncSession, events: Iterable[NewEvent]) -> None:
    """Append ``events`` in the session's transaction (the caller commits)."""
    now = utcnow()
    rows = [
        {
            "organization_id": e.organization_id,
            "kind": e.kind,
            "ticket_id": e.ticket_id,
            "requester_id": e.requester_id,
            "user_id": e.user_id,
            "is_internal": e.is_internal,
            "data": e.data,
            "created_at": now,
        }
        for e in events
    ]
    if not rows:
        return
    await session.execute(insert(LiveEvent), rows)
    if session.get_bind().dialect.name == "postgresql":
        # Delivered at commit, and not at all on rollback; PostgreSQL folds repeats.
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


async def latest_event_id(session: AsyncSession) -> int:
    """The newest event's id (0 if none): a page rendered now has seen everything up to
    it, and its stream resumes after it."""
    return await session.scalar(select(func.max(LiveEvent.id))) or 0


def notification_event(notification: Notification) -> NewEvent:
    """A new in-app notification, for its recipient's stream only."""
    return NewEvent(
        organization_id=notification.organization_id,
        kind=NOTIFICATION,
        ticket_id=notification.ticket_id,
        user_id=notification.user_id,
        data={"kind": notification.kind, "title": notification.title},
    )


def attachment_event(attachment: Attachment, requester_id: uuid.UUID) -> NewEvent:
    """A file added to a ticket (internal with its internal note)."""
    return NewEvent(
        organization_id=attachment.organization_id,
        kind=ATTACHMENT,
        ticket_id=attachment.ticket_id,
        requester_id=requester_id,
        is_internal=attachment.is_internal,
        data={"filename": attachment.filename},
    )
