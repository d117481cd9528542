"""Tenant isolation: another organization's users and services answer 404, never 403."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from desk.admin.models import Service
from desk.auth.deps import get_scoped_or_404, scoped
from desk.auth.models import User
from desk.enums import Role
from desk.errors import NotFound

USERS = "/api/v1/admin/users"
SERVICES = "/api/v1/admin/services"


async def _service(world, org, name: str = "Payroll") -> Service:
    async with world.sessionmaker() as session:
        svc = Service(organization_id=org.id, name=name)
        session.add(svc)
        await session.commit()
        return svc


async def _stored_user(world, user_id: uuid.UUID) -> User:
    async with world.sessionmaker() as session:
        return await session.get(User, user_id)


async def test_customer_of_a_gets_404_for_a_user_of_b(client, world, login):
    org_a, org_b = await world.org("A"), await world.org("B")
    customer_a = await world.user(org_a, Role.CUSTOMER)
    neighbour_a = await world.user(org_a, Role.CUSTOMER)
    user_b = await world.user(org_b, Role.AGENT)
    headers = await login(customer_a)

    foreign = await client.patch(f"{USERS}/{user_b.id}", json={"role": "ADMIN"}, headers=headers)
    own = await client.patch(f"{USERS}/{neighbour_a.id}", json={"role": "ADMIN"}, headers=headers)

    assert foreign.status_code == 404
    assert foreign.json() == {"detail": "user not found", "code": "not_found"}
    # In its own organization the customer is simply not allowed.
    assert own.status_code == 403
    assert (await _stored_user(world, user_b.id)).role == Role.AGENT
    assert (await _stored_user(world, neighbour_a.id)).role == Role.CUSTOMER


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.AGENT])
async def test_staff_of_a_get_404_for_bs_user_and_service(client, world, login, role):
    org_a, org_b = await world.org("A"), await world.org("B")
    caller = await world.user(org_a, role)
    user_b = await world.user(org_b, Role.CUSTOMER)
    service_b = await _service(world, org_b)
    headers = await login(caller)

    user_response = await client.patch(
        f"{USERS}/{user_b.id}", json={"is_active": False}, headers=headers
    )
    service_response = await client.patch(
        f"{SERVICES}/{service_b.id}", json={"name": "Mine now"}, headers=headers
    )

    assert user_response.status_code == 404
    assert service_response.status_code == 404
    assert (await _stored_user(world, user_b.id)).is_active is True
    async with world.sessionmaker() as session:
        assert (await session.get(Service, service_b.id)).name == "Payroll"


async def test_admin_lists_only_their_organizations_rows(client, world, login):
    org_a, org_b = await world.org("A"), await world.org("B")
    admin_a = await world.user(org_a, Role.ADMIN)
    await world.user(org_b, Role.ADMIN)
    await _service(world, org_a, "Ours")
    await _service(world, org_b, "Theirs")
    headers = await login(admin_a)

    users = (await client.get(USERS, headers=headers)).json()
    services = (await client.get(SERVICES, headers=headers)).json()

    assert {u["organization_id"] for u in users} == {str(org_a.id)}
    assert [s["name"] for s in services] == ["Ours"]


async def test_me_names_the_callers_own_organization(client, world, login):
    org_a = await world.org("Alpha")
    await world.org("Beta")
    user = await world.user(org_a)

    me = (await client.get("/api/v1/auth/me", headers=await login(user))).json()

    assert me["organization"] == {"id": str(org_a.id), "name": "Alpha"}


async def test_scoped_helpers_filter_by_the_callers_organization(world, session):
    org_a, org_b = await world.org("A"), await world.org("B")
    user_a = await world.user(org_a)
    user_b = await world.user(org_b)

    visible = (await session.execute(scoped(User, user_a))).scalars().all()
    found = await get_scoped_or_404(session, User, user_a.id, user_a)

    assert [u.id for u in visible] == [user_a.id]
    assert found.id == user_a.id
    with pytest.raises(NotFound):
        await get_scoped_or_404(session, User, user_b.id, user_a, what="user")
    # The unscoped query proves the row exists: the 404 is the scope, not a missing row.
    assert (await session.execute(select(User.id).where(User.id == user_b.id))).scalar_one()
