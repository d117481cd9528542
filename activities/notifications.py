"""SLA announcements of the ticket workflow by email and webhooks, one activity per channel
so that a failing channel never holds up another (the in-app notifications are written by
the projection). Each activity checks the notice, hands it to ``desk.notifications`` and
tells Temporal which failures no retry can fix.

Every activity is idempotent under Temporal's retries: what it sends is keyed by the
notice's ``dedupe_key`` (per recipient or per webhook), so a retry mails or posts only what
an earlier attempt did not settle. Email and webhooks are at least once: a worker killed
between the send and its record re-sends on the retry.
"""

from __future__ import annotations

import logging

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from desk.notifications.contracts import SlaNotice
from desk.notifications.deliveries import FAILED, PENDING
from desk.notifications.email import SENT, EmailDeliveryError
from desk.notifications.sla_notices import check_notice, email_notice, webhook_payload
from desk.notifications.webhooks import DEFAULT_TIMEOUT, DELIVERED, deliver_event
from desk.settings import Settings

log = logging.getLogger("desk.notifications")

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

    @activity.defn(name="notify_email")
    async def notify_email(self, notice: SlaNotice) -> int:
        """Email each recipient once; returns how many emails this attempt sent.

        Does nothing without ``DESK_SMTP_HOST``. Raises EmailDeliveryError (retryable) when
        some recipient may succeed later, and a non-retryable ApplicationError of type
        ``EmailRejected`` when the server refused some recipient for good (the others are
        sent first).
        """
        _check(notice)
        outcomes = await email_notice(self._settings, self._sessionmaker, notice)
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
            payload=webhook_payload(notice, self._settings.public_base_url),
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


def _check(notice: SlaNotice) -> None:
    """A malformed notice is a bug no retry can fix: fail it for good."""
    try:
        check_notice(notice)
    except ValueError as exc:
        raise ApplicationError(
            f"invalid SLA notice: {exc}", type=ERROR_INVALID_NOTICE, non_retryable=True
        ) from exc
