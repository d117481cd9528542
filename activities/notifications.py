"""SLA announcements of the ticket workflow: email and webhooks, one activity per channel
so that a failing channel never holds up another; the in-app notifications are written by
the projection (``record_in_app``, in the breach's own transaction), or by ``notify_in_app``
for histories from before that.

Every activity is idempotent under Temporal's retries: what it writes or sends is keyed by
the notice's ``dedupe_key`` (per recipient or per webhook), so a retry inserts, mails or
posts only what an earlier attempt did not settle. Email and webhooks are at least once: a
worker killed between the send and its record re-sends on the retry.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from desk import metrics
from desk.auth.models import User
from desk.notifications.contracts import SlaNotice
from desk.notifications.deliveries import FAILED, PENDING
from desk.notifications.email import (
    METRIC_LABELS,
    SENT,
    EmailDeliveryError,
    EmailOutcome,
    email_enabled,
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
from desk.notifications.webhooks import DEFAULT_TIMEOUT, DELIVERED, deliver_event
from desk.settings import Settings

log = logging.getLogger("desk.notifications")

# Emails go out one per recipient (each has its own delivery record); this many at once.
EMAIL_CONCURRENCY = 5
ERROR_EMAIL_REJECTED = "EmailRejected"
ERROR_INVALID_NOTICE = "InvalidNotice"


class NotificationActivities:
    """Bound to the settings and a session factory at worker start-up; holds one HTTP
    client for webhooks, created on first use and released by :meth:`aclose`."""

    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]):
        self._settings = settings
        self._sessionmaker = sessionmaker
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        """Close the webhook HTTP client (at worker shutdown); safe to call twice."""
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False)
        return self._http

    # --- In-app ---------------------------------------------------------------------

    @activity.defn(name="notify_in_app")
    async def notify_in_app(self, notice: SlaNotice) -> int:
        """One in-app notification per recipient, in one transaction; returns how many rows
        this attempt inserted (0 when an earlier attempt had inserted them all).

        Tickets now write their in-app notices with the projection (``project_ticket``);
        this activity serves workflows whose histories scheduled it.
        """
        _check(notice)
        async with self._sessionmaker() as session, session.begin():
            inserted = await record_in_app(session, notice)
        if inserted:
            count_announced(notice)
        return inserted

    # --- Email ----------------------------------------------------------------------

    @activity.defn(name="notify_email")
    async def notify_email(self, notice: SlaNotice) -> int:
        """Email each recipient once; returns how many emails this attempt sent.

        Does nothing without ``DESK_SMTP_HOST``. Raises EmailDeliveryError (retryable) when
        some recipient may succeed later, and a non-retryable ApplicationError of type
        ``EmailRejected`` when the server refused some recipient for good (the others are
        sent first).
        """
        _check(notice)
        if not email_enabled(self._settings):
            return 0
        async with self._sessionmaker() as session:
            recipients = await sla_recipients(
                session, notice.organization_id, notice.kind, notice.assignee_id
            )
        content = render_sla_email(
            public_base_url=self._settings.public_base_url,
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
                    self._settings,
                    self._sessionmaker,
                    organization_id=notice.organization_id,
                    key=f"{notice.dedupe_key}:{user.id}",
                    to=user.email,
                    content=content,
                )

        outcomes = await asyncio.gather(*(one(user) for user in recipients))
        to_retry = [o.error for o in outcomes if o.status == PENDING]
        rejected = [o.error for o in outcomes if o.status == FAILED]
        if to_retry:
            raise EmailDeliveryError(
                f"{len(to_retry)} of {len(outcomes)} SLA emails to retry: "
                + "; ".join(str(e) for e in to_retry)
            )
        if rejected:
            raise ApplicationError(
                f"{len(rejected)} of {len(outcomes)} SLA emails refused for good: "
                + "; ".join(str(e) for e in rejected),
                type=ERROR_EMAIL_REJECTED,
                non_retryable=True,
            )
        return sum(o.status == SENT and o.attempted for o in outcomes)

    # --- Webhooks -------------------------------------------------------------------

    @activity.defn(name="notify_webhooks")
    async def notify_webhooks(self, notice: SlaNotice) -> int:
        """POST the signed event to every active webhook of the organization subscribed to
        it; returns how many this attempt delivered.

        A 4xx is recorded as failed and not retried; a 5xx, 408, 429, timeout or refused
        connection raises RetryableDeliveryError after every webhook was tried, and the
        retry re-sends only to those.
        """
        _check(notice)
        results = await deliver_event(
            self._http_client(),
            self._sessionmaker,
            organization_id=notice.organization_id,
            event=notice.event,
            payload=self._webhook_payload(notice),
            dedupe_key=notice.dedupe_key,
            allow_private_targets=self._settings.webhook_allow_private_targets,
        )
        for result in results:
            if result.sent and result.status != DELIVERED:
                log.warning(
                    "webhook %s refused %s (HTTP %s): given up",
                    result.webhook_id,
                    result.dedupe_key,
                    result.status_code,
                )
        return sum(r.sent and r.status == DELIVERED for r in results)

    def _webhook_payload(self, notice: SlaNotice) -> dict[str, Any]:
        """The event's ``data`` (the same on every attempt, so retries post the same body)."""
        return {
            "event": notice.event,
            "ticket": {
                "id": notice.ticket_id,
                "number": notice.ticket_number,
                "subject": notice.ticket_subject,
                "priority": notice.priority,
                "url": ticket_url(self._settings.public_base_url, notice.ticket_id),
            },
            "metric": notice.metric,
            "kind": notice.kind,
            "at": notice.at.isoformat(),
            "due_at": notice.due_at.isoformat(),
            "target_seconds": notice.target_seconds,
        }


def _check(notice: SlaNotice) -> None:
    """A malformed notice is a bug no retry can fix: fail it for good."""
    try:
        if notice.kind not in (SLA_WARNING, SLA_BREACH):
            raise ValueError(f"unknown kind {notice.kind!r}")
        check_dedupe_key(notice.dedupe_key)
        uuid.UUID(notice.organization_id)
        uuid.UUID(notice.ticket_id)
        if notice.assignee_id is not None:
            uuid.UUID(notice.assignee_id)
        if notice.due_at.tzinfo is None:
            raise ValueError("due_at must be timezone-aware")
    except ValueError as exc:
        raise ApplicationError(
            f"invalid SLA notice: {exc}", type=ERROR_INVALID_NOTICE, non_retryable=True
        ) from exc


def _label(notice: SlaNotice) -> str:
    return METRIC_LABELS.get(notice.metric, notice.metric.replace("_", " "))


def _due(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


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
    return len(inserted)


def count_announced(notice: SlaNotice) -> None:
    """Count a warning or breach once: when its notifications were first inserted (a retry
    that inserts nothing is no new event)."""
    counter = metrics.SLA_BREACHES if notice.kind == SLA_BREACH else metrics.SLA_WARNINGS
    counter.inc()


def _title(notice: SlaNotice) -> str:
    """E.g. ``SLA breached: #42 Login issue (resolution)``."""
    what = "SLA breached" if notice.kind == SLA_BREACH else "SLA warning"
    subject = " ".join(notice.ticket_subject.split())
    return f"{what}: #{notice.ticket_number} {subject} ({_label(notice)})"


def _body(notice: SlaNotice) -> str:
    label, number, due = _label(notice), notice.ticket_number, _due(notice.due_at)
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
