"""Prometheus metrics: the API's /metrics (HTTP by route template, tickets by status), the
worker's endpoint (our counters and the Temporal SDK's), and the drain on SIGTERM of the
worker (local and regular activities) and of the API (requests in flight)."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from desk import metrics
from desk.app import create_app
from desk.auth.security import create_access_token
from desk.db.types import utcnow
from desk.enums import TicketStatus
from desk.settings import Settings
from desk.temporal import ticket_workflow_id
from desk.tickets.contracts import TicketInput
from desk.tickets.models import Ticket
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, service_process, worker_process
from tests.support.workflows import new_ticket_state
from workflows.ticket import TicketWorkflow


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels}`` in a Prometheus text exposition."""
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def _bearer(settings: Settings, user) -> dict[str, str]:
    token = create_access_token(
        settings,
        user_id=user.id,
        organization_id=user.organization_id,
        role=str(user.role),
        now=utcnow(),
    )
    return {"Authorization": f"Bearer {token}"}


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
        response = await client.get(f"/api/v1/tickets/{ticket_id}", headers=_bearer(settings, user))
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


@asynccontextmanager
async def hold_ticket_writes(engine: AsyncEngine) -> AsyncIterator[None]:
    """Block every write to the tickets table until the block ends."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            await connection.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock
        else:
            await connection.execute(text("LOCK TABLE tickets IN EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await connection.rollback()


async def _local_activities_running(worker: ServiceProcess) -> float:
    """Local activities running in the worker now, from the SDK's slot gauge on /metrics."""
    exposition = (await worker.get("/metrics")).text
    used = sample(
        exposition,
        "temporal_worker_task_slots_used",
        worker_type="LocalActivityWorker",
        task_queue=worker.task_queue,
    )
    return used or 0


async def test_sigterm_lets_the_running_projection_finish_then_exits_0(
    settings, dev_server, tmp_path, world, sessionmaker, engine
):
    # The projection write is a local activity: it runs inside the worker's workflow task.
    org = await world.org()
    requester = await world.user(org)
    state = new_ticket_state(org, requester)

    async with worker_process(settings, dev_server, tmp_path) as worker:
        async with hold_ticket_writes(engine):
            await dev_server.client.start_workflow(
                TicketWorkflow.run,
                TicketInput(state=state),
                id=ticket_workflow_id(state.ticket_id),
                task_queue=worker.task_queue,
            )
            # The write has started and waits on the lock.
            await eventually(lambda: _local_activities_running(worker))
            worker.process.send_signal(signal.SIGTERM)
            # The worker is shutting down (its health says so) while the write still waits.
            await eventually(lambda: _status_is(worker, 503))
            assert worker.process.poll() is None
        # The lock is gone: the write completes, then the worker exits cleanly.
        code = await asyncio.to_thread(worker.process.wait, 60)

    assert code == 0
    async with sessionmaker() as session:
        ticket = await session.get(Ticket, uuid.UUID(state.ticket_id))
    assert ticket is not None and ticket.status == TicketStatus.NEW


async def _status_is(worker: ServiceProcess, status: int) -> bool:
    return await worker.status() == status


async def test_sigterm_lets_a_running_notification_finish_then_exits_0(
    settings, dev_server, tmp_path, world, sessionmaker
):
    """A regular activity (the SLA webhook) in flight at SIGTERM: the worker stops taking
    work, waits for the POST to be answered and recorded, then exits 0."""
    from desk.notifications.contracts import SlaNotice
    from desk.notifications.models import WebhookDelivery
    from tests.support.receivers import Receiver
    from tests.support.receivers import add_webhook as _webhook

    receiver = Receiver(delay={"/slow": 3.0})
    org = await world.org()
    state = new_ticket_state(org, await world.user(org))
    now = utcnow()
    notice = SlaNotice(
        ticket_id=state.ticket_id,
        organization_id=state.organization_id,
        ticket_number=state.number,
        ticket_subject=state.subject,
        priority=state.priority,
        assignee_id=None,
        metric="resolution",
        kind="breach",
        at=now,
        due_at=now,
        target_seconds=60.0,
        dedupe_key=f"{state.ticket_id}:resolution:breach:0",
    )
    async with (
        receiver.serving(),
        worker_process(settings, dev_server, tmp_path) as worker,
    ):
        webhook = await _webhook(world, org, receiver.url("/slow"))
        # A notice still to deliver, as continue-as-new carries one over.
        await dev_server.client.start_workflow(
            TicketWorkflow.run,
            TicketInput(state=state, pending_notices=[notice]),
            id=ticket_workflow_id(state.ticket_id),
            task_queue=worker.task_queue,
        )
        await eventually(lambda: _has_request(receiver))  # the POST is in flight
        worker.process.send_signal(signal.SIGTERM)
        await eventually(lambda: _status_is(worker, 503))
        assert worker.process.poll() is None  # still waiting for the answer
        code = await asyncio.to_thread(worker.process.wait, 60)

    assert code == 0
    assert receiver.paths() == ["/slow"]
    async with sessionmaker() as session:
        delivery = await session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
        )
    assert delivery is not None and delivery.status == "delivered"


async def _has_request(receiver) -> bool:
    return bool(receiver.requests)


async def test_sigterm_lets_the_api_finish_a_request_in_flight_then_exits_0(
    settings, dev_server, tmp_path, world, engine
):
    """``python -m api``: a create waiting on the database when SIGTERM arrives is still
    answered (201), new connections are refused, and the process ends cleanly."""
    org = await world.org()
    customer = await world.user(org)
    port = free_port()
    env = {
        "DESK_ENV": "test",
        "DESK_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "DESK_DATABASE_URL": settings.database_url,
        "DESK_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "DESK_TEMPORAL_TASK_QUEUE": f"drain-{uuid.uuid4().hex[:8]}",
        "DESK_API_PORT": str(port),
        "DESK_UPLOAD_DIR": str(tmp_path / "uploads"),
    }
    token = create_access_token(
        settings, user_id=customer.id, organization_id=org.id, role=customer.role, now=utcnow()
    )
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        service_process("api", env, tmp_path, port=port, health_path="/readyz") as api,
        httpx.AsyncClient(base_url=api.url, timeout=60) as http,
    ):
        async with hold_ticket_writes(engine):
            create = asyncio.create_task(
                http.post("/api/v1/tickets", json={"subject": "In flight"}, headers=headers)
            )
            await asyncio.sleep(1.0)  # the request is waiting for the tickets table
            assert not create.done()
            api.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            assert api.process.poll() is None  # draining
            with pytest.raises(httpx.TransportError):  # no new connections meanwhile
                async with httpx.AsyncClient(base_url=api.url) as fresh:
                    await fresh.get("/healthz")
        response = await create
        code = await asyncio.to_thread(api.process.wait, 60)

    assert response.status_code == 201, response.text
    # uvicorn re-raises the signal once drained, so its supervisor sees "stopped by SIGTERM".
    assert code in (0, -signal.SIGTERM)
