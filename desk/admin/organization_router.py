"""HTTP routes of the caller's organization settings (ADMIN only)."""

from __future__ import annotations

from fastapi import APIRouter

from desk.admin import organizations
from desk.admin.schemas import OrganizationOut, OrganizationUpdate
from desk.auth.deps import AdminUser
from desk.http.deps import SessionDep

router = APIRouter(
    tags=["organization"], responses={403: {"description": "Requires the ADMIN role."}}
)


@router.get("/organization", name="get", response_model=OrganizationOut)
async def get_organization(admin: AdminUser, session: SessionDep) -> OrganizationOut:
    """The caller's organization and its settings."""
    org = await organizations.get_organization(session, admin)
    await session.commit()
    return OrganizationOut.model_validate(org)


@router.patch("/organization", name="update", response_model=OrganizationOut)
async def update_organization(
    body: OrganizationUpdate, admin: AdminUser, session: SessionDep
) -> OrganizationOut:
    """Change the organization's settings: `reporting_timezone` (an IANA zone, 422
    `invalid_timezone` otherwise) is where SLA reports read their dates."""
    org = await organizations.update_organization(session, admin, body)
    await session.commit()
    return OrganizationOut.model_validate(org)
