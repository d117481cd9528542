"""In-app notifications (the caller's list, marking read, idempotent fan-out for the ticket
workflow's activities) and webhook subscriptions. Functions flush or execute; callers commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.admin.service import audit
from desk.auth.deps import get_scoped_or_404, scoped
from desk.auth.models import User
from desk.db.insert import insert_on_conflict
from desk.db.types import utcnow
from desk.enums import Role
from desk.errors import NotFound
from desk.http.pagination import decode_position
from desk.notifications.models import Notification, Webhook, WebhookDelivery
from desk.notifications.schemas import WebhookCreate

DEDUPE_KEY_MAX_LENGTH = 200  # notifications.dedupe_key and webhook_deliveries.dedupe_key
_UUID_SUFFIX_LENGTH = 37  # ":" + a UUID, appended per recipient


def check_dedupe_key(dedupe_key: str) -> None:
    """ValueError unless ``dedupe_key`` leaves room for a per-recipient suffix."""
    limit = DEDUPE_KEY_MAX_LENGTH - _UUID_SUFFIX_LENGTH
    if not dedupe_key or len(dedupe_key) > limit:
        raise ValueError(f"dedupe_key must be 1 to {limit} characters, got {len(dedupe_key)}")


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# --- Fan-out (called by the workflow's activities) -----------------------------------


async def notify_users(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | str,
    user_ids: Iterable[uuid.UUID | str],
    ticket_id: uuid.UUID | str | None,
    kind: str,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    dedupe_key: str,
) -> list[Notification]:
    """One notification per user, keyed ``f"{dedupe_key}:{user_id}"``; users already
    notified under that key are skipped, so a retried activity never duplicates.

    Returns only the rows this call inserted. The caller commits.
    """
    check_dedupe_key(dedupe_key)
    recipients = list(dict.fromkeys(_uuid(u) for u in user_ids))
    if not recipients:
        return []
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": _uuid(organization_id),
            "user_id": user_id,
            "ticket_id": None if ticket_id is None else _uuid(ticket_id),
            "kind": kind,
            "title": title[:300],
            "body": body,
            "data": data or {},
            "dedupe_key": f"{dedupe_key}:{user_id}",
            "read_at": None,
            "created_at": now,
        }
        for user_id in recipients
    ]
    statement = (
        insert_on_conflict(session, Notification)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[Notification.dedupe_key])
        .returning(Notification.id)
    )
    inserted = list((await session.execute(statement)).scalars())
    if not inserted:
        return []
    query = select(Notification).where(Notification.id.in_(inserted))
    by_id = {n.id: n for n in (await session.execute(query)).scalars()}
    return [by_id[row["id"]] for row in rows if row["id"] in by_id]


async def active_managers(session: AsyncSession, organization_id: uuid.UUID | str) -> list[User]:
    """The organization's active MANAGERs (who hear of every SLA breach), by email."""
    query = (
        select(User)
        .where(
            User.organization_id == _uuid(organization_id),
            User.role == Role.MANAGER.value,
            User.is_active.is_(True),
        )
        .order_by(User.email)
    )
    return list((await session.execute(query)).scalars())


SLA_WARNING, SLA_BREACH = "warning", "breach"  # SlaNotice.kind


async def sla_recipients(
    session: AsyncSession,
    organization_id: uuid.UUID | str,
    kind: str,
    assignee_id: uuid.UUID | str | None,
) -> list[User]:
    """Who hears of an SLA ``kind`` ("warning" or "breach") on a ticket of the organization.

    A warning goes to the ticket's assignee while they are an active user of the
    organization, otherwise to its active MANAGERs; a breach goes to every active MANAGER.
    """
    if kind not in (SLA_WARNING, SLA_BREACH):
        raise ValueError(f"unknown SLA notice kind {kind!r}")
    if kind == SLA_WARNING and assignee_id is not None:
        query = select(User).where(
            User.id == _uuid(assignee_id),
            User.organization_id == _uuid(organization_id),
            User.is_active.is_(True),
        )
        assignee = (await session.execute(query)).scalar_one_or_none()
        if assignee is not None:
            return [assignee]
    return await active_managers(session, organization_id)


# --- The caller's notifications -------------------------------------------------------


async def list_notifications(
    session: AsyncSession,
    user: User,
    *,
    unread: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
    offset: int | None = None,
) -> list[Notification]:
    """The user's own notifications, newest first: after ``cursor`` (if any), skipping
    ``offset`` more (if any)."""
    query = select(Notification).where(
        Notification.organization_id == user.organization_id,
        Notification.user_id == user.id,
    )
    if unread is not None:
        query = query.where(
            Notification.read_at.is_(None) if unread else Notification.read_at.is_not(None)
        )
    if cursor is not None:
        created_at, after_id = decode_position(cursor)
        query = query.where(
            or_(
                Notification.created_at < created_at,
                and_(Notification.created_at == created_at, Notification.id < after_id),
            )
        )
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    if offset:
        query = query.offset(offset)
    return list((await session.execute(query)).scalars())


async def mark_read(session: AsyncSession, user: User, notification_id: uuid.UUID) -> Notification:
    """Mark one of the user's notifications read; marking it again changes nothing."""
    notification = (
        await session.execute(
            select(Notification).where(
                Notification.id == notification_id,
                Notification.organization_id == user.organization_id,
                Notification.user_id == user.id,
            )
        )
    ).scalar_one_or_none()
    if notification is None:
        raise NotFound("notification not found")
    if notification.read_at is None:
        notification.read_at = utcnow()
        await session.flush()
    return notification


# --- Webhook subscriptions (ADMIN) -----------------------------------------------------


async def create_webhook(session: AsyncSession, admin: User, body: WebhookCreate) -> Webhook:
    webhook = Webhook(
        organization_id=admin.organization_id,
        url=str(body.url),
        secret=body.secret,
        events=[e.value for e in body.events],
        is_active=True,
    )
    session.add(webhook)
    await session.flush()
    await audit(
        session,
        organization_id=admin.organization_id,
        actor_id=admin.id,
        action="webhook.created",
        details={"webhook_id": str(webhook.id), "url": webhook.url, "events": webhook.events},
    )
    return webhook


async def list_webhooks(session: AsyncSession, admin: User) -> list[Webhook]:
    query = scoped(Webhook, admin).order_by(Webhook.created_at, Webhook.id)
    return list((await session.execute(query)).scalars())


async def get_webhook(session: AsyncSession, admin: User, webhook_id: uuid.UUID) -> Webhook:
    return await get_scoped_or_404(session, Webhook, webhook_id, admin, what="webhook")


async def delete_webhook(session: AsyncSession, admin: User, webhook_id: uuid.UUID) -> None:
    """Delete a subscription (and its delivery records)."""
    webhook = await get_webhook(session, admin, webhook_id)
    await session.delete(webhook)
    await session.flush()
    await audit(
        session,
        organization_id=admin.organization_id,
        actor_id=admin.id,
        action="webhook.deleted",
        details={"webhook_id": str(webhook_id), "url": webhook.url},
    )


async def list_deliveries(
    session: AsyncSession, admin: User, webhook_id: uuid.UUID, *, limit: int = 50
) -> list[WebhookDelivery]:
    """A webhook's most recent deliveries, newest first."""
    await get_webhook(session, admin, webhook_id)
    query = (
        scoped(WebhookDelivery, admin)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def count_unread(session: AsyncSession, user: User) -> int:
    """How many of the user's notifications are unread (the portal's badge)."""
    query = select(func.count()).where(
        Notification.organization_id == user.organization_id,
        Notification.user_id == user.id,
        Notification.read_at.is_(None),
    )
    return await session.scalar(query) or 0


async def mark_all_read(session: AsyncSession, user: User) -> None:
    """Mark every unread notification of the user read (flushes)."""
    await session.execute(
        update(Notification)
        .where(
            Notification.organization_id == user.organization_id,
            Notification.user_id == user.id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
