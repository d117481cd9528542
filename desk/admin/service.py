"""Users and services of an organization: create, list, update. Functions flush; callers commit."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from desk.admin.models import Service
from desk.admin.schemas import (
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    ServiceCreate,
    ServiceUpdate,
    UserUpdate,
)
from desk.auth.deps import get_scoped_or_404, scoped
from desk.auth.models import User
from desk.auth.security import hash_password
from desk.auth.service import revoke_user_refresh_tokens
from desk.db.types import utcnow
from desk.enums import Role
from desk.errors import Conflict, Forbidden, Unprocessable
from desk.tickets.models import AuditLog
from desk.validation import Email


def ensure_admin(caller: User) -> None:
    """Forbidden unless the caller is an ADMIN (same answer as ``desk.auth.deps.AdminUser``)."""
    if caller.role != Role.ADMIN:
        raise Forbidden("requires role ADMIN", code="insufficient_role")


_EMAIL = TypeAdapter(Email)


def normalize_email(email: str) -> str:
    """The canonical (validated, lower-cased) form of ``email``, by the same rule as the
    API's; Unprocessable if invalid."""
    try:
        return _EMAIL.validate_python(email.strip())
    except ValidationError:
        raise Unprocessable(f"invalid email address: {email!r}", code="invalid_email") from None


def _check_password(password: str) -> None:
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise Unprocessable(
            f"password must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters",
            code="invalid_password",
        )


def _role(role: Role | str) -> Role:
    try:
        return Role(str(role).upper())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise Unprocessable(
            f"unknown role {role!r}; one of {allowed}", code="invalid_role"
        ) from None


async def audit(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    action: str,
    details: dict[str, Any],
) -> None:
    """An audit-log entry about something other than a ticket (``ticket_id`` stays NULL)."""
    session.add(
        AuditLog(
            organization_id=organization_id,
            actor_id=actor_id,
            action=action,
            details=details,
            is_internal=True,
        )
    )


# --- Users ----------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    email: str,
    role: Role | str,
    password: str,
    full_name: str = "",
    actor_id: uuid.UUID | None = None,
) -> User:
    """A new user of the organization, with an argon2 password hash and an audit entry.

    Validates the email (lower-cased), the password length and the role (Unprocessable),
    and raises Conflict ``email_taken`` if any organization already has the email.
    Flushes; the caller commits.
    """
    email = normalize_email(email)
    _check_password(password)
    user = User(
        organization_id=organization_id,
        email=email,
        full_name=full_name.strip(),
        role=_role(role),
        password_hash=hash_password(password),
        is_active=True,
    )
    await _flush_unique(session, user, _email_taken(email), exists=_email_exists(email))
    await audit(
        session,
        organization_id=organization_id,
        actor_id=actor_id,
        action="user.created",
        details={"user_id": str(user.id), "email": email, "role": user.role},
    )
    await session.flush()
    return user


def _email_taken(email: str) -> Conflict:
    return Conflict(f"a user with email {email} already exists", code="email_taken")


def _email_exists(email: str) -> Select[tuple[uuid.UUID]]:
    return select(User.id).where(User.email == email)


async def _flush_unique(
    session: AsyncSession, row: Any, conflict: Conflict, *, exists: Select[Any]
) -> None:
    """Add and flush ``row``, turning a unique-key clash into ``conflict``.

    The pre-check gives the common case a clean answer; the savepoint catches the race
    where another request inserts the same key between the check and the flush.
    """
    if (await session.execute(exists.limit(1))).first() is not None:
        raise conflict
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise conflict from None


async def list_users(
    session: AsyncSession,
    caller: User,
    *,
    limit: int,
    offset: int,
    role: Role | None = None,
    is_active: bool | None = None,
) -> list[User]:
    """The caller's organization's users, oldest first."""
    query = scoped(User, caller)
    if role is not None:
        query = query.where(User.role == role)
    if is_active is not None:
        query = query.where(User.is_active == is_active)
    query = query.order_by(User.created_at, User.id).limit(limit).offset(offset)
    return list((await session.execute(query)).scalars())


async def update_user(
    session: AsyncSession, caller: User, user_id: uuid.UUID, changes: UserUpdate
) -> User:
    """Apply the fields sent in ``changes`` to a user of the caller's organization.

    Another organization's user is NotFound whoever asks (no existence leak); only then
    must the caller be an ADMIN (Forbidden).

    An admin may not deactivate or demote themselves (Conflict ``cannot_modify_self``),
    so an organization cannot lose its last way in by accident. Deactivating a user or
    setting a new password ends their sessions (refresh tokens revoked); a new password
    also clears a login lockout.
    """
    user = await get_scoped_or_404(session, User, user_id, caller, what="user")
    ensure_admin(caller)
    fields = changes.model_dump(exclude_unset=True)
    if user.id == caller.id and (
        fields.get("is_active") is False or (fields.get("role") or Role.ADMIN) != Role.ADMIN
    ):
        raise Conflict(
            "you cannot deactivate or demote yourself; ask another admin",
            code="cannot_modify_self",
        )
    changed: dict[str, Any] = {}
    for name in ("full_name", "role", "is_active"):
        value = fields.get(name)
        if value is not None and getattr(user, name) != value:
            changed[name] = {"from": getattr(user, name), "to": value}
            setattr(user, name, value)
    end_sessions = "is_active" in changed and not user.is_active
    if fields.get("password") is not None:
        user.password_hash = hash_password(fields["password"])
        user.failed_login_count = 0
        user.locked_until = None
        changed["password"] = "changed"  # noqa: S105 - a marker, not a secret
        end_sessions = True
    if not changed:
        return user
    user.updated_at = utcnow()
    await session.flush()
    if end_sessions:
        await revoke_user_refresh_tokens(session, user.id)
    await audit(
        session,
        organization_id=user.organization_id,
        actor_id=caller.id,
        action="user.updated",
        details={"user_id": str(user.id), "changes": changed},
    )
    await session.flush()
    return user


# --- Services -------------------------------------------------------------------------


def _service_name_taken(name: str) -> Conflict:
    return Conflict(f"a service named {name!r} already exists", code="service_name_taken")


def _service_name_exists(organization_id: uuid.UUID, name: str) -> Select[tuple[uuid.UUID]]:
    return select(Service.id).where(
        Service.organization_id == organization_id, Service.name == name
    )


async def create_service(session: AsyncSession, caller: User, data: ServiceCreate) -> Service:
    """A new service of the caller's organization (names are unique per organization)."""
    service = Service(
        organization_id=caller.organization_id,
        name=data.name,
        description=data.description,
        is_active=data.is_active,
    )
    await _flush_unique(
        session,
        service,
        _service_name_taken(data.name),
        exists=_service_name_exists(caller.organization_id, data.name),
    )
    await audit(
        session,
        organization_id=caller.organization_id,
        actor_id=caller.id,
        action="service.created",
        details={"service_id": str(service.id), "name": service.name},
    )
    await session.flush()
    return service


async def list_services(
    session: AsyncSession,
    caller: User,
    *,
    limit: int,
    offset: int,
    is_active: bool | None = None,
) -> list[Service]:
    """The caller's organization's services, by name."""
    query = scoped(Service, caller)
    if is_active is not None:
        query = query.where(Service.is_active == is_active)
    query = query.order_by(Service.name, Service.id).limit(limit).offset(offset)
    return list((await session.execute(query)).scalars())


async def update_service(
    session: AsyncSession, caller: User, service_id: uuid.UUID, changes: ServiceUpdate
) -> Service:
    """Apply the fields sent in ``changes`` to a service of the caller's organization
    (NotFound for another organization's, whoever asks; then Forbidden unless ADMIN)."""
    service = await get_scoped_or_404(session, Service, service_id, caller, what="service")
    ensure_admin(caller)
    fields = changes.model_dump(exclude_unset=True)
    new_name = fields.get("name")
    if new_name is not None and new_name != service.name:
        exists = _service_name_exists(service.organization_id, new_name)
        if (await session.execute(exists.limit(1))).first() is not None:
            raise _service_name_taken(new_name)
    changed: dict[str, Any] = {}
    for name in ("name", "description", "is_active"):
        value = fields.get(name)
        if value is not None and getattr(service, name) != value:
            changed[name] = {"from": getattr(service, name), "to": value}
            setattr(service, name, value)
    if not changed:
        return service
    service.updated_at = utcnow()
    # A rename racing another one to the same name ends in the generic 409 of the handler.
    await session.flush()
    await audit(
        session,
        organization_id=service.organization_id,
        actor_id=caller.id,
        action="service.updated",
        details={"service_id": str(service.id), "changes": changed},
    )
    await session.flush()
    return service
