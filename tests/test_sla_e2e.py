"""End to end on the dev server over real HTTP, with a policy of seconds: a breach reaches the
in-app list, a real SMTP server and a real webhook receiver within 2 seconds of its due time."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from desk.app import create_app
from desk.enums import Role
from tests.support.receivers import SECRET
from tests.support.servers import serving
from tests.support.world import login_headers
from worker import build_worker

LATENESS_BUDGET = timedelta(seconds=2)


@pytest.fixture
async def live(settings, dev_server, sessionmaker, smtp_server) -> AsyncIterator[str]:
    """API under uvicorn on a loopback port and a worker of its own, both mailing through
    the test's SMTP server."""
    live_settings = settings.model_copy(
        update={
            "temporal_task_queue": f"sla-e2e-{uuid.uuid4().hex[:8]}",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
        }
    )
    app = create_app(live_settings, temporal_client=dev_server.client)
    async with (
        app.router.lifespan_context(app),
        build_worker(dev_server.client, live_settings, sessionmaker),
        serving(app) as url,
    ):
        yield url


async def test_breach_reaches_every_channel_within_two_seconds(
    world,
    live,
    smtp_server,
    receiver,
):
    org = await world.org()
    admin = await world.user(org, Role.ADMIN)
    manager = await world.user(org, Role.MANAGER, email=f"mgr-{uuid.uuid4().hex[:8]}@example.com")
    customer = await world.user(org, Role.CUSTOMER)
    async with httpx.AsyncClient(base_url=live, timeout=30) as http:
        admin_h = await login_headers(http, admin)
        policy = await http.post(
            "/api/v1/admin/sla-policies",
            json={
                "priority": "URGENT",
                "first_response_minutes": 60,
                "resolution_minutes": 0.1,  # six seconds
                "warn_at_percent": 50,
            },
            headers=admin_h,
        )
        if policy.status_code == 409:  # the organization's default URGENT policy: edit it
            listed = await http.get(
                "/api/v1/admin/sla-policies", params={"priority": "URGENT"}, headers=admin_h
            )
            policy = await http.patch(
                f"/api/v1/admin/sla-policies/{listed.json()[0]['id']}",
                json={
                    "first_response_minutes": 60,
                    "resolution_minutes": 0.1,
                    "warn_at_percent": 50,
                },
                headers=admin_h,
            )
        assert policy.status_code in (200, 201), policy.text
        hook = await http.post(
            "/api/v1/admin/webhooks",
            json={
                "url": receiver.url("/hooks/sla"),
                "secret": SECRET,
                "events": ["SLA_WARNING", "SLA_BREACHED"],
            },
            headers=admin_h,
        )
        assert hook.status_code == 201, hook.text

        customer_h = await login_headers(http, customer)
        created = await http.post(
            "/api/v1/tickets",
            json={"subject": "Site down", "priority": "URGENT"},
            headers=customer_h,
        )
        ticket_id = created.json()["id"]
        manager_h = await login_headers(http, manager)
        accepted = await http.post(
            f"/api/v1/internal/tickets/{ticket_id}/accept", headers=manager_h
        )
        assert accepted.status_code == 200, accepted.text
        ticket = accepted.json()
        due = datetime.fromisoformat(ticket["sla_due_at"])
        assert due - datetime.fromisoformat(ticket["sla_started_at"]) == timedelta(seconds=6)
        assert ticket["sla_state"] == "running"
        clock = (await http.get(f"/api/v1/tickets/{ticket_id}/sla", headers=manager_h)).json()
        assert clock["source"] == "workflow"
        assert clock["resolution"]["state"] == "running"
        assert 0 < clock["resolution"]["remaining_seconds"] <= 6

        seen: dict[str, datetime] = {}
        deadline = time.monotonic() + 20
        while len(seen) < 3 and time.monotonic() < deadline:
            now = datetime.now(UTC)
            if "in_app" not in seen:
                inbox = await http.get("/api/v1/notifications", headers=manager_h)
                if any(n["kind"] == "SLA_BREACHED" for n in inbox.json()):
                    seen["in_app"] = now
            if "email" not in seen and any(
                b"SLA breached" in e.content or b"breach" in e.content.lower()
                for e in smtp_server.inbox.received
            ):
                seen["email"] = now
            if "webhook" not in seen and any(
                json.loads(r.body)["event"] == "SLA_BREACHED" and r.signature_valid
                for r in receiver.requests
            ):
                seen["webhook"] = now
            await asyncio.sleep(0.05)

        assert set(seen) == {"in_app", "email", "webhook"}, seen
        lateness = {channel: at - due for channel, at in seen.items()}
        assert all(late <= LATENESS_BUDGET for late in lateness.values()), lateness

        breached = (await http.get(f"/api/v1/tickets/{ticket_id}", headers=manager_h)).json()
        assert breached["sla_breached_at"] == ticket["sla_due_at"]
        assert breached["sla_state"] == "breached"
        listed = await http.get("/api/v1/tickets", params={"breached": "true"}, headers=manager_h)
        assert ticket_id in [t["id"] for t in listed.json()]
        # Warned before the breach, on the webhook too; each exactly once.
        events = [json.loads(r.body)["event"] for r in receiver.requests]
        assert events.count("SLA_WARNING") == 1 and events.count("SLA_BREACHED") == 1
