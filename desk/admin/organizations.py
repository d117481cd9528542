"""The tenant itself: creating an organization with everything it must start with, and the
settings its ADMIN may read and change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from desk.admin.schemas import OrganizationUpdate
from desk.admin.service import audit, ensure_admin
from desk.auth.models import Organization, User
from desk.db.types import utcnow
from desk.errors import NotFound, Unprocessable
from desk.sla.clock import InvalidCalendar, load_zone
from desk.sla.defaults import create_default_policies


async def create_organization(
    session: AsyncSession, name: str, *, auto_close_days: int = 7, timezone: str = "UTC"
) -> Organization:
    """A new organization with its default SLA calendar and policies (flushes, no commit)."""
    org = Organization(name=name, auto_close_days=auto_close_days)
    session.add(org)
    await session.flush()
    await create_default_policies(session, org, timezone=timezone)
    return org


async def get_organization(session: AsyncSession, caller: User) -> Organization:
    """The caller's organization and its settings (ADMIN)."""
    ensure_admin(caller)
    org = await session.get(Organization, caller.organization_id)
    if org is None:  # the caller's row references it: only a concurrent delete gets here
        raise NotFound("organization not found")
    return org


async def update_organization(
    session: AsyncSession, caller: User, changes: OrganizationUpdate
) -> Organization:
    """Change the settings sent in ``changes`` (ADMIN); ``reporting_timezone`` must be an
    IANA zone name (422 ``invalid_timezone``). Audited; flushes, no commit."""
    org = await get_organization(session, caller)
    fields = changes.model_dump(exclude_unset=True)
    zone = fields.get("reporting_timezone")
    changed = {}
    if zone is not None and zone != org.reporting_timezone:
        try:
            load_zone(zone)
        except InvalidCalendar as exc:
            raise Unprocessable(str(exc), code="invalid_timezone") from None
        changed["reporting_timezone"] = {"from": org.reporting_timezone, "to": zone}
        org.reporting_timezone = zone
    if changed:
        org.updated_at = utcnow()
        await audit(
            session,
            organization_id=org.id,
            actor_id=caller.id,
            action="organization.updated",
            details={"changes": changed},
        )
        await session.flush()
    return org
