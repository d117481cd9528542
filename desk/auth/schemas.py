"""Request and response bodies of the auth API (pydantic only: no SQLAlchemy here)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from desk.enums import Role


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="seconds until the access token expires")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class OrganizationRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str


class Me(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    is_active: bool
    organization: OrganizationRef
