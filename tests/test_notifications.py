"""In-app notifications: idempotent fan-out, managers, the caller's list and marking read;
and the delivery records of emails and webhook events."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from desk.enums import Role
from desk.notifications import deliveries
from desk.notifications.models import EmailDelivery, Notification, Webhook, WebhookDelivery
from desk.notifications.service import active_managers, notify_users

NOTIFICATIONS = "/api/v1/notifications"


def _b64(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def _add(sessionmaker, user, *, minutes: int = 0, read: bool = False, title: str = ""):
    """A stored notification for ``user``, created ``minutes`` after T0."""
    async with sessionmaker() as session:
        notification = Notification(
            organization_id=user.organization_id,
            user_id=user.id,
            kind="SLA_BREACHED",
            title=title or f"at +{minutes}",
            body="",
            data={"minutes": minutes},
            dedupe_key=f"test:{uuid.uuid4()}",
            created_at=T0 + timedelta(minutes=minutes),
            read_at=T0 + timedelta(minutes=minutes + 1) if read else None,
        )
        session.add(notification)
        await session.commit()
        return notification


async def _rows_with_key(sessionmaker, prefix: str) -> list[Notification]:
    async with sessionmaker() as session:
        query = select(Notification).where(Notification.dedupe_key.startswith(prefix))
        return list((await session.execute(query)).scalars())


# --- Delivery records ------------------------------------------------------------------------


async def _delivery_values(world, model) -> dict:
    """The columns of a new ``model`` record besides the shared ones."""
    org = await world.org()
    if model is EmailDelivery:
        return {"organization_id": org.id, "recipient": "someone@desk.test", "subject": "s"}
    async with world.sessionmaker() as session:
        webhook = Webhook(
            organization_id=org.id, url="https://hooks.desk.test/", secret="s" * 16, events=[]
        )
        session.add(webhook)
        await session.commit()
    return {"organization_id": org.id, "webhook_id": webhook.id, "event": "SLA_BREACHED"}


@pytest.mark.parametrize("model", [EmailDelivery, WebhookDelivery])
async def test_a_delivery_counts_each_attempt_until_it_is_settled_once(world, sessionmaker, model):
    key = f"test:{uuid.uuid4()}"
    values = await _delivery_values(world, model)

    first = await deliveries.claim(sessionmaker, model, key, values=values)
    await deliveries.settle(sessionmaker, model, key, deliveries.PENDING, error="x" * 3000)
    second = await deliveries.claim(sessionmaker, model, key, values=values)
    await deliveries.settle(sessionmaker, model, key, deliveries.FAILED, error="refused")
    await deliveries.settle(sessionmaker, model, key, "sent")  # an overlapping attempt, late
    settled = await deliveries.claim(sessionmaker, model, key, values=values)

    assert (first.status, first.attempts, first.last_error) == ("pending", 1, None)
    assert (second.status, second.attempts) == ("pending", 2)
    assert second.last_error == "x" * deliveries.ERROR_MAX_LENGTH
    assert (settled.status, settled.attempts, settled.last_error) == ("failed", 2, "refused")


async def test_a_pending_email_is_claimed_for_the_address_the_user_has_now(world, sessionmaker):
    key = f"test:{uuid.uuid4()}"
    values = await _delivery_values(world, EmailDelivery)

    await deliveries.claim(sessionmaker, EmailDelivery, key, values=values)
    again = await deliveries.claim(
        sessionmaker, EmailDelivery, key, values=values, current={"recipient": "new@desk.test"}
    )

    assert (again.recipient, again.attempts) == ("new@desk.test", 2)


# --- Fan-out for the workflow's activities ------------------------------------------------


async def test_notify_users_inserts_one_row_per_user_exactly_once(world, sessionmaker):
    org = await world.org()
    first, second, third = [await world.user(org, Role.MANAGER) for _ in range(3)]
    key = f"ticket-{uuid.uuid4()}:resolution:breach:1"
    kwargs = {
        "organization_id": str(org.id),
        "ticket_id": None,
        "kind": "SLA_BREACHED",
        "title": "#42 Login issue: resolution breached",
        "body": "due 17:00",
        "data": {"metric": "resolution"},
        "dedupe_key": key,
    }

    async with sessionmaker() as session:
        created = await notify_users(
            session, user_ids=[str(first.id), second.id, first.id], **kwargs
        )
        await session.commit()
    async with sessionmaker() as session:  # a retried activity
        again = await notify_users(session, user_ids=[first.id, second.id], **kwargs)
        await session.commit()
    async with sessionmaker() as session:  # a retry that now also sees a new manager
        late = await notify_users(session, user_ids=[first.id, second.id, third.id], **kwargs)
        await session.commit()

    assert [n.user_id for n in created] == [first.id, second.id]
    assert created[0].dedupe_key == f"{key}:{first.id}"
    assert created[0].title == kwargs["title"] and created[0].data == {"metric": "resolution"}
    assert again == []
    assert [n.user_id for n in late] == [third.id]
    rows = await _rows_with_key(sessionmaker, key)
    assert sorted(r.user_id for r in rows) == sorted([first.id, second.id, third.id])
    assert {r.organization_id for r in rows} == {org.id}


async def test_notify_users_with_nobody_or_a_bad_key_does_nothing(world, sessionmaker):
    org = await world.org()
    user = await world.user(org, Role.AGENT)
    async with sessionmaker() as session:
        common = {"organization_id": org.id, "ticket_id": None, "kind": "SLA_WARNING", "title": "t"}
        assert await notify_users(session, user_ids=[], dedupe_key="k", **common) == []
        with pytest.raises(ValueError, match="dedupe_key"):
            await notify_users(session, user_ids=[user.id], dedupe_key="x" * 170, **common)
        with pytest.raises(ValueError, match="dedupe_key"):
            await notify_users(session, user_ids=[user.id], dedupe_key="", **common)
        count = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.user_id == user.id)
        )
    assert count == 0


async def test_active_managers_are_the_organizations_active_managers_only(world, sessionmaker):
    org, other = await world.org(), await world.org()
    manager_b = await world.user(org, Role.MANAGER, email=f"b-{uuid.uuid4().hex[:8]}@x.test")
    manager_a = await world.user(org, Role.MANAGER, email=f"a-{uuid.uuid4().hex[:8]}@x.test")
    await world.user(org, Role.MANAGER, is_active=False)
    await world.user(org, Role.ADMIN)
    await world.user(org, Role.AGENT)
    await world.user(other, Role.MANAGER)

    async with sessionmaker() as session:
        managers = await active_managers(session, org.id)
        by_string = await active_managers(session, str(org.id))

    assert [m.id for m in managers] == [manager_a.id, manager_b.id]
    assert [m.id for m in by_string] == [manager_a.id, manager_b.id]


# --- GET /api/v1/notifications ------------------------------------------------------------


async def test_list_shows_only_the_callers_notifications_newest_first(
    client, world, login, sessionmaker
):
    org, other_org = await world.org(), await world.org()
    me = await world.user(org, Role.AGENT)
    colleague = await world.user(org, Role.AGENT)
    stranger = await world.user(other_org, Role.AGENT)
    mine = [await _add(sessionmaker, me, minutes=m) for m in (5, 1, 9)]
    await _add(sessionmaker, colleague, minutes=3)
    await _add(sessionmaker, stranger, minutes=4)

    response = await client.get(NOTIFICATIONS, headers=await login(me))

    assert response.status_code == 200, response.text
    body = response.json()
    assert [n["id"] for n in body] == [str(mine[2].id), str(mine[0].id), str(mine[1].id)]
    assert body[0]["read"] is False and body[0]["read_at"] is None
    assert body[0]["data"] == {"minutes": 9}
    assert set(body[0]) >= {"id", "ticket_id", "kind", "title", "body", "created_at"}
    assert "X-Next-Cursor" not in response.headers


async def test_unread_filter(client, world, login, sessionmaker):
    org = await world.org()
    me = await world.user(org, Role.MANAGER)
    unread = await _add(sessionmaker, me, minutes=1)
    read = await _add(sessionmaker, me, minutes=2, read=True)
    headers = await login(me)

    only_unread = await client.get(NOTIFICATIONS, params={"unread": "true"}, headers=headers)
    only_read = await client.get(NOTIFICATIONS, params={"unread": "false"}, headers=headers)

    assert [n["id"] for n in only_unread.json()] == [str(unread.id)]
    assert [n["id"] for n in only_read.json()] == [str(read.id)]
    assert only_read.json()[0]["read"] is True


async def test_cursor_pages_cover_everything_once_even_with_equal_timestamps(
    client, world, login, sessionmaker
):
    org = await world.org()
    me = await world.user(org, Role.AGENT)
    # Five share one instant: the cursor must break ties by id, not skip or repeat.
    for minutes in (0, 0, 0, 0, 0, 1, 2):
        await _add(sessionmaker, me, minutes=minutes)
    headers = await login(me)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await client.get(NOTIFICATIONS, params=params, headers=headers)
        assert response.status_code == 200, response.text
        seen += [n["id"] for n in response.json()]
        pages += 1
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            break

    everything = (await client.get(NOTIFICATIONS, headers=headers)).json()
    assert seen == [n["id"] for n in everything]
    assert len(set(seen)) == 7
    assert pages == 4


async def test_offset_pagination(client, world, login, sessionmaker):
    org = await world.org()
    me = await world.user(org, Role.AGENT)
    stored = [await _add(sessionmaker, me, minutes=m) for m in range(5)]
    headers = await login(me)

    page = await client.get(NOTIFICATIONS, params={"limit": 2, "offset": 2}, headers=headers)

    assert [n["id"] for n in page.json()] == [str(stored[2].id), str(stored[1].id)]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"cursor": "not a cursor"},
        {"cursor": _b64("nope")},
        {"cursor": "A" * 33},
        {"cursor": "%%%"},
        {"unread": "maybe"},
    ],
)
async def test_bad_pagination_is_422(client, world, login, params):
    org = await world.org()
    me = await world.user(org, Role.AGENT)

    response = await client.get(NOTIFICATIONS, params=params, headers=await login(me))

    assert response.status_code == 422, response.text


async def test_an_offset_counts_on_from_the_cursor(client, world, login, sessionmaker):
    org = await world.org()
    me = await world.user(org, Role.AGENT)
    stored = [await _add(sessionmaker, me, minutes=minutes) for minutes in range(3)]
    headers = await login(me)
    first = await client.get(NOTIFICATIONS, params={"limit": 1}, headers=headers)
    cursor = first.headers["X-Next-Cursor"]
    assert f"cursor={cursor}" in first.headers["Link"] and 'rel="next"' in first.headers["Link"]

    both = await client.get(NOTIFICATIONS, params={"cursor": cursor, "offset": 1}, headers=headers)

    assert both.status_code == 200, both.text
    assert [n["id"] for n in both.json()] == [str(stored[0].id)]  # newest first: 2, [1], 0


async def test_limit_defaults_to_50_and_goes_to_200(client, world, login, sessionmaker):
    org = await world.org()
    me = await world.user(org, Role.CUSTOMER)
    async with sessionmaker() as session:
        session.add_all(
            Notification(
                organization_id=org.id,
                user_id=me.id,
                kind="SLA_WARNING",
                title=str(i),
                dedupe_key=f"bulk:{uuid.uuid4()}",
                created_at=T0 + timedelta(seconds=i),
            )
            for i in range(60)
        )
        await session.commit()
    headers = await login(me)

    default = await client.get(NOTIFICATIONS, headers=headers)
    larger = await client.get(NOTIFICATIONS, params={"limit": 200}, headers=headers)

    assert len(default.json()) == 50 and "X-Next-Cursor" in default.headers
    assert len(larger.json()) == 60 and "X-Next-Cursor" not in larger.headers


async def test_listing_needs_authentication(client):
    response = await client.get(NOTIFICATIONS)
    assert response.status_code == 401


# --- POST /api/v1/notifications/{id}/read ---------------------------------------------


async def test_mark_read_is_idempotent(client, world, login, sessionmaker):
    org = await world.org()
    me = await world.user(org, Role.AGENT)
    notification = await _add(sessionmaker, me)
    headers = await login(me)

    first = await client.post(f"{NOTIFICATIONS}/{notification.id}/read", headers=headers)
    second = await client.post(f"{NOTIFICATIONS}/{notification.id}/read", headers=headers)

    assert first.status_code == 200, first.text
    assert first.json()["read"] is True and first.json()["read_at"] is not None
    assert second.status_code == 200
    assert second.json()["read_at"] == first.json()["read_at"]
    unread = await client.get(NOTIFICATIONS, params={"unread": True}, headers=headers)
    assert unread.json() == []


async def test_another_users_notification_is_404_and_stays_unread(
    client, world, login, sessionmaker
):
    org, other_org = await world.org(), await world.org()
    me = await world.user(org, Role.MANAGER)
    colleagues = await _add(sessionmaker, await world.user(org, Role.AGENT))
    strangers = await _add(sessionmaker, await world.user(other_org, Role.MANAGER))
    headers = await login(me)

    for notification_id in (colleagues.id, strangers.id, uuid.uuid4()):
        response = await client.post(f"{NOTIFICATIONS}/{notification_id}/read", headers=headers)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "not_found"
    async with sessionmaker() as session:
        for notification in (colleagues, strangers):
            assert (await session.get(Notification, notification.id)).read_at is None
    anonymous = await client.post(f"{NOTIFICATIONS}/{colleagues.id}/read")
    assert anonymous.status_code == 401
