"""Login with lockout, refresh-token rotation with reuse detection, logout.

Refresh tokens are opaque; only their SHA-256 is stored. Each login starts a *family*;
every refresh marks the presented token used and issues the next one in the family. A used
token presented again means it was copied: the whole family is revoked.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, case, literal, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.models import RefreshToken, User
from desk.auth.schemas import TokenPair
from desk.auth.security import (
    create_access_token,
    hash_password,
    hash_refresh_token,
    needs_rehash,
    new_refresh_token,
    verify_password,
)
from desk.db.types import UTCDateTime, utcnow
from desk.errors import TooManyRequests, Unauthorized
from desk.settings import Settings


def invalid_credentials() -> Unauthorized:
    # One answer for an unknown email, a wrong password and an inactive user.
    return Unauthorized("incorrect email or password", code="invalid_credentials")


def invalid_refresh_token() -> Unauthorized:
    return Unauthorized("invalid or expired refresh token", code="invalid_refresh_token")


def _locked(until: datetime, now: datetime) -> TooManyRequests:
    return TooManyRequests(
        "too many failed logins; try again later",
        code="account_locked",
        retry_after=math.ceil((until - now).total_seconds()),
    )


async def login(session: AsyncSession, settings: Settings, email: str, password: str) -> TokenPair:
    """Check the credentials and open a new session (token family); commits.

    Raises as :func:`authenticate` does.
    """
    user = await authenticate(session, settings, email, password)
    tokens = await _issue(session, settings, user, family_id=uuid.uuid4(), now=utcnow())
    await session.commit()
    return tokens


async def authenticate(
    session: AsyncSession, settings: Settings, email: str, password: str
) -> User:
    """The active user with these credentials, under the lockout rules; the API's token
    login and the portal's sign-in both start here. Flushes the successful login (no
    commit: the caller adds its session or tokens and commits).

    Raises Unauthorized ``invalid_credentials`` (unknown email, wrong password, inactive
    user: same answer, same argon2 cost) or TooManyRequests ``account_locked``.
    """
    email = email.strip().lower()
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    # End the read transaction before hashing: on SQLite it holds the write lock.
    await session.commit()
    now = utcnow()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        raise _locked(user.locked_until, now)

    # argon2 is slow by design: keep the event loop free while it runs.
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None:
        raise invalid_credentials()
    if not ok:
        locked_until = await _record_failure(session, settings, user.id, now)
        await session.commit()
        if locked_until is not None and locked_until > now:
            raise _locked(locked_until, now)
        raise invalid_credentials()
    if not user.is_active:
        raise invalid_credentials()

    values: dict[str, object] = {
        "failed_login_count": 0,
        "locked_until": None,
        "last_login_at": now,
    }
    if needs_rehash(user.password_hash):
        values["password_hash"] = await asyncio.to_thread(hash_password, password)
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return user


async def _record_failure(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, now: datetime
) -> datetime | None:
    """Count one failed login in a single UPDATE, so concurrent failures on any replica all
    count; lock the account when the count reaches the limit. Returns ``locked_until``."""
    lock_expired = and_(User.locked_until.is_not(None), User.locked_until <= now)
    count = case((lock_expired, 0), else_=User.failed_login_count) + 1
    lock_until = literal(now + timedelta(minutes=settings.login_lockout_minutes), UTCDateTime())
    result = await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            failed_login_count=count,
            locked_until=case(
                (count >= settings.login_max_failures, lock_until),
                (lock_expired, null()),
                else_=User.locked_until,
            ),
        )
        .returning(User.locked_until)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one()


async def _issue(
    session: AsyncSession, settings: Settings, user: User, *, family_id: uuid.UUID, now: datetime
) -> TokenPair:
    """An access token and the next refresh token of ``family_id`` (flushes)."""
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            organization_id=user.organization_id,
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_refresh_token(refresh),
            created_at=now,
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    await session.flush()
    access = create_access_token(
        settings, user_id=user.id, organization_id=user.organization_id, role=user.role, now=now
    )
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.access_token_minutes * 60,
    )


async def refresh(session: AsyncSession, settings: Settings, token: str) -> TokenPair:
    """Rotate a refresh token: the presented one stops working, the next is returned; commits.

    A token that was already rotated revokes its whole family (Unauthorized
    ``refresh_token_reused``); an unknown, expired or revoked one, or an inactive user,
    is Unauthorized ``invalid_refresh_token``.
    """
    now = utcnow()
    token_hash = hash_refresh_token(token)
    # Mark used only if still usable, in one statement: of two concurrent presentations of
    # the same token exactly one rotates it, the other counts as a replay.
    claimed = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(RefreshToken.user_id, RefreshToken.family_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if claimed is None:
        row = (
            await session.execute(
                select(RefreshToken.family_id, RefreshToken.used_at).where(
                    RefreshToken.token_hash == token_hash
                )
            )
        ).one_or_none()
        if row is not None and row.used_at is not None:
            await revoke_family(session, row.family_id, now=now)
            await session.commit()
            raise Unauthorized(
                "refresh token was already used; the session has been revoked",
                code="refresh_token_reused",
            )
        raise invalid_refresh_token()

    user = await session.get(User, claimed.user_id)
    if user is None or not user.is_active:
        await revoke_family(session, claimed.family_id, now=now)
        await session.commit()
        raise invalid_refresh_token()
    tokens = await _issue(session, settings, user, family_id=claimed.family_id, now=now)
    await session.commit()
    return tokens


async def logout(session: AsyncSession, token: str) -> None:
    """Revoke the session (token family) the refresh token belongs to; unknown tokens are
    ignored so logging out twice is harmless. Commits."""
    family_id = (
        await session.execute(
            select(RefreshToken.family_id).where(
                RefreshToken.token_hash == hash_refresh_token(token)
            )
        )
    ).scalar_one_or_none()
    if family_id is not None:
        await revoke_family(session, family_id)
    await session.commit()


async def revoke_family(
    session: AsyncSession, family_id: uuid.UUID, *, now: datetime | None = None
) -> None:
    """Revoke every still-valid token of one login session (flushes, no commit)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )


async def revoke_user_refresh_tokens(session: AsyncSession, user_id: uuid.UUID) -> None:
    """End every session of a user, e.g. on deactivation or a password reset (no commit)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
