"""Request and response bodies of the notification and webhook APIs, and the event names
(pydantic only: no SQLAlchemy here, so workflows may import it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    computed_field,
    field_validator,
)

from desk.validation import NO_NUL

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


# What a webhook URL may be, spelled out so that every string the document allows is one the
# URL parser takes: scheme, a DNS name (its last label not a number), a dotted IPv4 or a
# bracketed IPv6 address, a port, then path, query and fragment of RFC 3986 characters.
# Normalizing such a URL never lengthens it past the column (at most a trailing "/").
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_H16 = r"[0-9A-Fa-f]{1,4}"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
# RFC 4291's textual forms, "::" compression and an embedded IPv4 address included.
_IPV6 = (
    rf"(?:(?:{_H16}:){{7}}{_H16}|(?:{_H16}:){{1,7}}:|(?:{_H16}:){{1,6}}:{_H16}"
    rf"|(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}|(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}"
    rf"|(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}|(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}"
    rf"|{_H16}:(?::{_H16}){{1,6}}|:(?:(?::{_H16}){{1,7}}|:)"
    rf"|::(?:[Ff]{{4}}(?::0{{1,4}})?:)?{_IPV4}|(?:{_H16}:){{1,4}}:{_IPV4})"
)
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_PCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})"
_QCHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})"
WEBHOOK_URL_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:(?:{_LABEL}\.)*{_TOP_LABEL}|{_IPV4}|\[{_IPV6}\])"
    rf"(?::{_PORT})?(?:/{_PCHAR}*)*(?:\?{_QCHAR}*)?(?:#{_QCHAR}*)?$"
)
_HTTP_URL = TypeAdapter(HttpUrl)


def _normalized_http_url(value: str) -> str:
    return str(_HTTP_URL.validate_python(value))


WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=WEBHOOK_URL_MAX_LENGTH - 1,
        pattern=WEBHOOK_URL_PATTERN,
        json_schema_extra={"format": "uri"},
        description="http:// or https:// endpoint to POST events to",
    ),
    AfterValidator(_normalized_http_url),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    secret: Annotated[
        str,
        Field(
            min_length=WEBHOOK_SECRET_MIN_LENGTH,
            max_length=WEBHOOK_SECRET_MAX_LENGTH,
            pattern=NO_NUL,
            description="HMAC-SHA256 key for X-Desk-Signature; never shown again in full",
        ),
    ]
    events: Annotated[list[WebhookEvent], Field(min_length=1, max_length=len(WebhookEvent))]

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
