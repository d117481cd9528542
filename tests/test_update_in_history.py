"""A ticket change should reach the database only once its update is in history.

A workflow task that accepts an update may still be lost (its worker killed, its timeout
passed); the update then never happened. A projection written inside that task (today's
local activity) shows it anyway, and the row's version guard then refuses the change
decided again from history: the chaos suite's worker-killed and temporal-killed scenarios
found rows ahead of their workflows this way. So the workflow projects an update's change
by a regular activity, which runs only once the accepting task is recorded.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from desk.enums import Role, TicketStatus
from desk.sla.contracts import SlaTargets
from desk.tickets.contracts import AcceptRequest, AssignRequest, CommentRequest, StatusRequest
from desk.tickets.models import AuditLog
from tests.support.workflows import actor, new_ticket_state, start_ticket
from worker import build_worker
from workflows.ticket import TicketWorkflow

LOCAL_ACTIVITY_MARKER = "core_local_activity"


def completions(history: WorkflowHistory) -> list[list]:
    """The events each completed workflow task wrote: its commands' and messages' events,
    up to the next event the server wrote on its own."""
    batches: list[list] = []
    current: list | None = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            current = []
            batches.append(current)
        elif event.event_type in (
            EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
            EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
            EventType.EVENT_TYPE_TIMER_FIRED,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
        ):
            current = None
        elif current is not None:
            current.append(event)
    return batches


def accepts_and_projects(batch: list) -> bool:
    accepted = any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in batch
    )
    projected = any(
        e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
        for e in batch
    )
    return accepted and projected


async def test_no_workflow_task_both_accepts_an_update_and_projects_it(
    dev_server, settings, sessionmaker, world
):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    manager = await world.user(org, Role.MANAGER)
    queue = f"in-history-{uuid.uuid4().hex[:8]}"
    client = dev_server.client
    async with build_worker(
        client, settings.model_copy(update={"temporal_task_queue": queue}), sessionmaker
    ):
        handle = await start_ticket(client, queue, new_ticket_state(org, customer))
        answers = [
            await handle.execute_update(TicketWorkflow.accept, AcceptRequest(actor(manager))),
            await handle.execute_update(
                TicketWorkflow.assign, AssignRequest(actor(manager), str(manager.id))
            ),
            await handle.execute_update(
                TicketWorkflow.add_comment,
                CommentRequest(actor(manager), str(uuid.uuid4()), "on it"),
            ),
            await handle.execute_update(
                TicketWorkflow.set_status, StatusRequest(actor(manager), TicketStatus.RESOLVED)
            ),
        ]
        history = await handle.fetch_history()

    # Each answer is the projected ticket, one version after the other.
    assert [a.version for a in answers] == [2, 3, 4, 5]
    batches = completions(history)
    accepted = [
        b
        for b in batches
        if any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in b)
    ]
    assert len(accepted) == 4
    assert not [b for b in batches if accepts_and_projects(b)]


# Resolution due 3 s after acceptance, its warning at 1.5 s.
SECONDS_TARGETS = SlaTargets.from_minutes(
    None, first_response_minutes=60, resolution_minutes=0.05, warn_at_percent=50
)


async def test_what_fell_due_before_an_update_is_decided_before_it(
    dev_server, settings, sessionmaker, world
):
    """The SLA timer fires while no worker runs, then a comment arrives: one workflow task
    holds both. The warning and the breach take the versions before the comment, as a
    retry of a task without the comment would have decided them (and may have written
    them): so a lost task never leaves the timeline with two lines at one version."""
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    manager = await world.user(org, Role.MANAGER)
    queue_settings = settings.model_copy(
        update={"temporal_task_queue": f"due-first-{uuid.uuid4().hex[:8]}"}
    )
    client = dev_server.client
    state = new_ticket_state(org, customer)
    async with build_worker(client, queue_settings, sessionmaker):
        handle = await start_ticket(client, queue_settings.temporal_task_queue, state)
        await handle.execute_update(
            TicketWorkflow.accept, AcceptRequest(actor(manager), sla_targets=SECONDS_TARGETS)
        )
    await asyncio.sleep(3.5)  # both deadlines pass with no worker to hear the timer
    comment = asyncio.create_task(
        handle.execute_update(
            TicketWorkflow.add_comment,
            CommentRequest(actor(manager), str(uuid.uuid4()), "note", is_internal=True),
        )
    )
    await asyncio.sleep(0.5)  # admitted, waiting for a worker
    async with build_worker(client, queue_settings, sessionmaker):
        answer = await comment

    async with sessionmaker() as session:  # the answer comes once it is written
        lines = (
            await session.execute(
                select(AuditLog.ticket_version, AuditLog.action)
                .where(AuditLog.ticket_id == uuid.UUID(state.ticket_id))
                .order_by(AuditLog.ticket_version)
            )
        ).all()
    assert [action for _, action in lines[-3:]] == [
        "sla_warning",
        "sla_breached",
        "comment_added",
    ]
    assert [version for version, _ in lines] == list(range(2, answer.version + 1))
