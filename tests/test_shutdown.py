"""Graceful shutdown on SIGTERM, of real processes: the worker lets its running activities
finish (an update's projection write, a webhook POST) then exits 0; the API answers the
requests in flight and takes no new connections."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowUpdateStage

from desk.db.types import utcnow
from desk.enums import Role, TicketStatus
from desk.notifications.contracts import SlaNotice
from desk.notifications.models import WebhookDelivery
from desk.tickets.contracts import AcceptRequest, TicketInput
from desk.tickets.models import Ticket
from desk.tickets.search_index import ticket_workflow_id
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, service_process, worker_process
from tests.support.prometheus import sample
from tests.support.receivers import Receiver, add_webhook
from tests.support.workflows import actor, new_ticket_state, start_ticket
from tests.support.world import bearer
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.subprocess


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


# --- The worker ------------------------------------------------------------------------------


async def _activities_running(worker: ServiceProcess) -> float:
    """Activities running in the worker now, from the SDK's slot gauge on /metrics."""
    exposition = (await worker.get("/metrics")).text
    used = sample(
        exposition,
        "temporal_worker_task_slots_used",
        worker_type="ActivityWorker",
        task_queue=worker.task_queue,
    )
    return used or 0


async def test_sigterm_lets_the_running_projection_finish_then_exits_0(
    settings, dev_server, tmp_path, world, sessionmaker, engine
):
    # An update's projection write is an activity of the worker that accepted it.
    org = await world.org()
    requester, manager = await world.user(org), await world.user(org, Role.MANAGER)
    state = new_ticket_state(org, requester)

    async with worker_process(settings, dev_server, tmp_path) as worker:
        handle = await start_ticket(dev_server.client, worker.task_queue, state)
        async with hold_ticket_writes(engine):
            await handle.start_update(
                TicketWorkflow.accept,
                AcceptRequest(actor(manager)),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
            # The write has started and waits on the lock.
            await eventually(lambda: _activities_running(worker))
            worker.process.send_signal(signal.SIGTERM)
            # The worker is shutting down (its health says so) while the write still waits.
            await eventually(lambda: _status_is(worker, 503))
            assert worker.process.poll() is None
        # The lock is gone: the write completes, then the worker exits cleanly.
        code = await asyncio.to_thread(worker.process.wait, 60)

    assert code == 0
    async with sessionmaker() as session:
        ticket = await session.get(Ticket, uuid.UUID(state.ticket_id))
    assert ticket is not None and ticket.status == TicketStatus.ACCEPTED


async def _status_is(worker: ServiceProcess, status: int) -> bool:
    return await worker.status() == status


async def test_sigterm_lets_a_running_notification_finish_then_exits_0(
    settings, dev_server, tmp_path, world, sessionmaker
):
    """A regular activity (the SLA webhook) in flight at SIGTERM: the worker stops taking
    work, waits for the POST to be answered and recorded, then exits 0."""
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
        webhook = await add_webhook(world, org, receiver.url("/slow"))
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


# --- The API ---------------------------------------------------------------------------------


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
    headers = bearer(settings, customer)
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
