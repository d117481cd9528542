"""HTTP routes of desk.auth: login, refresh, logout, whoami."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Response, status

from desk.auth import service
from desk.auth.deps import CurrentUser
from desk.auth.models import Organization
from desk.auth.schemas import LoginForm, Me, OrganizationRef, RefreshRequest, TokenPair
from desk.http.deps import SessionDep, SettingsDep

router = APIRouter()

_UNAUTHORIZED = {401: {"description": "bad credentials or token"}}


@router.post(
    "/login",
    name="login",
    response_model=TokenPair,
    responses={**_UNAUTHORIZED, 429: {"description": "account locked; see Retry-After"}},
)
async def login(
    form: Annotated[LoginForm, Form()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPair:
    """Exchange email (form field `username`) and password for an access and a refresh token."""
    return await service.login(session, settings, form.username, form.password)


@router.post("/refresh", name="refresh", response_model=TokenPair, responses=_UNAUTHORIZED)
async def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Rotate a refresh token; the one presented stops working."""
    return await service.refresh(session, settings, body.refresh_token)


@router.post("/logout", name="logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, session: SessionDep) -> Response:
    """End the session the refresh token belongs to (idempotent)."""
    await service.logout(session, body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", name="me", response_model=Me, responses=_UNAUTHORIZED)
async def me(user: CurrentUser, session: SessionDep) -> Me:
    """The caller, their role and their organization."""
    org = await session.get(Organization, user.organization_id)
    await session.commit()
    return Me(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        is_active=user.is_active,
        organization=OrganizationRef.model_validate(org),
    )
