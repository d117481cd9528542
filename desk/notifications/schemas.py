"""Request and response bodies of the notification and webhook APIs, and the event names
(pydantic only: no SQLAlchemy here, so workflows may import it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, computed_field, field_validator

WEBHOOK_SECRET_MIN_LENGTH = 16
WEBHOOK_SECRET_MAX_LENGTH = 255
WEBHOOK_URL_MAX_LENGTH = 2000


class NotificationKind(StrEnum):
    """What an in-app notification is about (the column is free text; these are ours)."""

    SLA_WARNING = "SLA_WARNING"
    SLA_BREACHED = "SLA_BREACHED"


class WebhookEvent(StrEnum):
    SLA_WARNING = "SLA_WARNING"
    SLA_BREACHED = "SLA_BREACHED"
    TICKET_CREATED = "TICKET_CREATED"
    TICKET_STATUS_CHANGED = "TICKET_STATUS_CHANGED"


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID | None
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    read_at: datetime | None
    created_at: datetime

    @computed_field
    @property
    def read(self) -> bool:
        return self.read_at is not None


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[HttpUrl, Field(description="http:// or https:// endpoint to POST events to")]
    secret: Annotated[
        str,
        Field(
            min_length=WEBHOOK_SECRET_MIN_LENGTH,
            max_length=WEBHOOK_SECRET_MAX_LENGTH,
            description="HMAC-SHA256 key for X-Desk-Signature; never shown again in full",
        ),
    ]
    events: Annotated[list[WebhookEvent], Field(min_length=1, max_length=len(WebhookEvent))]

    @field_validator("url")
    @classmethod
    def _bounded_url(cls, url: HttpUrl) -> HttpUrl:
        if len(str(url)) > WEBHOOK_URL_MAX_LENGTH:
            raise ValueError(f"url is longer than {WEBHOOK_URL_MAX_LENGTH} characters")
        return url

    @field_validator("events")
    @classmethod
    def _unique_events(cls, events: list[WebhookEvent]) -> list[WebhookEvent]:
        return list(dict.fromkeys(events))


def mask_secret(secret: str) -> str:
    """Enough of a secret to recognize it, not to use it."""
    return f"{'*' * 8}{secret[-4:]}"


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    events: list[WebhookEvent]
    is_active: bool
    secret_masked: str = Field(description="the secret's last 4 characters only")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, webhook: Any) -> WebhookOut:
        return cls(
            id=webhook.id,
            url=webhook.url,
            events=webhook.events,
            is_active=webhook.is_active,
            secret_masked=mask_secret(webhook.secret),
            created_at=webhook.created_at,
            updated_at=webhook.updated_at,
        )


class WebhookDeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    webhook_id: uuid.UUID
    event: str
    dedupe_key: str
    status: str = Field(description="pending | delivered | failed (given up)")
    status_code: int | None
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
