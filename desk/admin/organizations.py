"""Creating a tenant: the organization and everything it must start with."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.models import Organization
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
