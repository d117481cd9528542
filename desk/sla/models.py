"""Business calendars and SLA policies, per organization."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Float, ForeignKey, String
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
