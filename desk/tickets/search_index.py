"""How ops find a ticket in Temporal: its workflow id, the summary the Web UI shows, and its
custom search attributes (DESIGN.md, Operations).

Pure: the ticket workflow imports it to upsert the attributes, the API to start a workflow
with them, and ``desk temporal setup`` to register the keys.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from temporalio.common import SearchAttributeKey

from desk.sla import tracker

if TYPE_CHECKING:
    from desk.tickets.contracts import TicketState

TICKET_STATUS = SearchAttributeKey.for_keyword("TicketStatus")
TICKET_PRIORITY = SearchAttributeKey.for_keyword("TicketPriority")
ORGANIZATION_ID = SearchAttributeKey.for_keyword("OrganizationId")
ASSIGNEE_ID = SearchAttributeKey.for_keyword("AssigneeId")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
SLA_DUE_AT = SearchAttributeKey.for_datetime("SlaDueAt")
# When the ticket entered its current status: "waiting on the customer for more than a day".
STATUS_CHANGED_AT = SearchAttributeKey.for_datetime("StatusChangedAt")

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey, ...] = (
    TICKET_STATUS,
    TICKET_PRIORITY,
    ORGANIZATION_ID,
    ASSIGNEE_ID,
    SLA_BREACHED,
    SLA_DUE_AT,
    STATUS_CHANGED_AT,
)

SUMMARY_MAX = 200


def ticket_index(state: TicketState) -> list[tuple[SearchAttributeKey, Any]]:
    """Each search attribute's value for a ticket (None: unset)."""
    return [
        (TICKET_STATUS, state.status),
        (TICKET_PRIORITY, state.priority),
        (ORGANIZATION_ID, state.organization_id),
        (ASSIGNEE_ID, state.assigned_to),
        (SLA_BREACHED, tracker.is_breached(state.sla)),
        (SLA_DUE_AT, state.sla.resolution.due_at),
        (STATUS_CHANGED_AT, state.status_changed_at),
    ]


def ticket_workflow_id(ticket_id: uuid.UUID | str) -> str:
    return f"ticket-{ticket_id}"


def workflow_summary(number: int, subject: str, priority: str) -> str:
    """What the Temporal UI shows for the ticket: ``#42 Login issue · HIGH``."""
    text = f"#{number} {subject} · {priority}"
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"
