"""Nothing accepted is lost: a database outage during a projection write, and a worker
killed between the workflow's decision and its projection write."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import func, select

from desk.app import create_app
from desk.db.engine import create_engine, create_sessionmaker
from desk.enums import Role, TicketStatus
from desk.settings import Settings
from desk.tickets.models import AuditLog, Ticket
from tests.support.db_cut import CuttableDatabase
from tests.support.polling import eventually
from tests.support.processes import start_worker, stop, wait_polling
from tests.support.world import login_headers
from worker import build_worker
from workflows.ticket import TicketWorkflow

UPDATE_TIMEOUT = 3.0


@pytest.fixture
def queue_settings(settings: Settings) -> Settings:
    """Settings on a task queue of this test's own, so only its workers run its tickets."""
    return settings.model_copy(
        update={
            "temporal_task_queue": f"durability-{uuid.uuid4().hex[:8]}",
            "update_timeout_seconds": UPDATE_TIMEOUT,
        }
    )


@asynccontextmanager
async def api(settings: Settings, client) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal_client=client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
            yield http


async def _projection(sessionmaker, ticket_id: str) -> tuple[str, int]:
    async with sessionmaker() as session:
        ticket = await session.get(Ticket, uuid.UUID(ticket_id), populate_existing=True)
        accepted = await session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.ticket_id == ticket.id, AuditLog.action == "accepted")
        )
    return ticket.status, accepted


async def _accept_times_out(http, ticket_id, headers) -> None:
    started = time.monotonic()
    response = await http.post(f"/api/v1/internal/tickets/{ticket_id}/accept", headers=headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "update_pending"
    assert "Retry-After" in response.headers
    assert elapsed < UPDATE_TIMEOUT + 5  # bounded: never hangs on the outage


async def test_projection_catches_up_after_a_database_outage(
    world, dev_server, queue_settings, sessionmaker, tmp_path
):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    manager = await world.user(org, Role.MANAGER)
    async with CuttableDatabase(queue_settings.database_url, tmp_path) as db:
        worker_engine = create_engine(db.url, pooled=False)
        worker = build_worker(dev_server.client, queue_settings, create_sessionmaker(worker_engine))
        try:
            async with worker, api(queue_settings, dev_server.client) as http:
                customer_h = await login_headers(http, customer)
                manager_h = {**await login_headers(http, manager), "Idempotency-Key": "accept-1"}
                created = await http.post(
                    "/api/v1/tickets",
                    json={"subject": "Outage", "priority": "HIGH"},
                    headers=customer_h,
                )
                assert created.status_code == 201, created.text
                ticket_id = created.json()["id"]

                await db.cut()
                await _accept_times_out(http, ticket_id, manager_h)
                # The workflow decided; the projection could not be written.
                handle = dev_server.client.get_workflow_handle(f"ticket-{ticket_id}")
                assert (await handle.query(TicketWorkflow.state)).status == TicketStatus.ACCEPTED
                assert await _projection(sessionmaker, ticket_id) == (TicketStatus.NEW, 0)

                await db.restore()
                await eventually(
                    lambda: _is(_projection(sessionmaker, ticket_id), (TicketStatus.ACCEPTED, 1))
                )
                retried = await http.post(
                    f"/api/v1/internal/tickets/{ticket_id}/accept", headers=manager_h
                )
                assert retried.status_code == 200, retried.text
                assert retried.json()["status"] == TicketStatus.ACCEPTED
                assert await _projection(sessionmaker, ticket_id) == (TicketStatus.ACCEPTED, 1)
        finally:
            await worker_engine.dispose()


async def _accept_answer(http, ticket_id, headers) -> httpx.Response | None:
    response = await http.post(f"/api/v1/internal/tickets/{ticket_id}/accept", headers=headers)
    if response.status_code == 503 and response.json()["code"] == "update_pending":
        return None
    assert response.status_code == 200, response.text
    return response


async def _is(awaitable, expected) -> bool:
    return (await awaitable) == expected


async def test_worker_killed_between_decision_and_projection_loses_nothing(
    world, dev_server, queue_settings, sessionmaker, tmp_path
):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    manager = await world.user(org, Role.MANAGER)
    target = dev_server.client.service_client.config.target_host
    async with (
        CuttableDatabase(queue_settings.database_url, tmp_path) as db,
        api(queue_settings, dev_server.client) as http,
    ):
        customer_h = await login_headers(http, customer)
        manager_h = {**await login_headers(http, manager), "Idempotency-Key": "accept-kill"}
        async with build_worker(dev_server.client, queue_settings, sessionmaker):
            created = await http.post(
                "/api/v1/tickets",
                json={"subject": "Crash", "priority": "URGENT"},
                headers=customer_h,
            )
        assert created.status_code == 201, created.text
        ticket_id = created.json()["id"]

        await db.cut()
        first_log, second_log = tmp_path / "worker-1.log", tmp_path / "worker-2.log"
        first = start_worker(queue_settings, db.url, target, first_log)
        second = None
        try:
            await wait_polling(first, first_log)
            await _accept_times_out(http, ticket_id, manager_h)
            handle = dev_server.client.get_workflow_handle(f"ticket-{ticket_id}")
            assert (await handle.query(TicketWorkflow.state)).status == TicketStatus.ACCEPTED
            first.kill()  # no drain, no goodbye: the process is gone mid-retry
            first.wait(timeout=10)
            assert await _projection(sessionmaker, ticket_id) == (TicketStatus.NEW, 0)

            await db.restore()
            second = start_worker(queue_settings, db.url, target, second_log)
            await wait_polling(second, second_log)
            await eventually(
                lambda: _is(_projection(sessionmaker, ticket_id), (TicketStatus.ACCEPTED, 1)),
                timeout=60,
            )
            # The dead worker's sticky queue holds the next workflow task for a few seconds
            # (Temporal's sticky schedule-to-start timeout); a client retrying on 503 with
            # the same key gets the update's result once the new worker has it.
            retried = await eventually(
                lambda: _accept_answer(http, ticket_id, manager_h), timeout=30
            )
            assert retried.json()["status"] == TicketStatus.ACCEPTED
            assert await _projection(sessionmaker, ticket_id) == (TicketStatus.ACCEPTED, 1)

            second.send_signal(signal.SIGTERM)  # graceful: drains and exits 0
            assert await asyncio.to_thread(second.wait, 40) == 0
        except BaseException:
            for log in (first_log, second_log):
                if log.exists():
                    print(f"--- {log.name}\n{log.read_text()[-5000:]}")
            raise
        finally:
            stop(first)
            stop(second)
