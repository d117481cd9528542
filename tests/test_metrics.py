"""Prometheus metrics: the API's /metrics (HTTP by route template, tickets by status) and the
worker's endpoint (our counters and the Temporal SDK's)."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from desk import metrics
from desk.app import create_app
from desk.enums import TicketStatus
from desk.tickets.models import Ticket
from tests.support.processes import worker_process
from tests.support.prometheus import sample
from tests.support.workflows import new_ticket_state
from tests.support.world import bearer


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


# --- The API ---------------------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_and_status(client, world, settings):
    user = await world.user(await world.org())
    route = "/api/v1/tickets/{ticket_id}"
    before = await scrape(client)
    count_before = sample(
        before, "desk_http_requests_total", method="GET", route=route, status="404"
    )

    ticket_ids = [uuid.uuid4() for _ in range(3)]
    for ticket_id in ticket_ids:
        response = await client.get(f"/api/v1/tickets/{ticket_id}", headers=bearer(settings, user))
        assert response.status_code == 404
    after = await scrape(client)

    count = sample(after, "desk_http_requests_total", method="GET", route=route, status="404")
    assert count == (count_before or 0) + 3
    latency = sample(
        after, "desk_http_request_duration_seconds_count", method="GET", route=route, status="404"
    )
    assert latency == count
    assert not any(str(t) in after for t in ticket_ids)  # raw paths never become labels


async def test_unknown_paths_share_one_series(client):
    await client.get(f"/no/such/{uuid.uuid4()}")
    await client.get("/another/unknown")

    exposition = await scrape(client)

    assert sample(exposition, "desk_http_requests_total", route="<unmatched>", status="404") >= 2
    assert "/no/such" not in exposition


async def test_tickets_by_status_span_every_organization_and_are_cached(
    settings, world, sessionmaker
):
    app = create_app(settings)
    app.state.ticket_counts = metrics.TicketCounts(ttl_s=3600)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http,
    ):
        first = await scrape(http)
        new_before = sample(first, "desk_tickets", status="NEW")
        closed_before = sample(first, "desk_tickets", status="CLOSED")
        assert sample(first, "desk_tickets", status="WAITING_CUSTOMER") is not None

        await _add_tickets(world, sessionmaker, [TicketStatus.NEW, TicketStatus.CLOSED])
        await _add_tickets(world, sessionmaker, [TicketStatus.NEW])  # another organization
        cached = await scrape(http)
        app.state.ticket_counts = metrics.TicketCounts(ttl_s=3600)
        fresh = await scrape(http)

    assert sample(cached, "desk_tickets", status="NEW") == new_before
    assert sample(fresh, "desk_tickets", status="NEW") == new_before + 2
    assert sample(fresh, "desk_tickets", status="CLOSED") == closed_before + 1


async def _add_tickets(world, sessionmaker, statuses: list[TicketStatus]) -> None:
    org = await world.org()
    requester = await world.user(org)
    async with sessionmaker() as session:
        for number, status in enumerate(statuses, start=1):
            state = new_ticket_state(org, requester, number=number)
            session.add(
                Ticket(
                    id=uuid.UUID(state.ticket_id),
                    organization_id=org.id,
                    number=number,
                    subject=state.subject,
                    priority=state.priority,
                    status=status,
                    requester_id=requester.id,
                )
            )
        await session.commit()


async def test_sla_and_notification_counters_are_exposed(client):
    exposition = await scrape(client)

    assert sample(exposition, "desk_sla_warnings_total") is not None
    assert sample(exposition, "desk_sla_breaches_total") is not None
    for channel in ("in_app", "email", "webhook"):
        assert (
            sample(exposition, "desk_notification_delivery_failures_total", channel=channel)
            is not None
        )


async def test_metrics_can_be_turned_off(settings):
    app = create_app(settings.model_copy(update={"metrics_enabled": False}))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http,
    ):
        response = await http.get("/metrics")

    assert response.status_code == 404


async def test_metrics_are_not_in_the_public_api_schema(client):
    schema = (await client.get("/openapi.json")).json()

    assert "/metrics" not in schema["paths"]


# --- The worker ------------------------------------------------------------------------------


async def test_the_worker_exposes_our_counters_and_the_sdk_metrics(settings, dev_server, tmp_path):
    async with worker_process(settings, dev_server, tmp_path) as worker:
        response = await worker.get("/metrics")
        missing = await worker.get("/nope")

    assert response.status_code == 200
    exposition = response.text
    assert sample(exposition, "desk_sla_breaches_total") == 0
    assert sample(exposition, "desk_notification_delivery_failures_total", channel="email") == 0
    assert "process_resident_memory_bytes" in exposition
    # The Temporal SDK's own metrics (Runtime telemetry), tagged with the worker's queue.
    sdk = [
        s
        for family in text_string_to_metric_families(exposition)
        if family.name.startswith("temporal_")
        for s in family.samples
    ]
    assert any(s.labels.get("task_queue") == worker.task_queue for s in sdk), exposition[-2000:]
    assert missing.status_code == 404
