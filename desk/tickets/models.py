"""The ticket projection (written only by the ticket's workflow), comments and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from desk.db.base import Base, TimestampMixin
from desk.db.types import JSONType, utcnow


class Ticket(TimestampMixin, Base):
    """Read model of a ticket. Status, assignee, priority and SLA columns are written only by
    the ticket's workflow (through an activity), guarded by ``version``."""

    __tablename__ = "tickets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="SET NULL")
    )
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    assigned_to: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    accepted_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]

    sla_policy_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sla_policies.id", ondelete="SET NULL")
    )
    sla_started_at: Mapped[datetime | None]
    sla_accept_due_at: Mapped[datetime | None]
    sla_first_response_due_at: Mapped[datetime | None]
    sla_due_at: Mapped[datetime | None]
    sla_paused_at: Mapped[datetime | None]
    sla_paused_duration: Mapped[int] = mapped_column(default=0)  # seconds
    accept_breached_at: Mapped[datetime | None]
    first_response_breached_at: Mapped[datetime | None]
    sla_breached_at: Mapped[datetime | None]

    # Monotonic: a projection write with a version not above the stored one is ignored.
    version: Mapped[int] = mapped_column(default=0)

    __table_args__ = (
        UniqueConstraint("organization_id", "number"),
        Index("ix_tickets_org_created", "organization_id", "created_at", "id"),
        Index("ix_tickets_org_status", "organization_id", "status"),
        Index("ix_tickets_org_requester", "organization_id", "requester_id"),
        Index("ix_tickets_org_assignee", "organization_id", "assigned_to"),
        Index("ix_tickets_org_sla_due", "organization_id", "sla_due_at"),
    )


class Comment(Base):
    __tablename__ = "ticket_comments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    content: Mapped[str] = mapped_column(Text)
    is_internal: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_ticket_comments_ticket", "ticket_id", "created_at"),)


class AuditLog(Base):
    """Who did what, when. Ticket entries carry the projection version they were written
    with, so a retried projection activity cannot log the same change twice."""

    __tablename__ = "audit_log"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE")
    )
    ticket_version: Mapped[int | None]
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    from_value: Mapped[str | None] = mapped_column(String(200))
    to_value: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_internal: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("ticket_id", "ticket_version", "action"),
        Index("ix_audit_log_ticket", "ticket_id", "created_at"),
    )
