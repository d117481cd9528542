"""The SLA as the API shows it: policy matching at accept and priority change, ``sla_state``,
the live clock from the workflow, and from the projection once the workflow is gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from desk.enums import Role, TicketStatus
from desk.tickets.models import Ticket
from tests.support.tickets import make_ticket
from tests.support.world import login_headers


async def test_accept_starts_the_clock_with_the_matching_policy(world, desk):
    org = await world.org()
    admin, manager = await world.user(org, Role.ADMIN), await world.user(org, Role.MANAGER)
    customer = await world.user(org, Role.CUSTOMER)
    admin_h, manager_h = await login_headers(desk, admin), await login_headers(desk, manager)
    customer_h = await login_headers(desk, customer)
    service = await desk.post("/api/v1/admin/services", json={"name": "VPN"}, headers=admin_h)
    policy = await desk.post(
        "/api/v1/admin/sla-policies",
        json={
            "priority": "HIGH",
            "service_id": service.json()["id"],
            "first_response_minutes": 30,
            "resolution_minutes": 120,
        },
        headers=admin_h,
    )
    assert policy.status_code == 201, policy.text

    created = await desk.post(
        "/api/v1/tickets",
        json={"subject": "VPN down", "priority": "HIGH", "service_id": service.json()["id"]},
        headers=customer_h,
    )
    ticket = created.json()
    assert ticket["sla_state"] == "not_started" and ticket["sla_due_at"] is None
    accepted = (
        await desk.post(f"/api/v1/internal/tickets/{ticket['id']}/accept", headers=manager_h)
    ).json()
    started = datetime.fromisoformat(accepted["sla_started_at"])
    assert accepted["sla_policy_id"] == policy.json()["id"]  # service+priority wins
    assert started == datetime.fromisoformat(accepted["accepted_at"])
    assert datetime.fromisoformat(accepted["sla_due_at"]) - started == timedelta(hours=2)
    assert datetime.fromisoformat(accepted["sla_first_response_due_at"]) - started == timedelta(
        minutes=30
    )
    assert accepted["sla_state"] == "running"

    # URGENT has no service policy: the priority's default (4 h, 24x7) applies, elapsed kept.
    raised = (
        await desk.post(
            f"/api/v1/internal/tickets/{ticket['id']}/priority",
            json={"priority": "URGENT"},
            headers=manager_h,
        )
    ).json()
    assert raised["sla_policy_id"] != policy.json()["id"]
    assert datetime.fromisoformat(raised["sla_due_at"]) - started == timedelta(hours=4)

    waiting = (
        await desk.post(
            f"/api/v1/internal/tickets/{ticket['id']}/status",
            json={"status": "WAITING_CUSTOMER"},
            headers=manager_h,
        )
    ).json()
    assert waiting["sla_state"] == "paused" and waiting["sla_paused_at"]
    clock = (await desk.get(f"/api/v1/tickets/{ticket['id']}/sla", headers=customer_h)).json()
    assert clock["source"] == "workflow"
    assert clock["resolution"]["paused"] is True
    assert clock["resolution"]["target_seconds"] == 4 * 3600
    assert 0 < clock["resolution"]["remaining_seconds"] <= 4 * 3600
    assert clock["first_response"]["state"] == "paused"


async def test_the_live_clock_falls_back_to_the_projection_without_a_workflow(
    world, desk, sessionmaker
):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    ticket = await make_ticket(sessionmaker, org, customer, status=TicketStatus.RESOLVED)
    due = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)
    async with sessionmaker() as session:
        row = await session.get(Ticket, ticket.id)
        row.sla_started_at = due - timedelta(hours=8)
        row.sla_due_at = due
        row.sla_breached_at = due
        row.resolved_at = due + timedelta(hours=1)
        await session.commit()

    response = await desk.get(
        f"/api/v1/tickets/{ticket.id}/sla", headers=await login_headers(desk, customer)
    )
    assert response.status_code == 200, response.text
    clock = response.json()
    assert clock["source"] == "projection"
    assert clock["sla_state"] == "breached"
    assert clock["resolution"]["state"] == "breached"
    assert clock["resolution"]["due_at"].startswith("2026-01-05T17:00:00")
    assert clock["resolution"]["remaining_seconds"] is None


async def test_another_organizations_clock_is_404(world, desk):
    org, other = await world.org(), await world.org()
    ticket_owner = await world.user(org, Role.CUSTOMER)
    stranger = await world.user(other, Role.MANAGER)
    created = await desk.post(
        "/api/v1/tickets", json={"subject": "Mine"}, headers=await login_headers(desk, ticket_owner)
    )
    response = await desk.get(
        f"/api/v1/tickets/{created.json()['id']}/sla", headers=await login_headers(desk, stranger)
    )
    assert response.status_code == 404
