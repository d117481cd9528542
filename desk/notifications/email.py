"""Email over SMTP (aiosmtplib) when ``DESK_SMTP_HOST`` is set, sent at most once per
delivery record, and the SLA email text."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk import metrics
from desk.db.types import utcnow
from desk.notifications import deliveries
from desk.notifications.deliveries import FAILED, PENDING
from desk.notifications.models import EmailDelivery
from desk.settings import Settings

log = logging.getLogger("desk.email")

SMTP_COMMAND_TIMEOUT_SECONDS = 10.0  # each connect / command / reply
SMTP_TOTAL_TIMEOUT_SECONDS = 30.0  # the whole conversation
SENT = "sent"  # the other outcomes: deliveries.PENDING and deliveries.FAILED

METRIC_LABELS = {
    "accept": "acceptance",
    "first_response": "first response",
    "resolution": "resolution",
}


class EmailDeliveryError(Exception):
    """Sending failed. ``permanent`` is True when the server refused for good (5xx), so a
    retry cannot help; otherwise (network, timeout, 4xx) a retry may succeed."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def email_enabled(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def ticket_url(public_base_url: str, ticket_id: uuid.UUID | str) -> str:
    return f"{public_base_url.rstrip('/')}/tickets/{ticket_id}"


@dataclass(frozen=True)
class EmailContent:
    subject: str
    body: str


def metric_label(metric: str) -> str:
    """How notices name an SLA metric, e.g. ``first response``."""
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


def one_line(text: str) -> str:
    return " ".join(text.split())


def format_due(due_at: datetime, display_timezone: str | None = None) -> str:
    """``2026-03-02 16:00 UTC``, with the local time in ``display_timezone`` beside it."""
    utc = due_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if not display_timezone or display_timezone == "UTC":
        return utc
    local = due_at.astimezone(ZoneInfo(display_timezone))
    return f"{utc} ({local:%Y-%m-%d %H:%M %Z}, {display_timezone})"


def render_sla_email(
    *,
    public_base_url: str,
    ticket_id: uuid.UUID | str,
    ticket_number: int,
    ticket_subject: str,
    metric: str,
    kind: str,
    due_at: datetime,
    display_timezone: str | None = None,
) -> EmailContent:
    """Subject and plain-text body of an SLA_WARNING or SLA_BREACHED email (pure).

    ``metric`` is ``accept``, ``first_response`` or ``resolution``; ``due_at`` is aware;
    ``display_timezone`` (e.g. the calendar's zone) adds local time beside UTC.
    """
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    label = metric_label(metric)
    subject_line = one_line(ticket_subject)
    due = format_due(due_at, display_timezone)
    breached = kind == "SLA_BREACHED"
    if breached:
        subject = f"[SLA breached] #{ticket_number} {subject_line}: {label} overdue"
        headline = f"The {label} target of ticket #{ticket_number} was breached."
    else:
        subject = f"[SLA warning] #{ticket_number} {subject_line}: {label} due soon"
        headline = f"The {label} target of ticket #{ticket_number} is close to its due time."
    body = (
        f"{headline}\n"
        f"\n"
        f"Ticket:  #{ticket_number} {subject_line}\n"
        f"Metric:  {label}\n"
        f"Due:     {due}\n"
        f"Link:    {ticket_url(public_base_url, ticket_id)}\n"
        f"\n"
        f"-- \n"
        f"ATUM Desk\n"
    )
    return EmailContent(subject=subject, body=body)


def _message(settings: Settings, to: list[str], subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = settings.smtp_from.rpartition("@")[2] or "atum-desk"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(body)
    return message


async def send_email(settings: Settings, *, to: list[str], subject: str, body: str) -> None:
    """Send a plain-text email to ``to``; does nothing if SMTP is not configured or ``to`` is
    empty. Raises EmailDeliveryError on failure (within SMTP_TOTAL_TIMEOUT_SECONDS)."""
    recipients = list(dict.fromkeys(address.strip() for address in to if address.strip()))
    if not email_enabled(settings) or not recipients:
        return
    try:
        message = _message(settings, recipients, subject, body)
    except ValueError as exc:  # e.g. a line break inside an address
        raise EmailDeliveryError(f"cannot build the email: {exc}", permanent=True) from exc
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        async with asyncio.timeout(SMTP_TOTAL_TIMEOUT_SECONDS):
            refused, _reply = await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username or None,
                password=password,
                start_tls=settings.smtp_starttls,
                timeout=SMTP_COMMAND_TIMEOUT_SECONDS,
            )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        raise EmailDeliveryError(
            f"SMTP server refused every recipient: {exc}",
            permanent=all(code >= 500 for code in codes),
        ) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise EmailDeliveryError(
            f"SMTP server answered {exc.code} {exc.message}", permanent=exc.code >= 500
        ) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise EmailDeliveryError(
            f"SMTP {settings.smtp_host}:{settings.smtp_port} unreachable: {exc!r}"
        ) from exc
    if refused:
        # Partly delivered: a retry would duplicate it for the accepted recipients.
        log.warning("SMTP refused some recipients: %s", sorted(refused))


@dataclass(frozen=True)
class EmailOutcome:
    status: str  # sent | failed (refused for good) | pending (a retry may succeed)
    attempted: bool  # whether this attempt talked to the SMTP server
    error: str | None = None


async def send_once(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    organization_id: uuid.UUID | str,
    key: str,
    to: str,
    content: EmailContent,
) -> EmailOutcome:
    """Email ``content`` to the address ``to`` unless an earlier attempt recorded under
    ``key`` settled it; returns how this attempt, or the one that settled it, ended."""
    record = await deliveries.claim(
        sessionmaker,
        EmailDelivery,
        key,
        values={
            "organization_id": uuid.UUID(str(organization_id)),
            "recipient": to,
            "subject": content.subject[:300],
        },
        current={"recipient": to},  # the user's address may have changed since
    )
    if record.status != PENDING:
        return EmailOutcome(record.status, attempted=False, error=record.last_error)
    try:
        await send_email(settings, to=[to], subject=content.subject, body=content.body)
    except EmailDeliveryError as exc:
        error = f"{to}: {exc}"
        status = FAILED if exc.permanent else PENDING
        await deliveries.settle(sessionmaker, EmailDelivery, key, status, error=error)
        metrics.NOTIFICATION_DELIVERY_FAILURES.labels(channel="email").inc()
        log.warning("email %s not sent (%s)", key, error)
        return EmailOutcome(status, attempted=True, error=error)
    await deliveries.settle(sessionmaker, EmailDelivery, key, SENT, sent_at=utcnow())
    return EmailOutcome(SENT, attempted=True)
