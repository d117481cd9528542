"""What travels between the API, the ticket workflow and its activities.

Plain dataclasses of primitives (ids are strings, instants aware UTC datetimes), so that
Temporal's default JSON converter carries them and the workflow sandbox can import them.
"""

# No `from __future__ import annotations`: Temporal resolves these type hints inside the
# workflow sandbox, where string annotations of imported names may not resolve.
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from desk.notifications.contracts import SlaNotice
from desk.sla.contracts import SlaState, SlaTargets


@dataclass
class TicketState:
    """Everything the workflow owns about a ticket; carried across continue-as-new."""

    ticket_id: str
    organization_id: str
    number: int
    subject: str
    description: str
    priority: str
    status: str
    requester_id: str
    created_by_id: str
    created_at: datetime
    service_id: str | None = None
    assigned_to: str | None = None
    accepted_by: str | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    auto_close_days: int = 7
    version: int = 0
    # When ``version`` was reached (the ticket's ``updated_at``), and when the ticket entered
    # its current status (the StatusChangedAt search attribute); None in states carried from
    # before they were recorded.
    updated_at: datetime | None = None
    status_changed_at: datetime | None = None
    # The SLA clock (desk.sla.tracker); its projection() fills the ticket's SLA columns,
    # first_responded_at included.
    sla: SlaState = field(default_factory=SlaState)


@dataclass
class TicketInput:
    """The workflow's argument: a fresh ticket, or the carried state after continue-as-new."""

    state: TicketState
    # Ids of recently applied updates, so a request retried across continue-as-new is
    # answered without being applied twice (Temporal dedupes update ids only within a run).
    recent_update_ids: list[str] = field(default_factory=list)
    # The policy matched at creation (the acceptance metric runs from creation).
    sla_targets: SlaTargets | None = None
    # SLA announcements not yet delivered on every channel when the previous run ended.
    pending_notices: list[SlaNotice] = field(default_factory=list)
    # False only where the server cannot register custom search attributes (the
    # time-skipping test server); everywhere else the ticket is indexed for ops.
    index_search_attributes: bool = True


# --- Update arguments (the actor is always the authenticated caller, set by the API) ----


@dataclass
class ActorRef:
    id: str
    role: str


@dataclass
class AcceptRequest:
    actor: ActorRef
    # The policy matched now (an edited policy applies to tickets accepted after the edit).
    sla_targets: SlaTargets | None = None


@dataclass
class AssignRequest:
    actor: ActorRef
    assignee_id: str | None


@dataclass
class StatusRequest:
    actor: ActorRef
    status: str
    reason: str | None = None


@dataclass
class PriorityRequest:
    actor: ActorRef
    priority: str
    # The policy of the new priority, matched now; elapsed SLA time carries over.
    sla_targets: SlaTargets | None = None


@dataclass
class CommentRequest:
    actor: ActorRef
    comment_id: str
    content: str
    is_internal: bool = False


# --- Projection ----------------------------------------------------------------------


@dataclass
class AuditItem:
    """One audit-log line, written with the projection version it belongs to."""

    action: str
    actor_id: str | None
    at: datetime
    version: int
    from_value: str | None = None
    to_value: str | None = None
    is_internal: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class CommentItem:
    comment_id: str
    author_id: str
    content: str
    is_internal: bool
    at: datetime


@dataclass
class ProjectionBatch:
    """The latest state plus everything that happened since the last successful write;
    written in one transaction, idempotently."""

    state: TicketState
    audit: list[AuditItem] = field(default_factory=list)
    comments: list[CommentItem] = field(default_factory=list)
    # SLA warnings and breaches whose in-app notifications go in the same transaction.
    notices: list[SlaNotice] = field(default_factory=list)
