"""Who is calling, what they may do, and queries that cannot forget the tenant."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.callers import CallerCache
from desk.auth.models import User
from desk.auth.principal import Principal
from desk.auth.security import decode_access_token
from desk.auth.sessions import SESSION_COOKIE, session_user
from desk.enums import Role
from desk.errors import Forbidden, NotFound, Unauthorized
from desk.http.deps import SessionMakerDep, SettingsDep
from desk.logging import bind as bind_log_context

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)

T = TypeVar("T")


async def get_current_user(
    request: Request,
    settings: SettingsDep,
    sessionmaker: SessionMakerDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    """The active user behind the bearer token or, without one, the portal's session
    cookie; else 401. The API and the portal both resolve their caller here.

    Uses its own short session so no transaction (or SQLite write lock) outlives the lookup.
    """
    if not token:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthorized("missing bearer token")
        user = await session_user(sessionmaker, settings, cookie)
        if user is None:
            raise Unauthorized("session expired or signed out", code="invalid_session")
        bind_log_context(user_id=user.id)
        return user
    claims = decode_access_token(settings, token)
    if claims is None:
        raise Unauthorized("invalid or expired token", code="invalid_token")
    callers: CallerCache = request.app.state.callers
    user = callers.get(token)
    if user is None:
        async with sessionmaker() as session:
            user = await session.get(User, claims.user_id)
        if user is None or not user.is_active or user.organization_id != claims.organization_id:
            raise Unauthorized("invalid or expired token", code="invalid_token")
        callers.put(token, user)
    bind_log_context(user_id=user.id)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    """A dependency that lets through only users holding one of ``roles`` (else 403)."""
    allowed = frozenset(roles)

    async def _dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(
                f"requires role {' or '.join(sorted(allowed))}", code="insufficient_role"
            )
        return user

    return _dependency


AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]


def scoped(model: type[T], user: Principal) -> Select[tuple[T]]:
    """``SELECT model`` already filtered to the caller's organization."""
    return select(model).where(model.organization_id == user.organization_id)  # type: ignore[attr-defined]


async def get_scoped_or_404(
    session: AsyncSession, model: type[T], object_id: uuid.UUID, user: Principal, *, what: str = ""
) -> T:
    """The caller's organization's ``model`` row with this id; another tenant's is a 404."""
    row = (
        await session.execute(scoped(model, user).where(model.id == object_id))  # type: ignore[attr-defined]
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{what or model.__name__.lower()} not found")
    return row
