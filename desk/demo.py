"""The demo organization `desk seed-demo` and `desk dev` create: one user per role, a
service and the default SLA policies, with fixed logins printed for a newcomer to try."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.admin.models import Service
from desk.admin.organizations import create_organization
from desk.admin.service import create_user
from desk.auth.models import User
from desk.enums import Role

DEMO_ORGANIZATION = "ATUM Demo"
DEMO_SERVICE = "IT Support"


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    email: str
    password: str
    full_name: str


# Fixed, publicly known credentials: this is demo data for a local run, never production.
DEMO_LOGINS = (
    DemoLogin(Role.CUSTOMER, "customer@atum-demo.example.com", "demo-customer", "Casey Customer"),
    DemoLogin(Role.AGENT, "agent@atum-demo.example.com", "demo-agent", "Alex Agent"),
    DemoLogin(Role.MANAGER, "manager@atum-demo.example.com", "demo-manager", "Morgan Manager"),
    DemoLogin(Role.ADMIN, "admin@atum-demo.example.com", "demo-admin", "Ada Admin"),
)


@dataclass(frozen=True)
class SeedResult:
    created: bool  # False: the demo was already there and nothing changed
    organization_id: str


async def seed_demo(session: AsyncSession) -> SeedResult:
    """Create the demo organization unless its admin login already exists (then do nothing).

    Commits. Raises desk.errors.Conflict if another organization holds a demo email.
    """
    admin_email = DEMO_LOGINS[-1].email
    existing = (
        await session.execute(select(User.organization_id).where(User.email == admin_email))
    ).scalar_one_or_none()
    if existing is not None:
        return SeedResult(created=False, organization_id=str(existing))

    org = await create_organization(session, DEMO_ORGANIZATION)
    session.add(
        Service(
            organization_id=org.id,
            name=DEMO_SERVICE,
            description="Laptops, accounts, network: anything IT.",
        )
    )
    for login in DEMO_LOGINS:
        await create_user(
            session,
            organization_id=org.id,
            email=login.email,
            role=login.role,
            password=login.password,
            full_name=login.full_name,
        )
    await session.commit()
    return SeedResult(created=True, organization_id=str(org.id))


def format_logins() -> str:
    """The demo logins as a small aligned table, for the terminal."""
    width = max(len(login.email) for login in DEMO_LOGINS)
    lines = [f"  {'role':<9} {'email':<{width}}  password"]
    lines += [
        f"  {login.role.value:<9} {login.email:<{width}}  {login.password}" for login in DEMO_LOGINS
    ]
    return "\n".join(lines)
