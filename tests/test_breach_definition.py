"""One definition of a breached ticket (``desk.sla.tracker.is_breached``): the ``breached``
list filter, the ``sla_state`` field and the ``SlaBreached`` search attribute agree on the
same tickets, whichever metric was missed, acceptance included."""

from __future__ import annotations

import uuid

from desk.enums import Role
from desk.tickets.search_index import ticket_workflow_id
from tests.support.polling import eventually
from tests.support.world import login_headers

POLICIES = "/api/v1/admin/sla-policies"
TICKETS = "/api/v1/tickets"
SECONDS = 1 / 60  # a policy target of one second, in minutes

# Per priority, the one target that is short: a ticket of that priority misses it.
SHORT_TARGET = {
    "LOW": {"accept_minutes": SECONDS, "first_response_minutes": 60, "resolution_minutes": 600},
    "HIGH": {"first_response_minutes": SECONDS, "resolution_minutes": 600},
    "URGENT": {"first_response_minutes": 60, "resolution_minutes": SECONDS},
    "MEDIUM": {"first_response_minutes": 60, "resolution_minutes": 600},  # met by nobody
}


async def _set_policy(desk, headers, priority: str, targets: dict) -> None:
    body = {"priority": priority, **targets}
    created = await desk.post(POLICIES, json=body, headers=headers)
    if created.status_code == 409:  # the organization's policy for this priority: edit it
        policy_id = created.json()["existing_policy_id"]
        created = await desk.patch(f"{POLICIES}/{policy_id}", json=targets, headers=headers)
    assert created.status_code in (200, 201), created.text


async def test_filter_field_and_search_attribute_agree_on_breached_tickets(world, desk, dev_server):
    org = await world.org(name=f"Breaches {uuid.uuid4().hex[:6]}")
    admin, manager, customer = [
        await world.user(org, role) for role in (Role.ADMIN, Role.MANAGER, Role.CUSTOMER)
    ]
    admin_h, manager_h, customer_h = [
        await login_headers(desk, user) for user in (admin, manager, customer)
    ]
    for priority, targets in SHORT_TARGET.items():
        await _set_policy(desk, admin_h, priority, targets)

    ids: dict[str, str] = {}
    for priority in SHORT_TARGET:
        filed = await desk.post(
            TICKETS,
            json={"subject": f"{priority} ticket", "priority": priority},
            headers=customer_h,
        )
        assert filed.status_code == 201, filed.text
        ids[priority] = filed.json()["id"]
    for priority in ("HIGH", "URGENT", "MEDIUM"):  # LOW stays NEW: its acceptance is late
        accepted = await desk.post(
            f"/api/v1/internal/tickets/{ids[priority]}/accept", headers=manager_h
        )
        assert accepted.status_code == 200, accepted.text
    breached = {ids["LOW"], ids["HIGH"], ids["URGENT"]}

    async def listed(flag: str) -> set[str]:
        response = await desk.get(TICKETS, params={"breached": flag}, headers=manager_h)
        assert response.status_code == 200, response.text
        return {t["id"] for t in response.json()}

    async def all_three_breached() -> bool:
        return await listed("true") == breached

    await eventually(all_three_breached, timeout=20)
    assert await listed("false") == {ids["MEDIUM"]}

    for priority, ticket_id in ids.items():
        ticket = (await desk.get(f"{TICKETS}/{ticket_id}", headers=manager_h)).json()
        assert (ticket["sla_state"] == "breached") == (ticket_id in breached), priority

    async def indexed(flag: str) -> set[str]:
        query = f'OrganizationId = "{org.id}" AND SlaBreached = {flag}'
        return {w.id async for w in dev_server.client.list_workflows(query)}

    expected = {ticket_workflow_id(t) for t in breached}
    await eventually(lambda: _equals(indexed("true"), expected), timeout=20)
    await eventually(
        lambda: _equals(indexed("false"), {ticket_workflow_id(ids["MEDIUM"])}), timeout=20
    )


async def _equals(found, expected) -> bool:
    return await found == expected
