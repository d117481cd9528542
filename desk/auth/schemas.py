"""Request and response bodies of the auth API (pydantic only: no SQLAlchemy here)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from desk.enums import Role
from desk.validation import NO_NUL, omitted


class LoginForm(BaseModel):
    """The OAuth2 password grant form: ``username`` is the email."""

    grant_type: Literal["password"] = omitted()
    username: str = Field(min_length=1, max_length=320, pattern=NO_NUL)
    password: str = Field(min_length=1, max_length=1024)
    scope: str = Field("", max_length=1000)
    client_id: str = Field("", max_length=200)
    client_secret: str = Field("", max_length=200)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="seconds until the access token expires")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512, pattern=NO_NUL)


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
