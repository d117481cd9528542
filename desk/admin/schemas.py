"""Request and response bodies of the admin API (pydantic only: no SQLAlchemy here)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from desk.enums import Role
from desk.validation import NO_NUL, NOT_BLANK, Email, Flag, TimeZone, omitted

PASSWORD_MIN_LENGTH = 8
# argon2 pre-hashes any length, but nobody needs more, and it bounds the work per request.
PASSWORD_MAX_LENGTH = 1024

Password = Annotated[str, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)]
ServiceName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)
]
Description = Annotated[str, StringConstraints(max_length=10_000, pattern=NO_NUL)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Strict):
    email: Email
    password: Password
    role: Role = Role.CUSTOMER
    full_name: FullName = ""


class UserUpdate(_Strict):
    """Only the fields sent are changed; ``is_active: false`` deactivates the user."""

    full_name: FullName | None = None
    role: Role | None = None
    is_active: Flag | None = None
    password: Password | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


class ServiceCreate(_Strict):
    name: ServiceName
    description: Description = ""
    is_active: Flag = True


class ServiceUpdate(_Strict):
    name: ServiceName | None = None
    description: Description | None = None
    is_active: Flag | None = None


class ServiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class OrganizationUpdate(_Strict):
    """Only the fields sent are changed."""

    reporting_timezone: TimeZone = omitted(
        description="IANA time zone (e.g. `Europe/Berlin`) in which SLA reports read dates."
    )


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    auto_close_days: int
    reporting_timezone: str
    created_at: datetime
    updated_at: datetime
