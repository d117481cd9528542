"""SLA notices: their in-app notifications, and the email and webhook activities run for
real (ActivityEnvironment) against the test database, a real SMTP server (aiosmtpd) and a
real, signature-checking HTTP receiver."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import build_activities, close_activities
from activities.notifications import NotificationActivities
from desk.enums import Role
from desk.notifications.contracts import SlaNotice
from desk.notifications.email import EmailDeliveryError
from desk.notifications.models import EmailDelivery, Notification, WebhookDelivery
from desk.notifications.service import sla_recipients
from desk.notifications.sla_notices import count_announced, record_in_app
from desk.notifications.webhooks import RetryableDeliveryError, delivery_key
from tests.support.ports import free_port
from tests.support.receivers import SECRET
from tests.support.receivers import add_webhook as _webhook
from tests.support.tickets import make_ticket

DUE = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


# --- Fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
def run():
    """Run an activity the way a worker would (in an activity context)."""
    env = ActivityEnvironment()

    async def _run(fn, notice: SlaNotice):
        return await env.run(fn, notice)

    return _run


@pytest.fixture
async def acts(settings, sessionmaker) -> AsyncIterator[NotificationActivities]:
    activities = NotificationActivities(settings, sessionmaker)
    yield activities
    await activities.aclose()


def _with_smtp(settings, port: int):
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_from": "desk@desk.test"}
    )


async def _ticket(world, sessionmaker, org):
    customer = await world.user(org, Role.CUSTOMER)
    return await make_ticket(sessionmaker, org, customer)


def _notice(ticket, *, kind="breach", metric="resolution", assignee=None, cycle=1) -> SlaNotice:
    return SlaNotice(
        ticket_id=str(ticket.id),
        organization_id=str(ticket.organization_id),
        ticket_number=ticket.number,
        ticket_subject=ticket.subject,
        priority=str(ticket.priority),
        assignee_id=None if assignee is None else str(assignee.id),
        metric=metric,
        kind=kind,
        at=DUE + timedelta(seconds=1) if kind == "breach" else DUE - timedelta(hours=1),
        due_at=DUE,
        target_seconds=8 * 3600.0,
        dedupe_key=f"{ticket.id}:{metric}:{kind}:{cycle}",
    )


async def _notifications(sessionmaker, ticket) -> list[Notification]:
    async with sessionmaker() as session:
        query = select(Notification).where(Notification.ticket_id == ticket.id)
        return list((await session.execute(query)).scalars())


async def _emails(sessionmaker, notice: SlaNotice) -> dict[str, EmailDelivery]:
    async with sessionmaker() as session:
        query = select(EmailDelivery).where(EmailDelivery.dedupe_key.startswith(notice.dedupe_key))
        return {e.recipient: e for e in (await session.execute(query)).scalars()}


async def _webhook_delivery(sessionmaker, notice: SlaNotice, webhook) -> WebhookDelivery | None:
    key = delivery_key(notice.dedupe_key, webhook.id)
    async with sessionmaker() as session:
        query = select(WebhookDelivery).where(WebhookDelivery.dedupe_key == key)
        return (await session.execute(query)).scalar_one_or_none()


def _counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _staff(world, org):
    """Two active managers, an inactive one, an agent and an admin."""
    managers = [await world.user(org, Role.MANAGER) for _ in range(2)]
    await world.user(org, Role.MANAGER, is_active=False)
    agent = await world.user(org, Role.AGENT)
    await world.user(org, Role.ADMIN)
    return managers, agent


# --- Recipients -------------------------------------------------------------------------


async def test_warning_goes_to_the_active_assignee_else_to_the_active_managers(world, session):
    org, other = await world.org(), await world.org()
    managers, agent = await _staff(world, org)
    gone = await world.user(org, Role.AGENT, is_active=False)
    stranger = await world.user(other, Role.AGENT)
    await world.user(other, Role.MANAGER)
    manager_ids = sorted(m.id for m in managers)

    async def recipients(assignee) -> list[uuid.UUID]:
        users = await sla_recipients(session, str(org.id), "warning", assignee)
        return sorted(u.id for u in users)

    assert await recipients(agent.id) == [agent.id]
    assert await recipients(str(agent.id)) == [agent.id]
    assert await recipients(None) == manager_ids
    assert await recipients(gone.id) == manager_ids  # inactive assignee: the managers
    assert await recipients(stranger.id) == manager_ids  # never another tenant's user


async def test_breach_goes_to_every_active_manager_of_the_organization_only(world, session):
    org, other = await world.org(), await world.org()
    managers, agent = await _staff(world, org)
    await world.user(other, Role.MANAGER)

    breach = await sla_recipients(session, org.id, "breach", agent.id)

    assert sorted(u.id for u in breach) == sorted(m.id for m in managers)
    with pytest.raises(ValueError, match="unknown SLA notice kind"):
        await sla_recipients(session, org.id, "breached", None)


# --- In-app (written by the projection) ------------------------------------------------


async def _record_in_app(sessionmaker, notice: SlaNotice) -> int:
    """What the projection does with a notice: record it, and count it if it was new."""
    async with sessionmaker() as session, session.begin():
        inserted = await record_in_app(session, notice)
    if inserted:
        count_announced(notice)
    return inserted


async def test_a_breach_notifies_each_manager_in_app_once(world, sessionmaker):
    org, other = await world.org(), await world.org()
    managers, agent = await _staff(world, org)
    await world.user(other, Role.MANAGER)
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket, kind="breach", metric="first_response", assignee=agent)
    breaches = _counter("desk_sla_breaches_total")

    assert await _record_in_app(sessionmaker, notice) == 2
    assert await _record_in_app(sessionmaker, notice) == 0  # a retry

    rows = await _notifications(sessionmaker, ticket)
    assert sorted(n.user_id for n in rows) == sorted(m.id for m in managers)
    number = ticket.number
    for row in rows:
        assert row.organization_id == org.id and row.kind == "SLA_BREACHED"
        assert row.title == f"SLA breached: #{number} Printer on fire (first response)"
        assert row.body == (
            f"The first response target of ticket #{number} was breached: "
            "it was due 2026-03-02 16:00 UTC."
        )
        assert row.data == {
            "ticket_id": str(ticket.id),
            "ticket_number": number,
            "metric": "first_response",
            "kind": "breach",
            "due_at": "2026-03-02T16:00:00+00:00",
        }
        assert row.dedupe_key == f"{notice.dedupe_key}:{row.user_id}"
    assert _counter("desk_sla_breaches_total") == breaches + 1


async def test_a_warning_notifies_the_assignee_in_app(world, sessionmaker):
    org = await world.org()
    _managers, agent = await _staff(world, org)
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket, kind="warning", assignee=agent)
    warnings = _counter("desk_sla_warnings_total")

    assert await _record_in_app(sessionmaker, notice) == 1
    assert await _record_in_app(sessionmaker, notice) == 0

    [row] = await _notifications(sessionmaker, ticket)
    assert row.user_id == agent.id and row.kind == "SLA_WARNING"
    assert row.title == f"SLA warning: #{ticket.number} Printer on fire (resolution)"
    assert (
        row.body == f"The resolution target of ticket #{ticket.number} is due 2026-03-02 16:00 UTC."
    )
    assert _counter("desk_sla_warnings_total") == warnings + 1


async def test_a_new_cycle_is_a_new_notification(world, sessionmaker):
    org = await world.org()
    [manager] = [await world.user(org, Role.MANAGER)]
    ticket = await _ticket(world, sessionmaker, org)

    assert await _record_in_app(sessionmaker, _notice(ticket, cycle=1)) == 1
    assert await _record_in_app(sessionmaker, _notice(ticket, cycle=2)) == 1

    assert [n.user_id for n in await _notifications(sessionmaker, ticket)] == [manager.id] * 2


async def test_a_malformed_notice_fails_for_good(world, sessionmaker, acts, run):
    org = await world.org()
    ticket = await _ticket(world, sessionmaker, org)
    bad_kind = _notice(ticket, kind="overdue")
    naive = _notice(ticket)
    naive.due_at = naive.due_at.replace(tzinfo=None)

    for notice in (bad_kind, naive):
        for channel in (acts.notify_email, acts.notify_webhooks):
            with pytest.raises(ApplicationError) as caught:
                await run(channel, notice)
            assert caught.value.type == "InvalidNotice" and caught.value.non_retryable


# --- Email ------------------------------------------------------------------------------


async def test_notify_email_without_smtp_host_sends_nothing(world, sessionmaker, acts, run):
    org = await world.org()
    await world.user(org, Role.MANAGER)
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket)

    assert await run(acts.notify_email, notice) == 0
    assert await _emails(sessionmaker, notice) == {}


async def test_notify_email_sends_one_email_per_recipient_once(
    world, sessionmaker, settings, smtp_server, run
):
    org, other = await world.org(), await world.org()
    managers, _agent = await _staff(world, org)
    await world.user(other, Role.MANAGER)
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket)
    acts = NotificationActivities(_with_smtp(settings, smtp_server.port), sessionmaker)

    assert await run(acts.notify_email, notice) == 2
    assert await run(acts.notify_email, notice) == 0  # a retry sends nothing again

    received = smtp_server.inbox.received
    assert sorted(e.rcpt_tos[0] for e in received) == sorted(m.email for m in managers)
    assert all(len(e.rcpt_tos) == 1 for e in received)
    message = message_from_bytes(received[0].content, policy=policy.default)
    assert message["Subject"] == f"[SLA breached] #{ticket.number} Printer on fire: " + (
        "resolution overdue"
    )
    text = message.get_content()
    assert "Due:     2026-03-02 16:00 UTC" in text
    assert f"http://desk.test/tickets/{ticket.id}" in text
    records = await _emails(sessionmaker, notice)
    assert sorted(records) == sorted(m.email for m in managers)
    for manager in managers:
        record = records[manager.email]
        assert record.dedupe_key == f"{notice.dedupe_key}:{manager.id}"
        assert (record.status, record.attempts, record.organization_id) == ("sent", 1, org.id)
        assert record.sent_at is not None and record.subject == message["Subject"]


async def test_smtp_down_raises_retryable_records_the_attempt_and_a_retry_sends(
    world, sessionmaker, settings, smtp_server, run
):
    org = await world.org()
    agent = await world.user(org, Role.AGENT)
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket, kind="warning", assignee=agent)
    down = NotificationActivities(_with_smtp(settings, free_port()), sessionmaker)
    failures = _counter("desk_notification_delivery_failures_total", channel="email")

    with pytest.raises(EmailDeliveryError) as caught:
        await run(down.notify_email, notice)

    assert not caught.value.permanent and "1 of 1 SLA emails to retry" in str(caught.value)
    record = (await _emails(sessionmaker, notice))[agent.email]
    assert (record.status, record.attempts, record.sent_at) == ("pending", 1, None)
    assert "unreachable" in record.last_error
    assert _counter("desk_notification_delivery_failures_total", channel="email") == (failures + 1)

    up = NotificationActivities(_with_smtp(settings, smtp_server.port), sessionmaker)
    assert await run(up.notify_email, notice) == 1

    [envelope] = smtp_server.inbox.received
    assert envelope.rcpt_tos == [agent.email]
    record = (await _emails(sessionmaker, notice))[agent.email]
    assert (record.status, record.attempts) == ("sent", 2)


async def test_a_permanent_refusal_is_recorded_and_fails_for_good(
    world, sessionmaker, settings, smtp_server, run
):
    org = await world.org()
    smtp_server.inbox.refuse_rcpt = "550 5.1.1 no such user"
    refused = await world.user(
        org, Role.MANAGER, email=f"refused-{uuid.uuid4().hex[:8]}@example.com"
    )
    fine = await world.user(org, Role.MANAGER)
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket)
    acts = NotificationActivities(_with_smtp(settings, smtp_server.port), sessionmaker)

    for _attempt in range(2):  # a second run neither re-sends nor forgets the refusal
        with pytest.raises(ApplicationError) as caught:
            await run(acts.notify_email, notice)
        assert caught.value.type == "EmailRejected" and caught.value.non_retryable
        assert refused.email in str(caught.value)

    [envelope] = smtp_server.inbox.received
    assert envelope.rcpt_tos == [fine.email]
    records = await _emails(sessionmaker, notice)
    assert (records[refused.email].status, records[refused.email].attempts) == ("failed", 1)
    assert "550" in records[refused.email].last_error
    assert (records[fine.email].status, records[fine.email].attempts) == ("sent", 1)


# --- Webhooks ---------------------------------------------------------------------------


async def test_notify_webhooks_posts_a_signed_event_once_per_subscribed_webhook(
    world, sessionmaker, acts, run, receiver
):
    org, other = await world.org(), await world.org()
    hook = await _webhook(world, org, receiver.url("/org"), events=["SLA_BREACHED"])
    await _webhook(world, org, receiver.url("/warnings-only"), events=["SLA_WARNING"])
    await _webhook(world, org, receiver.url("/inactive"), is_active=False)
    await _webhook(world, other, receiver.url("/other-org"))
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket, kind="breach", metric="resolution")

    assert await run(acts.notify_webhooks, notice) == 1
    assert await run(acts.notify_webhooks, notice) == 0  # a retry posts nothing again

    [request] = receiver.requests
    assert request.path == "/org" and request.signature_valid
    assert json.loads(request.body) == {
        "event": "SLA_BREACHED",
        "delivery_id": delivery_key(notice.dedupe_key, hook.id),
        "data": {
            "event": "SLA_BREACHED",
            "ticket": {
                "id": str(ticket.id),
                "number": ticket.number,
                "subject": "Printer on fire",
                "priority": "HIGH",
                "url": f"http://desk.test/tickets/{ticket.id}",
            },
            "metric": "resolution",
            "kind": "breach",
            "at": "2026-03-02T16:00:01+00:00",
            "due_at": "2026-03-02T16:00:00+00:00",
            "target_seconds": 28800.0,
        },
    }
    record = await _webhook_delivery(sessionmaker, notice, hook)
    assert (record.status, record.status_code, record.attempts) == ("delivered", 200, 1)


async def test_webhook_5xx_raises_retryable_and_the_retry_delivers(
    world, sessionmaker, acts, run, receiver
):
    org = await world.org()
    receiver.status["/flaky"] = 500
    hook = await _webhook(world, org, receiver.url("/flaky"), events=["SLA_WARNING"])
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket, kind="warning")
    failures = _counter("desk_notification_delivery_failures_total", channel="webhook")

    with pytest.raises(RetryableDeliveryError):
        await run(acts.notify_webhooks, notice)

    record = await _webhook_delivery(sessionmaker, notice, hook)
    assert (record.status, record.status_code, record.attempts) == ("pending", 500, 1)
    assert _counter("desk_notification_delivery_failures_total", channel="webhook") == (
        failures + 1
    )

    receiver.status["/flaky"] = 200
    assert await run(acts.notify_webhooks, notice) == 1
    assert receiver.paths() == ["/flaky", "/flaky"]
    record = await _webhook_delivery(sessionmaker, notice, hook)
    assert (record.status, record.attempts) == ("delivered", 2)


async def test_webhook_4xx_is_recorded_failed_without_raising(
    world, sessionmaker, acts, run, receiver
):
    org = await world.org()
    receiver.status["/gone"] = 400
    hook = await _webhook(world, org, receiver.url("/gone"))
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket)
    failures = _counter("desk_notification_delivery_failures_total", channel="webhook")

    assert await run(acts.notify_webhooks, notice) == 0
    assert await run(acts.notify_webhooks, notice) == 0

    assert receiver.paths() == ["/gone"]
    record = await _webhook_delivery(sessionmaker, notice, hook)
    assert (record.status, record.status_code, record.attempts) == ("failed", 400, 1)
    assert _counter("desk_notification_delivery_failures_total", channel="webhook") == (
        failures + 1
    )


async def test_a_wrong_secret_is_refused_by_the_receiver_and_given_up(
    world, sessionmaker, acts, run, receiver
):
    org = await world.org()
    hook = await _webhook(world, org, receiver.url("/strict"), secret=SECRET[::-1])
    ticket = await _ticket(world, sessionmaker, org)
    notice = _notice(ticket)

    assert await run(acts.notify_webhooks, notice) == 0

    assert receiver.requests[0].signature_valid is False
    record = await _webhook_delivery(sessionmaker, notice, hook)
    assert (record.status, record.status_code) == ("failed", 401)


# --- Wiring -----------------------------------------------------------------------------


async def test_the_http_client_is_created_once_and_closed_by_aclose(
    world, sessionmaker, settings, run, receiver
):
    org = await world.org()
    await _webhook(world, org, receiver.url("/a"))
    acts = NotificationActivities(settings, sessionmaker)
    first, second = [_notice(await _ticket(world, sessionmaker, org)) for _ in range(2)]

    await run(acts.notify_webhooks, first)
    client = acts._http
    await run(acts.notify_webhooks, second)

    assert client is not None and acts._http is client and not client.is_closed
    await close_activities([*build_activities(settings, sessionmaker), acts.notify_webhooks])
    assert client.is_closed and acts._http is None
    await acts.aclose()  # twice is fine


def test_the_worker_registers_the_channels_under_the_names_the_workflow_calls(
    settings, sessionmaker
):
    activities = build_activities(settings, sessionmaker)
    names = [getattr(fn, "__temporal_activity_definition").name for fn in activities]

    # In-app notices have no activity: the projection writes them.
    assert {n for n in names if n.startswith("notify_")} == {"notify_email", "notify_webhooks"}


async def test_a_notice_survives_temporals_json_converter():
    notice = SlaNotice(
        ticket_id=str(uuid.uuid4()),
        organization_id=str(uuid.uuid4()),
        ticket_number=7,
        ticket_subject="s",
        priority="HIGH",
        assignee_id=None,
        metric="accept",
        kind="warning",
        at=DUE,
        due_at=DUE,
        target_seconds=60.0,
        dedupe_key="k",
    )
    converter = DataConverter.default

    [back] = await converter.decode(await converter.encode([notice]), [SlaNotice])

    assert back == notice and back.due_at.tzinfo is not None
