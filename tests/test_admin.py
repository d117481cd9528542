"""The admin API: users and services of an organization, ADMIN only, audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from desk.admin import service as admin_service
from desk.admin.models import Service
from desk.auth.models import RefreshToken, User
from desk.enums import Role
from desk.errors import Conflict, Unprocessable
from desk.tickets.models import AuditLog
from tests.support.world import PASSWORD

USERS = "/api/v1/admin/users"
SERVICES = "/api/v1/admin/services"
NEW_PASSWORD = "a brand new passphrase"


def _email() -> str:
    return f"new-{uuid.uuid4().hex[:10]}@example.com"


async def _admin(world, login, org=None):
    org = org or await world.org()
    admin = await world.user(org, Role.ADMIN)
    return org, admin, await login(admin)


async def _audit(sessionmaker, org_id: uuid.UUID, action: str) -> list[AuditLog]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(AuditLog)
            .where(AuditLog.organization_id == org_id, AuditLog.action == action)
            .order_by(AuditLog.created_at)
        )
        return list(rows.scalars())


# --- Role checks ----------------------------------------------------------------------


async def test_every_admin_route_is_403_for_customer_agent_and_manager(client, world, login):
    org = await world.org()
    target = await world.user(org, Role.CUSTOMER)
    async with world.sessionmaker() as session:
        svc = Service(organization_id=org.id, name="Email")
        session.add(svc)
        await session.commit()
    calls = [
        ("POST", USERS, {"email": _email(), "password": PASSWORD, "role": "AGENT"}),
        ("GET", USERS, None),
        ("PATCH", f"{USERS}/{target.id}", {"full_name": "Hacked"}),
        ("POST", SERVICES, {"name": "Sneaky"}),
        ("GET", SERVICES, None),
        ("PATCH", f"{SERVICES}/{svc.id}", {"name": "Renamed"}),
    ]
    for role in (Role.CUSTOMER, Role.AGENT, Role.MANAGER):
        caller = target if role is Role.CUSTOMER else await world.user(org, role)
        headers = await login(caller)
        for method, url, body in calls:
            response = await client.request(method, url, json=body, headers=headers)
            assert response.status_code == 403, (role, method, url, response.text)
            assert response.json()["code"] == "insufficient_role"


async def test_admin_routes_require_a_token(client):
    for method, url in [
        ("POST", USERS),
        ("GET", USERS),
        ("PATCH", f"{USERS}/{uuid.uuid4()}"),
        ("POST", SERVICES),
        ("GET", SERVICES),
        ("PATCH", f"{SERVICES}/{uuid.uuid4()}"),
    ]:
        response = await client.request(method, url, json={})
        assert response.status_code == 401, (method, url, response.text)
        assert response.json()["code"] == "not_authenticated"


# --- Users ----------------------------------------------------------------------------


async def test_admin_creates_a_user_who_can_log_in(client, world, login, sessionmaker):
    org, admin, headers = await _admin(world, login)
    email = f"Mixed.Case-{uuid.uuid4().hex[:8]}@Example.COM"

    response = await client.post(
        USERS,
        json={"email": email, "password": NEW_PASSWORD, "role": "AGENT", "full_name": " Ada "},
        headers=headers,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == email.lower()
    assert (body["role"], body["full_name"], body["is_active"]) == ("AGENT", "Ada", True)
    assert body["organization_id"] == str(org.id)
    assert "password" not in body and "password_hash" not in body
    created = await client.post(
        "/api/v1/auth/login", data={"username": email, "password": NEW_PASSWORD}
    )
    assert created.status_code == 200
    [entry] = await _audit(sessionmaker, org.id, "user.created")
    assert entry.actor_id == admin.id
    assert entry.ticket_id is None
    assert entry.details["user_id"] == body["id"]


async def test_duplicate_email_is_409_even_across_organizations_and_case(client, world, login):
    _org, _admin_user, headers = await _admin(world, login)
    other_org = await world.org("Other")
    existing = await world.user(other_org)

    response = await client.post(
        USERS,
        json={"email": existing.email.upper(), "password": PASSWORD},
        headers=headers,
    )

    assert response.status_code == 409
    assert response.json()["code"] == "email_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@b", "password": PASSWORD}, "email"),
        ({"email": "x@example.com", "password": "short"}, "password"),
        ({"email": "x@example.com", "password": PASSWORD, "role": "ROOT"}, "role"),
        ({"password": PASSWORD}, "email"),
        ({"email": "x@example.com", "password": PASSWORD, "is_superuser": True}, "is_superuser"),
    ],
)
async def test_user_create_validation_errors_are_422_with_the_field(
    client, world, login, body, field
):
    _org, _admin_user, headers = await _admin(world, login)

    response = await client.post(USERS, json=body, headers=headers)

    assert response.status_code == 422
    payload = response.json()
    assert payload["code"] == "validation_error"
    assert ["body", field] in [e["loc"] for e in payload["errors"]]
    assert "Traceback" not in response.text


async def test_list_users_is_scoped_paginated_and_filtered(client, world, login):
    org, admin, headers = await _admin(world, login)
    agent = await world.user(org, Role.AGENT)
    customer = await world.user(org, Role.CUSTOMER)
    other_org = await world.org("Other")
    await world.user(other_org, Role.AGENT)

    everyone = await client.get(USERS, headers=headers)
    page = await client.get(USERS, params={"limit": 2, "offset": 1}, headers=headers)
    agents = await client.get(USERS, params={"role": "AGENT"}, headers=headers)

    assert everyone.status_code == 200
    assert [u["id"] for u in everyone.json()] == [str(admin.id), str(agent.id), str(customer.id)]
    assert [u["id"] for u in page.json()] == [str(agent.id), str(customer.id)]
    assert [u["id"] for u in agents.json()] == [str(agent.id)]
    for params in ({"limit": 201}, {"limit": 0}, {"offset": -1}, {"role": "ROOT"}):
        bad = await client.get(USERS, params=params, headers=headers)
        assert bad.status_code == 422, params


async def test_admin_updates_name_and_role_with_an_audit_entry(client, world, login, sessionmaker):
    org, admin, headers = await _admin(world, login)
    user = await world.user(org, Role.CUSTOMER)

    response = await client.patch(
        f"{USERS}/{user.id}", json={"full_name": "Promoted", "role": "AGENT"}, headers=headers
    )

    assert response.status_code == 200, response.text
    assert (response.json()["full_name"], response.json()["role"]) == ("Promoted", "AGENT")
    [entry] = await _audit(sessionmaker, org.id, "user.updated")
    assert entry.actor_id == admin.id
    assert entry.details["changes"]["role"] == {"from": "CUSTOMER", "to": "AGENT"}
    me = await client.get("/api/v1/auth/me", headers=await login(user))
    assert me.json()["role"] == "AGENT"


async def test_deactivating_a_user_ends_their_sessions(client, world, login, sessionmaker):
    org, _admin_user, headers = await _admin(world, login)
    user = await world.user(org, Role.AGENT)
    tokens = (
        await client.post("/api/v1/auth/login", data={"username": user.email, "password": PASSWORD})
    ).json()

    response = await client.patch(f"{USERS}/{user.id}", json={"is_active": False}, headers=headers)

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.get("/api/v1/auth/me", headers=access)).status_code == 401
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    async with sessionmaker() as session:
        rows = await session.execute(select(RefreshToken).where(RefreshToken.user_id == user.id))
        assert all(row.revoked_at is not None for row in rows.scalars())
    login_again = await client.post(
        "/api/v1/auth/login", data={"username": user.email, "password": PASSWORD}
    )
    assert login_again.status_code == 401


async def test_password_reset_replaces_the_password_and_unlocks(client, world, login, sessionmaker):
    org, _admin_user, headers = await _admin(world, login)
    user = await world.user(org)
    old_tokens = (
        await client.post("/api/v1/auth/login", data={"username": user.email, "password": PASSWORD})
    ).json()
    async with sessionmaker() as session:
        locked = datetime.now(UTC) + timedelta(minutes=10)
        await session.execute(
            update(User).where(User.id == user.id).values(failed_login_count=5, locked_until=locked)
        )
        await session.commit()

    response = await client.patch(
        f"{USERS}/{user.id}", json={"password": NEW_PASSWORD}, headers=headers
    )

    assert response.status_code == 200
    old = await client.post(
        "/api/v1/auth/login", data={"username": user.email, "password": PASSWORD}
    )
    assert old.status_code == 401
    new = await client.post(
        "/api/v1/auth/login", data={"username": user.email, "password": NEW_PASSWORD}
    )
    assert new.status_code == 200
    stale = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": old_tokens["refresh_token"]}
    )
    assert stale.status_code == 401
    short = await client.patch(f"{USERS}/{user.id}", json={"password": "short"}, headers=headers)
    assert short.status_code == 422


async def test_admin_cannot_deactivate_or_demote_themselves(client, world, login):
    _org, admin, headers = await _admin(world, login)

    for body in ({"is_active": False}, {"role": "MANAGER"}):
        response = await client.patch(f"{USERS}/{admin.id}", json=body, headers=headers)
        assert response.status_code == 409, body
        assert response.json()["code"] == "cannot_modify_self"
    renamed = await client.patch(
        f"{USERS}/{admin.id}", json={"full_name": "Still Admin", "role": "ADMIN"}, headers=headers
    )
    assert renamed.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=headers)).json()["role"] == "ADMIN"


async def test_unknown_or_malformed_user_id(client, world, login):
    _org, _admin_user, headers = await _admin(world, login)

    missing = await client.patch(f"{USERS}/{uuid.uuid4()}", json={}, headers=headers)
    malformed = await client.patch(f"{USERS}/not-a-uuid", json={}, headers=headers)

    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert malformed.status_code == 422


# --- create_user, the service function (used by the CLI too) -----------------------


async def test_create_user_service_validates_and_detects_duplicates(world, sessionmaker):
    org = await world.org()
    email = _email()
    async with sessionmaker() as session:
        user = await admin_service.create_user(
            session, organization_id=org.id, email=email.upper(), role="manager", password=PASSWORD
        )
        await session.commit()
    assert (user.email, user.role) == (email, Role.MANAGER)

    for kwargs, code in [
        ({"email": email}, "email_taken"),
        ({"email": "bad"}, "invalid_email"),
        ({"email": _email(), "password": "short"}, "invalid_password"),
        ({"email": _email(), "role": "ROOT"}, "invalid_role"),
    ]:
        arguments = {"role": Role.AGENT, "password": PASSWORD} | kwargs
        async with sessionmaker() as session:
            with pytest.raises((Conflict, Unprocessable)) as raised:
                await admin_service.create_user(session, organization_id=org.id, **arguments)
        assert raised.value.code == code


# --- Services -------------------------------------------------------------------------


async def test_admin_manages_services(client, world, login, sessionmaker):
    org, admin, headers = await _admin(world, login)

    created = await client.post(
        SERVICES, json={"name": "  VPN ", "description": "Remote access"}, headers=headers
    )
    assert created.status_code == 201, created.text
    svc = created.json()
    assert (svc["name"], svc["is_active"], svc["organization_id"]) == ("VPN", True, str(org.id))
    await client.post(SERVICES, json={"name": "Email"}, headers=headers)

    duplicate = await client.post(SERVICES, json={"name": "VPN"}, headers=headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "service_name_taken"
    rename_clash = await client.patch(
        f"{SERVICES}/{svc['id']}", json={"name": "Email"}, headers=headers
    )
    assert rename_clash.status_code == 409

    updated = await client.patch(
        f"{SERVICES}/{svc['id']}",
        json={"name": "VPN access", "is_active": False},
        headers=headers,
    )
    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["is_active"]) == ("VPN access", False)

    listed = await client.get(SERVICES, headers=headers)
    assert [s["name"] for s in listed.json()] == ["Email", "VPN access"]
    active = await client.get(SERVICES, params={"is_active": True}, headers=headers)
    assert [s["name"] for s in active.json()] == ["Email"]
    page = await client.get(SERVICES, params={"limit": 1, "offset": 1}, headers=headers)
    assert [s["name"] for s in page.json()] == ["VPN access"]

    assert len(await _audit(sessionmaker, org.id, "service.created")) == 2
    [entry] = await _audit(sessionmaker, org.id, "service.updated")
    assert entry.actor_id == admin.id
    assert entry.details["changes"]["is_active"] == {"from": True, "to": False}


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": "A", "x": 1}]
)
async def test_service_validation_errors_are_422(client, world, login, body):
    _org, _admin_user, headers = await _admin(world, login)

    response = await client.post(SERVICES, json=body, headers=headers)

    assert response.status_code == 422
    assert response.json()["errors"]


async def test_same_service_name_in_two_organizations_is_fine(client, world, login):
    _org_a, _admin_a, headers_a = await _admin(world, login)
    _org_b, _admin_b, headers_b = await _admin(world, login)

    for headers in (headers_a, headers_b):
        response = await client.post(SERVICES, json={"name": "Shared name"}, headers=headers)
        assert response.status_code == 201


async def test_user_out_never_leaks_other_fields(client, world, login):
    _org, _admin_user, headers = await _admin(world, login)

    response = await client.get(USERS, headers=headers)

    assert set(response.json()[0]) == {
        "id",
        "organization_id",
        "email",
        "full_name",
        "role",
        "is_active",
        "created_at",
        "updated_at",
        "last_login_at",
    }


async def test_users_table_keeps_emails_lower_case(world, sessionmaker):
    org = await world.org()
    unique = uuid.uuid4().hex[:8]
    async with sessionmaker() as session:
        user = await admin_service.create_user(
            session,
            organization_id=org.id,
            email=f" Someone.{unique}@EXAMPLE.com ",
            role=Role.CUSTOMER,
            password=PASSWORD,
            full_name="Someone",
        )
        await session.commit()
    async with sessionmaker() as session:
        stored = await session.get(User, user.id)
    assert stored.email == f"someone.{unique}@example.com"
