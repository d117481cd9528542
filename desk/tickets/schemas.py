"""HTTP request and response bodies of the ticket routes (pydantic, no SQLAlchemy)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from desk.enums import Priority, TicketStatus
from desk.validation import Text

MAX_COMMENT_BYTES = 64 * 1024
MAX_DESCRIPTION_BYTES = 64 * 1024


def _utf8_limit(value: str, limit: int, what: str) -> str:
    if len(value.encode()) > limit:
        raise ValueError(f"{what} is over {limit // 1024} KiB")
    return value


class TicketCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subject: Text = Field(min_length=1, max_length=300)
    description: Text = Field("", max_length=MAX_DESCRIPTION_BYTES)
    priority: Priority = Priority.MEDIUM
    service_id: uuid.UUID | None = None
    requester_id: uuid.UUID | None = Field(
        None, description="Staff only: file the ticket on behalf of this customer."
    )

    @field_validator("subject")
    @classmethod
    def _subject_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("subject must not be blank")
        return value.strip()

    @field_validator("description")
    @classmethod
    def _description_size(cls, value: str) -> str:
        return _utf8_limit(value, MAX_DESCRIPTION_BYTES, "description")


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
    content: Text = Field(min_length=1)
    is_internal: bool = False

    @field_validator("content")
    @classmethod
    def _content_ok(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("content must not be blank")
        return _utf8_limit(value, MAX_COMMENT_BYTES, "content")


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
