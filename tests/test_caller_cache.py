"""The API remembers who a bearer token belongs to for a moment (desk/auth/callers.py),
and still refuses a deactivated or demoted user promptly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import event, update

from desk.auth.callers import MAX_ENTRIES, CallerCache
from desk.auth.models import User
from desk.enums import Role

ME = "/api/v1/auth/me"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app) -> Iterator[Clock]:
    """The app's caller cache, on a clock the test moves (TTL as configured)."""
    clock = Clock()
    kept = app.state.callers
    app.state.callers = CallerCache(app.state.settings.principal_cache_seconds, clock=clock)
    yield clock
    app.state.callers = kept


@pytest.fixture
def user_lookups(app):
    """How many statements read the users table, from the app's own engine."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "FROM users" in statement:
            seen.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


async def _deactivate_in_database(sessionmaker, user: User) -> None:
    """As another API process or an operator's SQL would: this process is not told."""
    async with sessionmaker() as session:
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
        await session.commit()


async def test_a_callers_lookup_is_reused_within_the_ttl(client, world, login, clock, user_lookups):
    org = await world.org()
    headers = await login(await world.user(org, Role.AGENT))

    assert (await client.get(ME, headers=headers)).status_code == 200
    looked_up = len(user_lookups)
    assert looked_up >= 1
    clock.now += 0.5
    for _ in range(3):
        assert (await client.get(ME, headers=headers)).status_code == 200
    assert len(user_lookups) == looked_up  # no new read of the caller


async def test_a_user_deactivated_elsewhere_is_refused_once_the_ttl_passes(
    client, world, login, clock, sessionmaker, app
):
    org = await world.org()
    user = await world.user(org, Role.AGENT)
    headers = await login(user)
    assert (await client.get(ME, headers=headers)).status_code == 200

    await _deactivate_in_database(sessionmaker, user)
    clock.now += app.state.settings.principal_cache_seconds

    response = await client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_a_user_deactivated_through_the_api_is_refused_at_once(client, world, login, clock):
    org = await world.org()
    admin_h = await login(await world.user(org, Role.ADMIN))
    user = await world.user(org, Role.AGENT)
    headers = await login(user)
    assert (await client.get(ME, headers=headers)).status_code == 200

    changed = await client.patch(
        f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin_h
    )
    assert changed.status_code == 200, changed.text

    assert (await client.get(ME, headers=headers)).status_code == 401  # clock not moved


async def test_a_demotion_through_the_api_applies_at_once(client, world, login, clock):
    org = await world.org()
    admin_h = await login(await world.user(org, Role.ADMIN))
    manager = await world.user(org, Role.MANAGER)
    headers = await login(manager)
    assert (await client.get("/api/v1/internal/tickets/new", headers=headers)).status_code == 200

    changed = await client.patch(
        f"/api/v1/admin/users/{manager.id}", json={"role": "CUSTOMER"}, headers=admin_h
    )
    assert changed.status_code == 200, changed.text

    me = await client.get(ME, headers=headers)
    assert me.status_code == 200 and me.json()["role"] == "CUSTOMER"
    assert (await client.get("/api/v1/internal/tickets/new", headers=headers)).status_code == 403


def test_the_cache_expires_forgets_and_stays_bounded():
    clock = Clock()
    cache = CallerCache(2.0, clock=clock)
    alice, bob = User(id=uuid.uuid4()), User(id=uuid.uuid4())
    cache.put("a1", alice)
    cache.put("a2", alice)
    cache.put("b1", bob)
    assert cache.get("a1") is alice
    cache.forget_user(alice.id)
    assert cache.get("a1") is None and cache.get("a2") is None and cache.get("b1") is bob
    clock.now += 2.0
    assert cache.get("b1") is None

    for i in range(MAX_ENTRIES + 1):
        cache.put(f"t{i}", bob)
    assert len(cache._entries) <= MAX_ENTRIES

    off = CallerCache(0)
    off.put("a1", alice)
    assert off.get("a1") is None
