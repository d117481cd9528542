"""Helpers for tests that drive TicketWorkflow directly through a Temporal client."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from desk.auth.models import Organization, User
from desk.enums import Priority, TicketStatus
from desk.sla.contracts import SlaTargets
from desk.tickets.contracts import ActorRef, TicketInput, TicketState
from desk.tickets.creation import record_creation
from desk.tickets.search_index import ticket_workflow_id
from workflows.ticket import TicketWorkflow

# A HIGH-like policy, 24x7: first response in 1 h, resolution in 8 h.
HIGH_TARGETS = SlaTargets.from_minutes(
    None, first_response_minutes=60, resolution_minutes=8 * 60, warn_at_percent=80
)


def actor(user: User) -> ActorRef:
    return ActorRef(id=str(user.id), role=str(user.role))


def new_ticket_state(
    org: Organization,
    requester: User,
    *,
    number: int = 1,
    priority: Priority = Priority.HIGH,
    created_at: datetime | None = None,
    auto_close_days: int = 7,
) -> TicketState:
    return TicketState(
        ticket_id=str(uuid.uuid4()),
        organization_id=str(org.id),
        number=number,
        subject="Login issue",
        description="Cannot log in",
        priority=priority,
        status=TicketStatus.NEW,
        requester_id=str(requester.id),
        created_by_id=str(requester.id),
        created_at=created_at or datetime.now(UTC),
        auto_close_days=auto_close_days,
    )


async def start_ticket(
    client: Client,
    task_queue: str,
    state: TicketState,
    *,
    index_search_attributes: bool = True,
    sla_targets: SlaTargets | None = HIGH_TARGETS,
) -> WorkflowHandle[TicketWorkflow, str]:
    """File ``state`` as the API does (version 1, the acceptance clock started at its
    ``created_at``) and start its workflow. The row is not written here: the workflow's
    first change writes it (an upsert of the whole ticket).

    The time-skipping test server cannot register custom search attributes: pass
    ``index_search_attributes=False`` there.
    """
    record_creation(state, sla_targets)
    handle = await client.start_workflow(
        TicketWorkflow.run,
        TicketInput(
            state=state,
            index_search_attributes=index_search_attributes,
            sla_targets=sla_targets,
        ),
        id=ticket_workflow_id(state.ticket_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return handle
