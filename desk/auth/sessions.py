"""Portal sign-in: a server-side session behind an opaque cookie token.

Only the token's SHA-256 is stored. A session lasts ``DESK_SESSION_HOURS`` from its last
use (extended at most once per tenth of that, so browsing is not a write per page); logout
deletes it. Sign-in goes through :func:`desk.auth.service.authenticate`, so the lockout is
the API login's.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.auth.models import PortalSession, User
from desk.auth.service import authenticate
from desk.db.types import utcnow
from desk.settings import Settings

SESSION_COOKIE = "desk_session"


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_lifetime(settings: Settings) -> timedelta:
    return timedelta(hours=settings.session_hours)


def open_session(session: AsyncSession, user: User, *, now: datetime, lifetime: timedelta) -> str:
    """Add a portal session of ``user`` (its token's hash only) to ``session``, uncommitted;
    returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    session.add(
        PortalSession(
            organization_id=user.organization_id,
            user_id=user.id,
            token_hash=hash_session_token(token),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


async def sign_in(
    session: AsyncSession, settings: Settings, email: str, password: str
) -> tuple[User, str]:
    """Check the credentials (lockout included) and open a portal session; commits.
    Returns the user and the cookie's token."""
    user = await authenticate(session, settings, email, password)
    now = utcnow()
    token = open_session(session, user, now=now, lifetime=session_lifetime(settings))
    # Sign-ins are rare next to page views: a good moment to drop sessions that ran out.
    await session.execute(delete(PortalSession).where(PortalSession.expires_at <= now))
    await session.commit()
    return user, token


async def session_user(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, token: str
) -> User | None:
    """The active user of an unexpired session, or None; extends the session when a tenth
    of its lifetime has passed since it was last extended."""
    now = utcnow()
    token_hash = hash_session_token(token)
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(PortalSession, User)
                .join(User, User.id == PortalSession.user_id)
                .where(PortalSession.token_hash == token_hash, PortalSession.expires_at > now)
            )
        ).one_or_none()
        if row is None:
            return None
        portal_session, user = row
        if not user.is_active or user.organization_id != portal_session.organization_id:
            return None
        lifetime = session_lifetime(settings)
        if portal_session.expires_at - now < lifetime - lifetime / 10:
            await session.execute(
                update(PortalSession)
                .where(PortalSession.id == portal_session.id)
                .values(expires_at=now + lifetime)
            )
            await session.commit()
        return user


async def sign_out(session: AsyncSession, token: str) -> None:
    """End the session (deleting its row); an unknown token is ignored. Commits."""
    await session.execute(
        delete(PortalSession).where(PortalSession.token_hash == hash_session_token(token))
    )
    await session.commit()
