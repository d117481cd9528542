"""Webhooks: the admin API, HMAC signing, and delivery to a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities
from desk.app import create_app
from desk.enums import Role
from desk.notifications import webhooks
from desk.notifications.contracts import SlaNotice
from desk.notifications.models import Webhook, WebhookDelivery
from desk.notifications.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    ForbiddenTarget,
    RetryableDeliveryError,
    check_target,
    deliver,
    deliver_event,
    delivery_key,
    forbidden_reason,
    pin,
    sign,
    verify_signature,
    webhooks_for_event,
)
from desk.settings import Settings
from tests.support.ports import free_port
from tests.support.receivers import SECRET
from tests.support.receivers import add_webhook as _webhook

WEBHOOKS = "/api/v1/admin/webhooks"
PAYLOAD = {"ticket_id": "t-1", "number": 42, "metric": "resolution"}
# The receiver listens on loopback: deliveries to it need private targets allowed.
LOCAL = {"allow_private_targets": True}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def _delivery(sessionmaker, key: str) -> WebhookDelivery | None:
    async with sessionmaker() as session:
        query = select(WebhookDelivery).where(WebhookDelivery.dedupe_key == key)
        return (await session.execute(query)).scalar_one_or_none()


# --- Signing --------------------------------------------------------------------------


def test_sign_is_hmac_sha256_hex():
    # The well-known HMAC-SHA256 test vector.
    body = b"The quick brown fox jumps over the lazy dog"
    expected = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    assert sign("key", body) == expected
    assert verify_signature("key", body, expected)
    assert not verify_signature("key", body + b" ", expected)
    assert not verify_signature("other", body, expected)
    assert not verify_signature("key", body, None)


# --- Delivery -------------------------------------------------------------------------


async def test_delivery_is_signed_recorded_and_never_resent(world, sessionmaker, http, receiver):
    org = await world.org()
    webhook = await _webhook(world, org, receiver.url("/hooks/ok"))
    dedupe = f"ticket-{uuid.uuid4()}:resolution:breach:1"

    result = await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, dedupe, **LOCAL)
    again = await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, dedupe, **LOCAL)

    [request] = receiver.requests
    assert request.signature_valid
    assert request.headers["content-type"] == "application/json"
    assert request.headers[EVENT_HEADER.lower()] == "SLA_BREACHED"
    assert request.headers[DELIVERY_HEADER.lower()] == delivery_key(dedupe, webhook.id)
    assert request.headers[SIGNATURE_HEADER.lower()] == sign(SECRET, request.body)
    assert json.loads(request.body) == {
        "event": "SLA_BREACHED",
        "delivery_id": delivery_key(dedupe, webhook.id),
        "data": PAYLOAD,
    }
    assert (result.status, result.status_code, result.attempts, result.sent) == (
        "delivered",
        200,
        1,
        True,
    )
    assert (again.status, again.sent) == ("delivered", False)
    record = await _delivery(sessionmaker, delivery_key(dedupe, webhook.id))
    assert record.status == "delivered" and record.delivered_at is not None
    assert (record.status_code, record.attempts, record.event) == (200, 1, "SLA_BREACHED")
    assert record.organization_id == org.id


async def test_4xx_is_given_up_recorded_and_not_retried(world, sessionmaker, http, receiver):
    org = await world.org()
    receiver.status["/hooks/gone"] = 410
    webhook = await _webhook(world, org, receiver.url("/hooks/gone"))
    dedupe = f"d-{uuid.uuid4()}"

    result = await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, dedupe, **LOCAL)
    again = await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, dedupe, **LOCAL)

    assert (result.status, result.status_code, result.sent) == ("failed", 410, True)
    assert (again.status, again.sent) == ("failed", False)
    assert receiver.paths() == ["/hooks/gone"]
    record = await _delivery(sessionmaker, delivery_key(dedupe, webhook.id))
    assert record.status == "failed" and record.status_code == 410
    assert "HTTP 410" in record.last_error and record.delivered_at is None


async def test_a_wrong_secret_is_rejected_by_the_receiver(world, sessionmaker, http, receiver):
    org = await world.org()
    webhook = await _webhook(world, org, receiver.url("/hooks/ok"), secret="x" * 16)

    result = await deliver(
        http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, "wrong-secret", **LOCAL
    )

    assert receiver.requests[0].signature_valid is False
    assert (result.status, result.status_code) == ("failed", 401)


@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_5xx_raises_retryable_and_a_retry_delivers(
    world, sessionmaker, http, receiver, status
):
    org = await world.org()
    receiver.status["/hooks/flaky"] = status
    webhook = await _webhook(world, org, receiver.url("/hooks/flaky"))
    dedupe = f"d-{uuid.uuid4()}"
    key = delivery_key(dedupe, webhook.id)

    with pytest.raises(RetryableDeliveryError) as caught:
        await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, dedupe, **LOCAL)
    assert caught.value.status_code == status
    pending = await _delivery(sessionmaker, key)
    assert (pending.status, pending.attempts, pending.status_code) == ("pending", 1, status)

    receiver.status["/hooks/flaky"] = 204
    result = await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, dedupe, **LOCAL)

    assert (result.status, result.status_code, result.attempts) == ("delivered", 204, 2)
    assert receiver.paths() == ["/hooks/flaky", "/hooks/flaky"]
    assert receiver.requests[0].body == receiver.requests[1].body
    assert (await _delivery(sessionmaker, key)).status == "delivered"


async def test_timeout_and_refused_connection_are_retryable(world, sessionmaker, http, receiver):
    org = await world.org()
    receiver.delay["/hooks/slow"] = 5
    slow = await _webhook(world, org, receiver.url("/hooks/slow"))
    down = await _webhook(world, org, f"http://127.0.0.1:{free_port()}/hooks")

    with pytest.raises(RetryableDeliveryError, match="Timeout"):
        await deliver(
            http, sessionmaker, slow, "SLA_BREACHED", PAYLOAD, "slow", http_timeout=0.3, **LOCAL
        )
    with pytest.raises(RetryableDeliveryError, match="ConnectError"):
        await deliver(http, sessionmaker, down, "SLA_BREACHED", PAYLOAD, "down", **LOCAL)

    for webhook, dedupe in ((slow, "slow"), (down, "down")):
        record = await _delivery(sessionmaker, delivery_key(dedupe, webhook.id))
        assert record.status == "pending" and record.attempts == 1 and record.last_error


async def test_webhooks_for_event_filters_event_activity_and_organization(world, sessionmaker):
    org, other = await world.org(), await world.org()
    breaches = await _webhook(world, org, "https://a.test/", events=["SLA_BREACHED"])
    both = await _webhook(world, org, "https://b.test/", events=["SLA_WARNING", "SLA_BREACHED"])
    await _webhook(world, org, "https://c.test/", events=["TICKET_CREATED"])
    await _webhook(world, org, "https://d.test/", events=["SLA_BREACHED"], is_active=False)
    await _webhook(world, other, "https://e.test/", events=["SLA_BREACHED"])

    async with sessionmaker() as session:
        breached = await webhooks_for_event(session, org.id, "SLA_BREACHED")
        warned = await webhooks_for_event(session, str(org.id), "SLA_WARNING")

    assert {w.id for w in breached} == {breaches.id, both.id}
    assert [w.id for w in warned] == [both.id]


async def test_deliver_event_isolates_failures_and_retries_only_the_unsettled(
    world, sessionmaker, http, receiver
):
    org = await world.org()
    receiver.status["/hooks/down"] = 502
    receiver.status["/hooks/gone"] = 404
    await _webhook(world, org, receiver.url("/hooks/ok"))
    await _webhook(world, org, receiver.url("/hooks/down"))
    await _webhook(world, org, receiver.url("/hooks/gone"))
    await _webhook(world, org, receiver.url("/hooks/other-event"), events=["SLA_WARNING"])
    dedupe = f"ticket-{uuid.uuid4()}:first_response:breach:1"
    args = {"organization_id": org.id, "event": "SLA_BREACHED", "payload": PAYLOAD}

    with pytest.raises(RetryableDeliveryError, match="1 of 3"):
        await deliver_event(http, sessionmaker, dedupe_key=dedupe, **args, **LOCAL)
    assert sorted(receiver.paths()) == ["/hooks/down", "/hooks/gone", "/hooks/ok"]

    receiver.status["/hooks/down"] = 200
    results = await deliver_event(http, sessionmaker, dedupe_key=dedupe, **args, **LOCAL)

    assert sorted(receiver.paths()) == ["/hooks/down", "/hooks/down", "/hooks/gone", "/hooks/ok"]
    assert sorted((r.status, r.sent) for r in results) == [
        ("delivered", False),
        ("delivered", True),
        ("failed", False),
    ]


# --- Admin API ------------------------------------------------------------------------


async def _admin(world, login, org=None):
    org = org or await world.org()
    return org, await login(await world.user(org, Role.ADMIN))


async def test_admin_creates_lists_and_deletes_webhooks_with_the_secret_masked(
    client, world, login, sessionmaker
):
    org, headers = await _admin(world, login)
    body = {
        "url": "https://hooks.example.com/desk",
        "secret": SECRET,
        "events": ["SLA_BREACHED", "SLA_WARNING", "SLA_BREACHED"],
    }

    created = await client.post(WEBHOOKS, json=body, headers=headers)

    assert created.status_code == 201, created.text
    webhook = created.json()
    assert webhook["url"] == "https://hooks.example.com/desk"
    assert webhook["events"] == ["SLA_BREACHED", "SLA_WARNING"]
    assert webhook["is_active"] is True
    assert webhook["secret_masked"].endswith(SECRET[-4:])
    assert SECRET not in created.text
    listed = await client.get(WEBHOOKS, headers=headers)
    assert [w["id"] for w in listed.json()] == [webhook["id"]]
    assert SECRET not in listed.text
    async with sessionmaker() as session:
        stored = await session.get(Webhook, uuid.UUID(webhook["id"]))
        assert stored.secret == SECRET and stored.organization_id == org.id

    deleted = await client.delete(f"{WEBHOOKS}/{webhook['id']}", headers=headers)

    assert deleted.status_code == 204
    assert (await client.get(f"{WEBHOOKS}/{webhook['id']}", headers=headers)).status_code == 404
    assert (await client.get(WEBHOOKS, headers=headers)).json() == []
    again = await client.delete(f"{WEBHOOKS}/{webhook['id']}", headers=headers)
    assert again.status_code == 404


@pytest.mark.parametrize(
    "overrides",
    [
        {"url": "ftp://hooks.example.com/"},
        {"url": "file:///etc/passwd"},
        {"url": "not a url"},
        {"url": "https://example.com/" + "a" * 2000},
        {"secret": "too-short"},
        {"secret": None},
        {"events": []},
        {"events": ["SLA_BREACHED", "TICKET_DELETED"]},
        {"events": "SLA_BREACHED"},
        {"active": True},
    ],
)
async def test_invalid_webhook_is_422(client, world, login, overrides):
    _org, headers = await _admin(world, login)
    body = {"url": "https://hooks.example.com/", "secret": SECRET, "events": ["SLA_BREACHED"]}

    response = await client.post(WEBHOOKS, json=body | overrides, headers=headers)

    assert response.status_code == 422, response.text


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.AGENT, Role.MANAGER])
async def test_webhook_routes_are_403_for_non_admins(client, world, login, role):
    org, _headers = await _admin(world, login)
    webhook = await _webhook(world, org, "https://hooks.example.com/")
    headers = await login(await world.user(org, role))
    body = {"url": "https://evil.example.com/", "secret": SECRET, "events": ["SLA_BREACHED"]}

    for method, path, payload in [
        ("POST", WEBHOOKS, body),
        ("GET", WEBHOOKS, None),
        ("GET", f"{WEBHOOKS}/{webhook.id}", None),
        ("DELETE", f"{WEBHOOKS}/{webhook.id}", None),
        ("GET", f"{WEBHOOKS}/{webhook.id}/deliveries", None),
    ]:
        response = await client.request(method, path, json=payload, headers=headers)
        assert response.status_code == 403, (method, path, response.text)

    async with world.sessionmaker() as session:
        assert await session.get(Webhook, webhook.id) is not None


async def test_another_organizations_webhook_is_404(client, world, login):
    _org_a, headers_a = await _admin(world, login)
    org_b, _headers_b = await _admin(world, login)
    webhook = await _webhook(world, org_b, "https://hooks.example.com/")

    for method, path in [
        ("GET", f"{WEBHOOKS}/{webhook.id}"),
        ("DELETE", f"{WEBHOOKS}/{webhook.id}"),
        ("GET", f"{WEBHOOKS}/{webhook.id}/deliveries"),
    ]:
        response = await client.request(method, path, headers=headers_a)
        assert response.status_code == 404, (method, path, response.text)
    assert (await client.get(WEBHOOKS, headers=headers_a)).json() == []
    async with world.sessionmaker() as session:
        assert await session.get(Webhook, webhook.id) is not None


async def test_admin_sees_a_webhooks_deliveries(client, world, login, sessionmaker, http, receiver):
    org, headers = await _admin(world, login)
    receiver.status["/hooks/gone"] = 400
    webhook = await _webhook(world, org, receiver.url("/hooks/gone"))
    await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, "seen-by-admin", **LOCAL)

    response = await client.get(f"{WEBHOOKS}/{webhook.id}/deliveries", headers=headers)

    assert response.status_code == 200, response.text
    [delivery] = response.json()
    assert delivery["status"] == "failed" and delivery["status_code"] == 400
    assert delivery["dedupe_key"] == delivery_key("seen-by-admin", webhook.id)


# --- Private targets (SSRF) -----------------------------------------------------------

REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[::1]/hook",
    "http://localhost:8080/hook",  # a name that resolves to loopback
    "http://[::ffff:169.254.169.254]/hook",  # IPv4-mapped IPv6
]


@pytest.mark.parametrize("allowed", [True, False])
async def test_a_host_spelled_as_a_bare_number_is_no_webhook_url(
    client, strict_client, world, login, allowed
):
    """``http://2130706433/`` is 127.0.0.1 to a URL parser: not a form the contract takes
    (DNS names, dotted IPv4, bracketed IPv6), whatever the private-target setting."""
    _org, headers = await _admin(world, login)
    body = {"url": "http://2130706433/hook", "secret": SECRET, "events": ["SLA_BREACHED"]}

    response = await (client if allowed else strict_client).post(
        WEBHOOKS, json=body, headers=headers
    )

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


@pytest.fixture
async def strict_client(settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app that refuses private webhook targets, as in prod."""
    application = create_app(settings.model_copy(update={"webhook_allow_private_targets": False}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
            yield http


@pytest.mark.parametrize(
    ("env", "value", "allowed"),
    [
        ("prod", None, False),
        ("dev", None, True),
        ("test", None, True),
        ("prod", "true", True),  # an explicit value always wins
        ("dev", "false", False),
    ],
)
def test_private_targets_are_allowed_by_default_only_in_dev_and_test(
    monkeypatch, env, value, allowed
):
    monkeypatch.setenv("DESK_ENV", env)
    monkeypatch.setenv("DESK_JWT_SECRET", "a-real-secret-" + uuid.uuid4().hex)
    if value is None:
        monkeypatch.delenv("DESK_WEBHOOK_ALLOW_PRIVATE_TARGETS", raising=False)
    else:
        monkeypatch.setenv("DESK_WEBHOOK_ALLOW_PRIVATE_TARGETS", value)

    assert Settings(_env_file=None).webhook_allow_private_targets is allowed


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 - an address under test, nothing binds it
        "224.0.0.1",  # multicast, which ipaddress calls global
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1%eth0",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1, which ipaddress calls global
    ],
)
def test_non_public_addresses_are_forbidden(address):
    assert forbidden_reason(address) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_not_forbidden(address):
    assert forbidden_reason(address) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("http://2130706433/", "127.0.0.1 is loopback"),  # resolving reads any spelling
        ("http://0x7f.1/", "127.0.0.1 is loopback"),
        ("http://localhost/", "is loopback"),
        ("http://[::ffff:7f00:1]/", "(127.0.0.1 is loopback)"),
    ],
)
async def test_check_target_refuses_other_schemes_and_private_hosts(url, reason):
    with pytest.raises(ForbiddenTarget, match=re.escape(reason)):
        await check_target(url)


async def test_check_target_returns_the_addresses_of_a_public_host():
    assert await check_target("https://8.8.8.8:8443/hook") == ["8.8.8.8"]


def test_pin_aims_at_the_address_and_keeps_the_name_for_host_and_tls():
    url, headers, extensions = pin("https://hooks.example.com:8443/a?b=1", "2606:4700::1111")

    assert str(url) == "https://[2606:4700::1111]:8443/a?b=1"
    assert headers == {"Host": "hooks.example.com:8443", "Connection": "close"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    plain_url, plain_headers, plain_extensions = pin("http://hooks.example.com/", "8.8.8.8")
    assert (str(plain_url), plain_headers["Host"], plain_extensions) == (
        "http://8.8.8.8/",
        "hooks.example.com",
        {},
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_delivery_to_a_private_target_is_refused_recorded_and_not_retried(
    world, sessionmaker, http, receiver, caplog, host
):
    org = await world.org()
    webhook = await _webhook(world, org, f"http://{host}:{receiver.port}/hooks/ok")
    dedupe = f"d-{uuid.uuid4()}"

    result = await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, dedupe)
    again = await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, dedupe)

    assert receiver.requests == []  # the receiver was listening, and got nothing
    assert (result.status, result.status_code, result.sent) == ("failed", None, True)
    assert (again.status, again.sent) == ("failed", False)
    record = await _delivery(sessionmaker, delivery_key(dedupe, webhook.id))
    assert record.status == "failed" and record.attempts == 1 and record.delivered_at is None
    assert "target refused" in record.last_error and "loopback" in record.last_error
    assert f"webhook {webhook.id}" in caplog.text and "target refused" in caplog.text


async def test_the_worker_refuses_a_private_target_without_failing_the_activity(
    world, sessionmaker, settings, receiver
):
    org = await world.org()
    webhook = await _webhook(world, org, receiver.url("/hooks/ok"))
    due = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    ticket_id = str(uuid.uuid4())
    notice = SlaNotice(
        ticket_id=ticket_id,
        organization_id=str(org.id),
        ticket_number=7,
        ticket_subject="Printer on fire",
        priority="HIGH",
        assignee_id=None,
        metric="resolution",
        kind="breach",
        at=due,
        due_at=due,
        target_seconds=3600.0,
        dedupe_key=f"{ticket_id}:resolution:breach:1",
    )
    strict = settings.model_copy(update={"webhook_allow_private_targets": False})
    acts = NotificationActivities(strict, sessionmaker)
    try:
        delivered = await ActivityEnvironment().run(acts.notify_webhooks, notice)
    finally:
        await acts.aclose()

    assert delivered == 0
    assert receiver.requests == []
    record = await _delivery(sessionmaker, delivery_key(notice.dedupe_key, webhook.id))
    assert record.status == "failed" and "target refused" in record.last_error


async def test_delivery_posts_to_the_address_that_was_checked(
    world, sessionmaker, http, receiver, monkeypatch
):
    # The name resolves only through the check (to the receiver), and loopback stands in
    # for a public address: the POST arrives only if it goes to the checked address rather
    # than asking DNS again, which could answer differently (DNS rebinding).
    async def resolve(host: str) -> list[str]:
        assert host == "hooks.example.test"
        return ["127.0.0.1"]

    monkeypatch.setattr(webhooks, "resolve", resolve)
    monkeypatch.setattr(webhooks, "forbidden_reason", lambda address: None)
    org = await world.org()
    webhook = await _webhook(world, org, f"http://hooks.example.test:{receiver.port}/hooks/ok")

    result = await deliver(http, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, "pinned")

    assert (result.status, result.status_code) == ("delivered", 200)
    [request] = receiver.requests
    assert request.signature_valid
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"


async def test_a_redirect_is_never_followed(world, sessionmaker, receiver):
    org = await world.org()
    receiver.status["/hooks/moved"] = 307
    receiver.location["/hooks/moved"] = receiver.url("/internal")
    webhook = await _webhook(world, org, receiver.url("/hooks/moved"))

    async with httpx.AsyncClient(follow_redirects=True) as following:  # even so
        result = await deliver(
            following, sessionmaker, webhook, "SLA_BREACHED", PAYLOAD, "moved", **LOCAL
        )

    assert receiver.paths() == ["/hooks/moved"]
    assert (result.status, result.status_code) == ("failed", 307)


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_registering_a_private_target_is_422_when_not_allowed(
    strict_client, world, login, url
):
    _org, headers = await _admin(world, login)
    body = {"url": url, "secret": SECRET, "events": ["SLA_BREACHED"]}

    response = await strict_client.post(WEBHOOKS, json=body, headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "webhook_target_forbidden"
    assert (await strict_client.get(WEBHOOKS, headers=headers)).json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8/hook",
        # Does not resolve now: accepted, DNS may change (each delivery checks it again).
        "https://hooks.example.test/desk",
    ],
)
async def test_registering_a_public_or_unresolved_target_is_allowed(
    strict_client, world, login, url
):
    _org, headers = await _admin(world, login)
    body = {"url": url, "secret": SECRET, "events": ["SLA_BREACHED"]}

    response = await strict_client.post(WEBHOOKS, json=body, headers=headers)

    assert response.status_code == 201, response.text


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_registering_a_private_target_is_allowed_when_allowed(client, world, login, url):
    _org, headers = await _admin(world, login)
    body = {"url": url, "secret": SECRET, "events": ["SLA_BREACHED"]}

    response = await client.post(WEBHOOKS, json=body, headers=headers)

    assert response.status_code == 201, response.text
