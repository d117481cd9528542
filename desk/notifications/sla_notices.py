"""What an SLA warning or breach of a ticket says on each channel: the in-app notifications
(written by the ticket projection, in the breach's own transaction), the emails and the
webhook payload. The notification activities and the projection call these.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk import metrics
from desk.auth.models import User
from desk.db.engine import READ_ONLY
from desk.live.feed import notification_event, publish
from desk.notifications.contracts import SlaNotice
from desk.notifications.email import (
    EmailOutcome,
    email_enabled,
    format_due,
    metric_label,
    one_line,
    render_sla_email,
    send_once,
    ticket_url,
)
from desk.notifications.service import (
    SLA_BREACH,
    SLA_WARNING,
    check_dedupe_key,
    notify_users,
    sla_recipients,
)
from desk.settings import Settings

log = logging.getLogger("desk.notifications")

# Emails go out one per recipient (each has its own delivery record); this many at once.
EMAIL_CONCURRENCY = 5


def check_notice(notice: SlaNotice) -> None:
    """ValueError unless ``notice`` is well formed (a known kind, UUIDs, an aware due time, a
    dedupe key that leaves room for the per-recipient suffix)."""
    if notice.kind not in (SLA_WARNING, SLA_BREACH):
        raise ValueError(f"unknown kind {notice.kind!r}")
    check_dedupe_key(notice.dedupe_key)
    uuid.UUID(notice.organization_id)
    uuid.UUID(notice.ticket_id)
    if notice.assignee_id is not None:
        uuid.UUID(notice.assignee_id)
    if notice.due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")


# --- In-app ---------------------------------------------------------------------------


async def record_in_app(session: AsyncSession, notice: SlaNotice) -> int:
    """One in-app notification per recipient of ``notice``, in the session's transaction;
    returns how many were inserted (0 when they all exist already)."""
    recipients = await sla_recipients(
        session, notice.organization_id, notice.kind, notice.assignee_id
    )
    inserted = await notify_users(
        session,
        organization_id=notice.organization_id,
        user_ids=[user.id for user in recipients],
        ticket_id=notice.ticket_id,
        kind=notice.event,
        title=_title(notice),
        body=_body(notice),
        data=_data(notice),
        dedupe_key=notice.dedupe_key,
    )
    if not recipients:
        log.warning("SLA %s of ticket %s: nobody to notify", notice.kind, notice.ticket_id)
    await publish(session, [notification_event(n) for n in inserted])
    return len(inserted)


def count_announced(notice: SlaNotice) -> None:
    """Count a warning or breach once: when its notifications were first inserted (a retry
    that inserts nothing is no new event)."""
    counter = metrics.SLA_BREACHES if notice.kind == SLA_BREACH else metrics.SLA_WARNINGS
    counter.inc()


def _title(notice: SlaNotice) -> str:
    """E.g. ``SLA breached: #42 Login issue (resolution)``."""
    what = "SLA breached" if notice.kind == SLA_BREACH else "SLA warning"
    subject = one_line(notice.ticket_subject)
    return f"{what}: #{notice.ticket_number} {subject} ({metric_label(notice.metric)})"


def _body(notice: SlaNotice) -> str:
    label, number = metric_label(notice.metric), notice.ticket_number
    due = format_due(notice.due_at)
    if notice.kind == SLA_BREACH:
        return f"The {label} target of ticket #{number} was breached: it was due {due}."
    return f"The {label} target of ticket #{number} is due {due}."


def _data(notice: SlaNotice) -> dict[str, Any]:
    return {
        "ticket_id": notice.ticket_id,
        "ticket_number": notice.ticket_number,
        "metric": notice.metric,
        "kind": notice.kind,
        "due_at": notice.due_at.isoformat(),
    }


# --- Email and webhooks ---------------------------------------------------------------


async def email_notice(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], notice: SlaNotice
) -> list[EmailOutcome]:
    """Email each recipient of ``notice`` once (each under its own delivery record);
    returns one outcome per recipient, and none without ``DESK_SMTP_HOST``."""
    if not email_enabled(settings):
        return []
    async with sessionmaker() as session:
        await session.connection(execution_options=READ_ONLY)  # no write lock on SQLite
        recipients = await sla_recipients(
            session, notice.organization_id, notice.kind, notice.assignee_id
        )
    content = render_sla_email(
        public_base_url=settings.public_base_url,
        ticket_id=notice.ticket_id,
        ticket_number=notice.ticket_number,
        ticket_subject=notice.ticket_subject,
        metric=notice.metric,
        kind=notice.event,
        due_at=notice.due_at,
    )
    limit = asyncio.Semaphore(EMAIL_CONCURRENCY)

    async def one(user: User) -> EmailOutcome:
        async with limit:
            return await send_once(
                settings,
                sessionmaker,
                organization_id=notice.organization_id,
                key=f"{notice.dedupe_key}:{user.id}",
                to=user.email,
                content=content,
            )

    return list(await asyncio.gather(*(one(user) for user in recipients)))


def webhook_payload(notice: SlaNotice, public_base_url: str) -> dict[str, Any]:
    """The webhook event's ``data`` (the same on every attempt, so retries post the same
    body)."""
    return {
        "event": notice.event,
        "ticket": {
            "id": notice.ticket_id,
            "number": notice.ticket_number,
            "subject": notice.ticket_subject,
            "priority": notice.priority,
            "url": ticket_url(public_base_url, notice.ticket_id),
        },
        "metric": notice.metric,
        "kind": notice.kind,
        "at": notice.at.isoformat(),
        "due_at": notice.due_at.isoformat(),
        "target_seconds": notice.target_seconds,
    }
