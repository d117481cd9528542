"""Long histories continue as new without losing anything, recorded histories replay
deterministically, and the worker refuses a namespace without our search attributes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus, WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from desk.enums import Role, TicketStatus
from desk.temporal import SEARCH_ATTRIBUTES, ensure_search_attributes
from desk.tickets.models import AuditLog, Comment, Ticket
from tests.support.config import DEV_SERVER_DYNAMIC_CONFIG
from tests.support.temporal import start_dev_server
from tests.support.world import login_headers
from worker import MissingSearchAttributes, check_search_attributes
from workflows.ticket import TicketWorkflow

HISTORIES = Path(__file__).parent / "histories"
COMMENTS = 40


async def test_long_ticket_continues_as_new_and_keeps_everything(
    world, desk, dev_server, sessionmaker
):
    # The dev server suggests continue-as-new after about a hundred events
    # (tests/support/config.py), so forty comments cross at least one run boundary.
    assert int(DEV_SERVER_DYNAMIC_CONFIG["limit.historyCount.suggestContinueAsNew"]) < 200
    org = await world.org()
    customer, manager = await world.user(org, Role.CUSTOMER), await world.user(org, Role.MANAGER)
    customer_h, manager_h = await login_headers(desk, customer), await login_headers(desk, manager)
    created = await desk.post(
        "/api/v1/tickets", json={"subject": "Chatty", "priority": "LOW"}, headers=customer_h
    )
    ticket_id = created.json()["id"]
    handle = dev_server.client.get_workflow_handle(f"ticket-{ticket_id}")
    first_run_id = (await handle.describe()).run_id
    assert (
        await desk.post(f"/api/v1/internal/tickets/{ticket_id}/accept", headers=manager_h)
    ).status_code == 200

    first_key = {**manager_h, "Idempotency-Key": "comment-0"}
    first = await desk.post(
        f"/api/v1/comments/ticket/{ticket_id}", json={"content": "comment 0"}, headers=first_key
    )
    assert first.status_code == 201, first.text
    for i in range(1, COMMENTS):
        response = await desk.post(
            f"/api/v1/comments/ticket/{ticket_id}",
            json={"content": f"comment {i}"},
            headers=manager_h,
        )
        assert response.status_code == 201, response.text

    first_run = dev_server.client.get_workflow_handle(handle.id, run_id=first_run_id)
    assert (await first_run.describe()).status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    latest = await handle.describe()
    assert latest.run_id != first_run_id
    assert latest.status == WorkflowExecutionStatus.RUNNING

    # A request retried after the run boundary is answered, not applied again.
    again = await desk.post(
        f"/api/v1/comments/ticket/{ticket_id}", json={"content": "comment 0"}, headers=first_key
    )
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]

    ticket_uuid = uuid.UUID(ticket_id)
    async with sessionmaker() as session:  # short: on SQLite a session holds the write lock
        comments = await session.scalar(
            select(func.count()).select_from(Comment).where(Comment.ticket_id == ticket_uuid)
        )
        added = await session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.ticket_id == ticket_uuid, AuditLog.action == "comment_added")
        )
        ticket = await session.get(Ticket, ticket_uuid)
    assert comments == added == COMMENTS
    assert ticket.version == 2 + COMMENTS  # created, accepted, one per comment
    assert ticket.first_responded_at is not None
    state = await handle.query(TicketWorkflow.state)
    assert state.version == ticket.version and state.status == TicketStatus.ACCEPTED

    # And the ticket still moves after the boundary.
    resolved = await desk.post(
        f"/api/v1/internal/tickets/{ticket_id}/status",
        json={"status": "RESOLVED"},
        headers=manager_h,
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "RESOLVED"


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "unsandboxed"])
@pytest.mark.parametrize("history_file", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_histories_replay(history_file: Path, sandbox: bool):
    """A change to TicketWorkflow that would break running tickets fails here, with the
    sandbox and without it (``DESK_WORKFLOW_SANDBOX=false``)."""
    history = WorkflowHistory.from_json(history_file.stem, json.loads(history_file.read_text()))
    runner = {} if sandbox else {"workflow_runner": UnsandboxedWorkflowRunner()}
    await Replayer(workflows=[TicketWorkflow], **runner).replay_workflow(history)


def test_histories_are_recorded():
    assert list(HISTORIES.glob("*.json")), (
        "run `python -m tests.histories.record walkthrough NAME` once"
    )


@pytest.mark.temporal
async def test_worker_refuses_a_namespace_without_our_search_attributes():
    env = await start_dev_server()
    try:
        with pytest.raises(MissingSearchAttributes) as refused:
            await check_search_attributes(env.client, env.client.namespace)
        message = str(refused.value)
        for key in SEARCH_ATTRIBUTES:
            assert key.name in message
        assert "desk temporal setup" in message
        assert "temporal operator search-attribute create" in message

        assert len(await ensure_search_attributes(env.client, env.client.namespace)) == len(
            SEARCH_ATTRIBUTES
        )
        assert await ensure_search_attributes(env.client, env.client.namespace) == []
        await check_search_attributes(env.client, env.client.namespace)  # passes now
    finally:
        await env.shutdown()
