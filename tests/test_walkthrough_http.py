"""The old system's first-ticket walkthrough, over real HTTP (uvicorn on a loopback port)
against the Temporal dev server with a real worker: the public contract, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from desk.enums import Role
from tests.support.servers import serving


@pytest.fixture
async def base_url(desk_app) -> AsyncIterator[str]:
    async with serving(desk_app) as url:
        yield url


async def test_first_ticket_walkthrough_over_http(world, base_url):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER, email="customer@walkthrough.example.com")
    manager = await world.user(org, Role.MANAGER)
    agent = await world.user(org, Role.AGENT)

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:

        async def login(user) -> dict[str, str]:
            # The old clients' form: username=email&password=...
            response = await http.post(
                "/api/v1/auth/login",
                content=f"username={user.email}&password=correct+horse+battery+staple",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["token_type"] == "bearer" and body["refresh_token"]
            return {"Authorization": f"Bearer {body['access_token']}"}

        customer_h = await login(customer)
        created = await http.post(
            "/api/v1/tickets",
            json={"subject": "Login issue", "description": "Cannot login", "priority": "HIGH"},
            headers=customer_h,
        )
        assert created.status_code == 201, created.text
        ticket = created.json()
        assert ticket["status"] == "NEW" and ticket["sla_started_at"] is None
        ticket_id = ticket["id"]

        mine = await http.get("/api/v1/tickets", headers=customer_h)
        assert [t["id"] for t in mine.json()] == [ticket_id]

        manager_h = await login(manager)
        inbox = await http.get("/api/v1/internal/tickets/new", headers=manager_h)
        assert ticket_id in [t["id"] for t in inbox.json()]

        accepted = await http.post(
            f"/api/v1/internal/tickets/{ticket_id}/accept", headers=manager_h
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "ACCEPTED"
        assert accepted.json()["accepted_by"] == str(manager.id)
        assert accepted.json()["accepted_at"]

        assigned = await http.post(
            f"/api/v1/internal/tickets/{ticket_id}/assign",
            json={"assigned_to": str(agent.id)},
            headers=manager_h,
        )
        assert assigned.status_code == 200 and assigned.json()["assigned_to"] == str(agent.id)

        agent_h = await login(agent)
        for target in ("IN_PROGRESS", "WAITING_CUSTOMER"):
            moved = await http.post(
                f"/api/v1/internal/tickets/{ticket_id}/status",
                json={"status": target},
                headers=agent_h,
            )
            assert moved.status_code == 200 and moved.json()["status"] == target

        reply = await http.post(
            f"/api/v1/comments/ticket/{ticket_id}",
            json={"content": "Here is the log"},
            headers=customer_h,
        )
        assert reply.status_code == 201
        assert (await http.get(f"/api/v1/tickets/{ticket_id}", headers=customer_h)).json()[
            "status"
        ] == "IN_PROGRESS"

        resolved = await http.post(
            f"/api/v1/internal/tickets/{ticket_id}/status",
            json={"status": "RESOLVED"},
            headers=agent_h,
        )
        assert resolved.json()["status"] == "RESOLVED"
        reopen = await http.post(
            f"/api/v1/comments/ticket/{ticket_id}",
            json={"content": "Still broken"},
            headers=customer_h,
        )
        assert reopen.status_code == 201
        events = await http.get(f"/api/v1/tickets/{ticket_id}/events", headers=customer_h)
        actions = [(e["action"], e["to_value"]) for e in events.json()]
        assert actions[0] == ("created", "NEW")
        assert ("accepted", "ACCEPTED") in actions
        assert actions[-1] == ("customer_replied", "IN_PROGRESS")
