"""People to act as: organizations and users in the test database, and their credentials.

argon2 is slow by design (about 0.4 s a hash), so each password is hashed once per run and
that hash is given to every user who has the password.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.auth.models import Organization, User
from desk.auth.security import create_access_token, hash_password
from desk.db.types import utcnow
from desk.enums import Role
from desk.settings import Settings

PASSWORD = "correct horse battery staple"


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    """The argon2 hash of ``password``, computed on its first use in the run."""
    return hash_password(password)


@dataclass
class World:
    """Factories bound to the test database. Each test makes its own organization(s), so
    tests never see each other's rows."""

    sessionmaker: async_sessionmaker[AsyncSession]

    async def org(self, name: str = "Acme", **fields) -> Organization:
        async with self.sessionmaker() as session:
            org = Organization(name=name, **fields)
            session.add(org)
            await session.commit()
            return org

    async def user(
        self,
        org: Organization,
        role: Role = Role.CUSTOMER,
        *,
        email: str | None = None,
        password: str = PASSWORD,
        **fields,
    ) -> User:
        async with self.sessionmaker() as session:
            user = User(
                organization_id=org.id,
                email=email or f"{role.lower()}-{uuid.uuid4().hex[:10]}@example.com",
                full_name=fields.pop("full_name", f"Test {role.title()}"),
                role=role,
                password_hash=password_hash(password),
                **fields,
            )
            session.add(user)
            await session.commit()
            return user


async def login_headers(
    http: httpx.AsyncClient, user: User, password: str = PASSWORD
) -> dict[str, str]:
    """Log ``user`` in over HTTP through ``http`` (a client on any app); the auth header."""
    response = await http.post(
        "/api/v1/auth/login", data={"username": user.email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def bearer(settings: Settings, user: User) -> dict[str, str]:
    """An auth header for ``user`` signed with ``settings``' key, without logging in."""
    token = create_access_token(
        settings,
        user_id=user.id,
        organization_id=user.organization_id,
        role=user.role,
        now=utcnow(),
    )
    return {"Authorization": f"Bearer {token}"}
