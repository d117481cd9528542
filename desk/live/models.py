"""The live-events table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.db.base import Base
from desk.db.types import JSONType, utcnow


class LiveEvent(Base):
    """One change someone may be watching. Append-only; ``id`` grows with every insert and
    is the Server-Sent Events id a reconnecting stream resumes after. Old rows are pruned.

    Visibility is decided from the row alone: the organization, ``user_id`` (only that
    user: a notification), ``requester_id`` (a customer sees their own tickets' events) and
    ``is_internal`` (never for customers)."""

    __tablename__ = "live_events"

    # SQLite only autoincrements an INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE")
    )
    requester_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    is_internal: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    # Ids never go back, even once every row was pruned: streams resume by id.
    __table_args__ = {"sqlite_autoincrement": True}
