"""Tenants and the people in them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from desk.db.base import Base, IdMixin, TimestampMixin


class Organization(IdMixin, TimestampMixin, Base):
    """A tenant: every other row hangs off one."""

    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    auto_close_days: Mapped[int] = mapped_column(default=7)
    # Human ticket numbers (#42) are allocated from this counter, per organization.
    next_ticket_number: Mapped[int] = mapped_column(default=1)
    # IANA zone in which the SLA reports read their dates (a day, a week).
    reporting_timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    # Login is by email alone, so emails are unique across the whole installation.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Brute-force protection lives in the database so it holds across API replicas.
    failed_login_count: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_users_organization_id_role", "organization_id", "role"),)


class RefreshToken(IdMixin, Base):
    """One issued refresh token; ``family_id`` ties together the rotations of one login."""

    __tablename__ = "refresh_tokens"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]  # set when rotated; a second use is a replay
    revoked_at: Mapped[datetime | None]


class PortalSession(IdMixin, Base):
    """A signed-in browser (the portal's cookie). Only the token's SHA-256 is stored, so a
    copy of the table signs nobody in; logout deletes the row, expiry ends it."""

    __tablename__ = "portal_sessions"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
