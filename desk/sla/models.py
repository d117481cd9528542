"""Business calendars, SLA policies and the SLA facts of tickets, per organization."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.db.base import Base, IdMixin, TimestampMixin
from desk.db.types import JSONType


class BusinessCalendar(IdMixin, TimestampMixin, Base):
    __tablename__ = "business_calendars"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], ...}; a missing day is closed.
    weekly_hours: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    holidays: Mapped[list[str]] = mapped_column(JSONType, default=list)  # ISO dates


class SlaPolicy(IdMixin, TimestampMixin, Base):
    """Targets for one priority (optionally one service); no calendar means 24x7."""

    __tablename__ = "sla_policies"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200), default="")
    priority: Mapped[str] = mapped_column(String(16))
    service_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE")
    )
    calendar_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("business_calendars.id", ondelete="RESTRICT")
    )
    # Minutes, fractions allowed: short targets make SLA behaviour testable end to end.
    accept_minutes: Mapped[float | None] = mapped_column(Float)
    first_response_minutes: Mapped[float] = mapped_column(Float)
    resolution_minutes: Mapped[float] = mapped_column(Float)
    warn_at_percent: Mapped[int] = mapped_column(default=80)
    is_active: Mapped[bool] = mapped_column(default=True)


class SlaFact(Base):
    """One SLA metric of one ticket as the reports read it: ``desk.sla.tracker.facts``
    (outcome, start, business and paused seconds are defined there).

    Written only by the ticket projection, in the transaction that writes the ticket row at
    the same version; a ticket's facts therefore never disagree with its row. Rows copied
    from tickets older than the facts (migration 0005) have no business or paused seconds.
    """

    __tablename__ = "sla_facts"

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    # The ticket's current priority, service and assignee (copies of its checked columns),
    # so the reports group and filter without a join.
    priority: Mapped[str] = mapped_column(String(16))
    service_id: Mapped[uuid.UUID | None]
    assigned_to: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    target_seconds: Mapped[float | None] = mapped_column(Float)
    due_at: Mapped[datetime | None]
    met_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    business_seconds: Mapped[float | None] = mapped_column(Float)
    paused_seconds: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        # Every report reads one organization's facts by the instant their clock started;
        # the breaches list only the breached ones.
        Index("ix_sla_facts_org_started", "organization_id", "started_at", "ticket_id", "metric"),
        Index("ix_sla_facts_org_outcome_started", "organization_id", "outcome", "started_at"),
    )
