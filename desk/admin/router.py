"""HTTP routes of desk.admin: users and services of the caller's organization (ADMIN only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from desk.admin import service
from desk.admin.schemas import (
    ServiceCreate,
    ServiceOut,
    ServiceUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from desk.auth.deps import AdminUser, CurrentUser
from desk.enums import Role
from desk.http.deps import SessionDep
from desk.http.pagination import Offset

_EMAIL_TAKEN = {409: {"description": "`email_taken`: the email is in use."}}
_NAME_TAKEN = {409: {"description": "`service_name_taken`: the organization has one."}}
_SELF = {
    409: {"description": "`cannot_modify_self`: an admin cannot deactivate or demote themselves."}
}
router = APIRouter(responses={403: {"description": "Requires the ADMIN role."}})

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]


@router.post(
    "/users",
    name="create",
    responses=_EMAIL_TAKEN,
    tags=["users"],
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_user(body: UserCreate, admin: AdminUser, session: SessionDep) -> UserOut:
    """Create a user in the caller's organization; 409 `email_taken` if the email is in use."""
    user = await service.create_user(
        session,
        organization_id=admin.organization_id,
        email=body.email,
        role=body.role,
        password=body.password,
        full_name=body.full_name,
        actor_id=admin.id,
    )
    await session.commit()
    return UserOut.model_validate(user)


@router.get("/users", name="list", tags=["users"], response_model=list[UserOut])
async def list_users(
    admin: AdminUser,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    role: Role | None = None,
    is_active: bool | None = None,
) -> list[UserOut]:
    """The organization's users, oldest first."""
    users = await service.list_users(
        session, admin, limit=limit, offset=offset, role=role, is_active=is_active
    )
    await session.commit()
    return [UserOut.model_validate(u) for u in users]


@router.patch(
    "/users/{user_id}", name="update", responses=_SELF, tags=["users"], response_model=UserOut
)
async def update_user(
    request: Request, user_id: uuid.UUID, body: UserUpdate, caller: CurrentUser, session: SessionDep
) -> UserOut:
    """Change a user's name, role, password or active flag (`is_active: false` deactivates
    and ends their sessions). Admins cannot deactivate or demote themselves.

    The role is checked after the tenant: another organization's id is 404 for anyone."""
    user = await service.update_user(session, caller, user_id, body)
    await session.commit()
    request.app.state.callers.forget_user(user.id)  # other API processes: within its TTL
    return UserOut.model_validate(user)


@router.post(
    "/services",
    name="create",
    responses=_NAME_TAKEN,
    tags=["services"],
    response_model=ServiceOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_service(body: ServiceCreate, admin: AdminUser, session: SessionDep) -> ServiceOut:
    """Create a service; 409 `service_name_taken` if the organization has one by that name."""
    svc = await service.create_service(session, admin, body)
    await session.commit()
    return ServiceOut.model_validate(svc)


@router.get("/services", name="list", tags=["services"], response_model=list[ServiceOut])
async def list_services(
    admin: AdminUser,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    is_active: bool | None = None,
) -> list[ServiceOut]:
    """The organization's services, by name."""
    services = await service.list_services(
        session, admin, limit=limit, offset=offset, is_active=is_active
    )
    await session.commit()
    return [ServiceOut.model_validate(s) for s in services]


@router.patch(
    "/services/{service_id}",
    name="update",
    responses=_NAME_TAKEN,
    tags=["services"],
    response_model=ServiceOut,
)
async def update_service(
    service_id: uuid.UUID, body: ServiceUpdate, caller: CurrentUser, session: SessionDep
) -> ServiceOut:
    """Rename, describe, deactivate or reactivate a service (ADMIN; another organization's
    id is 404 for anyone)."""
    svc = await service.update_service(session, caller, service_id, body)
    await session.commit()
    return ServiceOut.model_validate(svc)
