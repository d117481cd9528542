"""Filing a ticket: the API writes the first row, then starts the workflow with plain
``start_workflow``. What happens when the start fails, and how a ticket whose start was lost
gets its workflow; plus the projection writer's version guard, which both writers rely on."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner

from desk.app import create_app
from desk.enums import Priority, TicketStatus
from desk.tickets.contracts import ProjectionBatch
from desk.tickets.models import AuditLog, Ticket
from desk.tickets.projection import write_projection
from desk.tickets.search_index import ticket_workflow_id
from desk.tickets.service import TicketDraft, idempotent_ticket_id, write_filed_ticket
from tests.support.tickets import TICKETS, Tenant, make_tenant


@pytest.fixture(scope="module")
async def acme(sessionmaker, settings) -> Tenant:
    return await make_tenant(sessionmaker, settings, "Filing Acme")


async def app_client(settings, dev_server) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, temporal_client=dev_server.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
            yield http


@pytest.fixture
async def api(settings, dev_server, ticket_worker) -> AsyncIterator[httpx.AsyncClient]:
    async for http in app_client(settings, dev_server):
        yield http


@pytest.fixture
async def refusing_api(settings, dev_server) -> AsyncIterator[httpx.AsyncClient]:
    """Temporal is up but refuses every start: the task queue name is over its limit."""
    refusing = settings.model_copy(update={"temporal_task_queue": "q" * 2000})
    async for http in app_client(refusing, dev_server):
        yield http


async def rows_with_subject(sessionmaker, subject: str) -> tuple[int, int]:
    async with sessionmaker() as session:
        tickets = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.subject == subject)
        )
        audit = await session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .join(Ticket, Ticket.id == AuditLog.ticket_id)
            .where(Ticket.subject == subject)
        )
    return tickets, audit


async def file_without_workflow(sessionmaker, who, ticket_id: uuid.UUID, subject: str):
    """What a create leaves behind when it dies between writing the row and the start."""
    async with sessionmaker() as session:
        return await write_filed_ticket(
            session,
            who.user,
            ticket_id,
            TicketDraft(subject=subject, priority=Priority.HIGH),
            may_exist=True,
        )


async def has_workflow(dev_server, ticket_id: str) -> bool:
    try:
        await dev_server.client.get_workflow_handle(ticket_workflow_id(ticket_id)).describe()
    except RPCError:
        return False
    return True


async def test_a_refused_start_leaves_no_ticket_behind(refusing_api, sessionmaker, acme):
    subject = f"Refused {uuid.uuid4().hex[:8]}"
    response = await refusing_api.post(
        TICKETS, json={"subject": subject}, headers=acme.customer.headers
    )
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "workflow_engine_unavailable"
    assert await rows_with_subject(sessionmaker, subject) == (0, 0)


async def test_created_ticket_is_listed_and_its_workflow_runs(api, sessionmaker, dev_server, acme):
    subject = f"Filed {uuid.uuid4().hex[:8]}"
    response = await api.post(TICKETS, json={"subject": subject}, headers=acme.customer.headers)
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert (ticket["status"], ticket["version"]) == ("NEW", 1)
    assert await rows_with_subject(sessionmaker, subject) == (1, 1)
    assert await has_workflow(dev_server, ticket["id"])


async def test_a_retried_create_starts_the_workflow_a_lost_start_left_out(
    api, sessionmaker, dev_server, acme
):
    ticket_id = idempotent_ticket_id(acme.org.id, acme.customer.user.id, "lost-start")
    subject = f"Lost start {uuid.uuid4().hex[:8]}"
    filed = await file_without_workflow(sessionmaker, acme.customer, ticket_id, subject)
    assert filed.is_new and not await has_workflow(dev_server, str(ticket_id))

    headers = {**acme.customer.headers, "Idempotency-Key": "lost-start"}
    response = await api.post(TICKETS, json={"subject": subject}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["id"] == str(ticket_id)
    assert response.json()["number"] == filed.ticket.number
    assert await has_workflow(dev_server, str(ticket_id))


async def test_the_first_change_starts_the_workflow_a_lost_start_left_out(
    api, sessionmaker, dev_server, acme
):
    ticket_id = uuid.uuid4()
    await file_without_workflow(sessionmaker, acme.customer, ticket_id, "Orphan")
    response = await api.post(
        f"/api/v1/internal/tickets/{ticket_id}/accept", headers=acme.manager.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == TicketStatus.ACCEPTED
    assert response.json()["sla_started_at"] is not None
    assert await has_workflow(dev_server, str(ticket_id))


async def test_projection_only_moves_forwards(sessionmaker, acme):
    ticket_id = uuid.uuid4()
    filed = await file_without_workflow(sessionmaker, acme.customer, ticket_id, "Versions")
    state = filed.first_state
    assert state is not None and state.version == 1

    async def write(version: int, status: TicketStatus) -> bool:
        state.version, state.status = version, status
        async with sessionmaker() as session, session.begin():
            return await write_projection(session, ProjectionBatch(state=state))

    async def stored() -> tuple[int, str]:
        async with sessionmaker() as session:
            row = await session.get(Ticket, ticket_id)
            return row.version, row.status

    assert await write(1, TicketStatus.NEW) is False  # already there
    assert await write(3, TicketStatus.ACCEPTED) is True
    assert await write(2, TicketStatus.CLOSED) is False  # late: never backwards
    assert await stored() == (3, TicketStatus.ACCEPTED)


async def test_answers_are_the_ticket_as_stored(api, acme):
    """Create and change answer with exactly what a read returns next (read-your-writes),
    though neither reads the ticket back."""
    created = await api.post(TICKETS, json={"subject": "As stored"}, headers=acme.customer.headers)
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]

    async def stored() -> dict:
        response = await api.get(f"{TICKETS}/{ticket_id}", headers=acme.manager.headers)
        assert response.status_code == 200, response.text
        return response.json()

    assert created.json() == await stored()
    internal = f"/api/v1/internal/tickets/{ticket_id}"
    for path, body in [
        ("accept", None),
        ("assign", {"assigned_to": str(acme.agent.user.id)}),
        ("status", {"status": "IN_PROGRESS"}),
    ]:
        changed = await api.post(f"{internal}/{path}", json=body, headers=acme.manager.headers)
        assert changed.status_code == 200, changed.text
        assert changed.json() == await stored(), path


async def test_an_unsandboxed_worker_runs_tickets(settings, dev_server, sessionmaker, acme):
    """``DESK_WORKFLOW_SANDBOX=false``: the same tickets, without the SDK's sandbox."""
    from worker import build_worker

    unsandboxed = settings.model_copy(
        update={"workflow_sandbox": False, "temporal_task_queue": f"bare-{uuid.uuid4().hex}"}
    )
    worker = build_worker(dev_server.client, unsandboxed, sessionmaker)
    assert isinstance(worker._workflow_worker._workflow_runner, UnsandboxedWorkflowRunner)
    async with worker:
        async for http in app_client(unsandboxed, dev_server):
            created = await http.post(
                TICKETS, json={"subject": "Bare"}, headers=acme.customer.headers
            )
            assert created.status_code == 201, created.text
            accepted = await http.post(
                f"/api/v1/internal/tickets/{created.json()['id']}/accept",
                headers=acme.manager.headers,
            )
            assert accepted.status_code == 200, accepted.text
            assert accepted.json()["status"] == TicketStatus.ACCEPTED
