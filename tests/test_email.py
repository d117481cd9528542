"""SLA email: the pure rendering, and sending to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from desk.notifications.email import (
    EmailDeliveryError,
    email_enabled,
    render_sla_email,
    send_email,
)
from desk.settings import Settings
from tests.support.ports import free_port

TICKET_ID = uuid.UUID("6f1c0e1e-8a51-4a43-9a57-2f0d8d3c1b2a")
DUE = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


def _settings(**overrides) -> Settings:
    return Settings(
        env="test", jwt_secret="email-test-" + uuid.uuid4().hex, _env_file=None, **overrides
    )


# --- Rendering ------------------------------------------------------------------------


def test_breach_email_names_ticket_subject_metric_due_time_and_link():
    email = render_sla_email(
        public_base_url="https://desk.example.com/",
        ticket_id=TICKET_ID,
        ticket_number=42,
        ticket_subject="Login issue",
        metric="resolution",
        kind="SLA_BREACHED",
        due_at=DUE,
    )

    assert email.subject == "[SLA breached] #42 Login issue: resolution overdue"
    assert "#42 Login issue" in email.body
    assert "Metric:  resolution" in email.body
    assert "Due:     2026-03-02 16:00 UTC" in email.body
    assert f"https://desk.example.com/tickets/{TICKET_ID}" in email.body
    assert "breached" in email.body


def test_warning_email_shows_the_calendars_local_time_and_labels_the_metric():
    email = render_sla_email(
        public_base_url="http://desk.test",
        ticket_id=str(TICKET_ID),
        ticket_number=7,
        ticket_subject="Printer\r\non fire",  # a line break must not reach the header
        metric="first_response",
        kind="SLA_WARNING",
        due_at=DUE,
        display_timezone="Europe/Berlin",
    )

    assert email.subject == "[SLA warning] #7 Printer on fire: first response due soon"
    assert "2026-03-02 16:00 UTC (2026-03-02 17:00 CET, Europe/Berlin)" in email.body
    assert "Metric:  first response" in email.body


def test_render_refuses_a_naive_due_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        render_sla_email(
            public_base_url="http://desk.test",
            ticket_id=TICKET_ID,
            ticket_number=1,
            ticket_subject="s",
            metric="resolution",
            kind="SLA_BREACHED",
            due_at=datetime(2026, 3, 2, 16, 0),
        )


# --- Sending --------------------------------------------------------------------------


async def test_send_email_delivers_to_a_real_smtp_server(smtp_server):
    settings = _settings(
        smtp_host="127.0.0.1", smtp_port=smtp_server.port, smtp_from="desk@desk.test"
    )
    email = render_sla_email(
        public_base_url=settings.public_base_url,
        ticket_id=TICKET_ID,
        ticket_number=42,
        ticket_subject="Login issue",
        metric="resolution",
        kind="SLA_BREACHED",
        due_at=DUE,
    )

    await send_email(
        settings,
        to=["manager-a@example.com", "manager-b@example.com", "manager-a@example.com"],
        subject=email.subject,
        body=email.body,
    )

    [envelope] = smtp_server.inbox.received
    assert envelope.mail_from == "desk@desk.test"
    assert envelope.rcpt_tos == ["manager-a@example.com", "manager-b@example.com"]
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert message["Subject"] == "[SLA breached] #42 Login issue: resolution overdue"
    assert message["From"] == "desk@desk.test"
    assert message["Message-ID"].endswith("@desk.test>")
    assert message["Date"]
    text = message.get_content()
    assert "Due:     2026-03-02 16:00 UTC" in text
    assert f"/tickets/{TICKET_ID}" in text


async def test_send_email_without_smtp_host_or_recipients_sends_nothing(smtp_server):
    unconfigured = _settings(smtp_port=smtp_server.port)
    configured = _settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    assert not email_enabled(unconfigured) and email_enabled(configured)

    await send_email(unconfigured, to=["a@example.com"], subject="s", body="b")
    await send_email(configured, to=[], subject="s", body="b")
    await send_email(configured, to=["  "], subject="s", body="b")

    assert smtp_server.inbox.received == []


async def test_permanent_refusal_is_a_permanent_error(smtp_server):
    smtp_server.inbox.refuse_rcpt = "550 5.1.1 no such user"
    settings = _settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port)

    with pytest.raises(EmailDeliveryError) as caught:
        await send_email(settings, to=["refused@example.com"], subject="s", body="b")

    assert caught.value.permanent is True
    assert "refused" in str(caught.value)
    assert smtp_server.inbox.received == []


async def test_temporary_refusal_is_retryable(smtp_server):
    smtp_server.inbox.refuse_rcpt = "451 4.3.0 try again later"
    settings = _settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port)

    with pytest.raises(EmailDeliveryError) as caught:
        await send_email(settings, to=["refused@example.com"], subject="s", body="b")

    assert caught.value.permanent is False


async def test_partly_refused_recipients_still_deliver_to_the_others(smtp_server):
    smtp_server.inbox.refuse_rcpt = "550 5.1.1 no such user"
    settings = _settings(smtp_host="127.0.0.1", smtp_port=smtp_server.port)

    await send_email(settings, to=["refused@example.com", "ok@example.com"], subject="s", body="b")

    [envelope] = smtp_server.inbox.received
    assert envelope.rcpt_tos == ["ok@example.com"]


async def test_unreachable_server_is_a_retryable_error():
    settings = _settings(smtp_host="127.0.0.1", smtp_port=free_port())

    with pytest.raises(EmailDeliveryError) as caught:
        await send_email(settings, to=["a@example.com"], subject="s", body="b")

    assert caught.value.permanent is False
    assert "unreachable" in str(caught.value)
