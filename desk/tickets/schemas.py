"""HTTP request and response bodies of the ticket routes (pydantic, no SQLAlchemy)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
)

from desk.enums import Priority, TicketStatus
from desk.sla.contracts import MetricState, SlaStatus
from desk.sla.tracker import stored_sla_status
from desk.validation import NOT_BLANK, Flag, IsoInstant, Text

MAX_COMMENT_CHARS = 64 * 1024
MAX_DESCRIPTION_CHARS = 64 * 1024


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subject: str = Field(min_length=1, max_length=300, pattern=NOT_BLANK)
    description: Text = Field("", max_length=MAX_DESCRIPTION_CHARS)
    priority: Priority = Priority.MEDIUM
    service_id: uuid.UUID | None = None
    requester_id: uuid.UUID | None = Field(
        None, description="Staff only: file the ticket on behalf of this customer."
    )

    @field_validator("subject")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class TicketQuery(BaseModel):
    """The filters of the ticket list (query parameters)."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    assigned_to: uuid.UUID | None = None
    requester_id: uuid.UUID | None = None
    q: Text | None = Field(None, max_length=200, description="Words in the subject.")
    breached: bool | None = Field(
        None, description="true: any SLA target (acceptance included) was missed."
    )
    sla_due_before: IsoInstant | None = Field(
        None, description="Resolution due before this instant (with its time zone)."
    )


class TicketOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: int
    organization_id: uuid.UUID
    subject: str
    description: str
    priority: Priority
    status: TicketStatus
    service_id: uuid.UUID | None
    requester_id: uuid.UUID
    created_by_id: uuid.UUID | None
    assigned_to: uuid.UUID | None
    accepted_by: uuid.UUID | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    first_responded_at: datetime | None
    sla_policy_id: uuid.UUID | None
    sla_started_at: datetime | None
    sla_first_response_due_at: datetime | None
    sla_due_at: datetime | None
    sla_paused_at: datetime | None
    sla_paused_duration: int = Field(description="Seconds the SLA clock has been paused.")
    sla_accept_due_at: datetime | None
    accept_breached_at: datetime | None
    first_response_breached_at: datetime | None
    sla_breached_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reference(self) -> str:
        """The human ticket number, as people say it: ``#42``."""
        return f"#{self.number}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sla_state(self) -> SlaStatus:
        """not_started | running | paused | stopped | breached (a breach is permanent)."""
        return stored_sla_status(self)


class SlaMetricOut(BaseModel):
    """One metric of the live SLA clock (seconds are business seconds)."""

    model_config = ConfigDict(from_attributes=True)

    metric: str
    state: MetricState
    paused: bool
    target_seconds: float | None
    elapsed_seconds: float | None
    remaining_seconds: float | None = Field(description="Negative once overdue.")
    due_at: datetime | None
    warn_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None


class SlaClockOut(BaseModel):
    """The live SLA clock of a ticket at ``now``. ``source`` is ``workflow`` (exact, from the
    ticket's workflow) or ``projection`` (the workflow is gone from Temporal's retention:
    computed from the stored row, elapsed and remaining times unknown)."""

    model_config = ConfigDict(from_attributes=True)

    now: datetime
    source: str
    sla_state: SlaStatus
    policy_id: str | None
    started_at: datetime | None
    paused_at: datetime | None
    paused_seconds: float
    accept: SlaMetricOut
    first_response: SlaMetricOut
    resolution: SlaMetricOut


class AssignBody(BaseModel):
    assigned_to: uuid.UUID | None = Field(description="A staff member; null unassigns.")


class StatusBody(BaseModel):
    status: TicketStatus
    reason: Text | None = Field(None, max_length=1000)


class PriorityBody(BaseModel):
    priority: Priority


class CloseBody(BaseModel):
    reason: Text | None = Field(None, max_length=1000)


class CommentCreate(BaseModel):
    content: str = Field(min_length=1, max_length=MAX_COMMENT_CHARS, pattern=NOT_BLANK)
    is_internal: Flag = False


class CommentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    author_id: uuid.UUID
    content: str
    is_internal: bool
    created_at: datetime


class EventOut(BaseModel):
    """One line of a ticket's timeline."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    action: str
    actor_id: uuid.UUID | None
    from_value: str | None
    to_value: str | None
    details: dict[str, Any]
    is_internal: bool
    created_at: datetime
