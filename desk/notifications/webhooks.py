"""Signed webhook delivery, recorded per (event, webhook) so a retried activity never
re-sends a delivery that already succeeded or was given up.

Outcomes: 2xx delivered; 408, 429, 5xx, timeouts and connection errors raise
RetryableDeliveryError (Temporal retries the activity with backoff); any other status (4xx,
an unfollowed 3xx) is a permanent failure, recorded and returned, never retried.
Receivers should dedupe on ``X-Desk-Delivery``: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk import metrics
from desk.db.insert import insert_on_conflict
from desk.db.types import utcnow
from desk.notifications.models import Webhook, WebhookDelivery
from desk.notifications.schemas import WebhookEvent
from desk.notifications.service import check_dedupe_key

SIGNATURE_HEADER = "X-Desk-Signature"
EVENT_HEADER = "X-Desk-Event"
DELIVERY_HEADER = "X-Desk-Delivery"
USER_AGENT = "ATUM-Desk-Webhooks/1"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRYABLE_4XX = frozenset({408, 429})  # "try again later" in the 4xx range
_ERROR_SNIPPET_BYTES = 300

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``body`` keyed by ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` (an X-Desk-Signature value) signs ``body``; constant time."""
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)


class RetryableDeliveryError(Exception):
    """The receiver may accept a later attempt (5xx, 408, 429, timeout, connection error)."""

    def __init__(
        self,
        message: str,
        *,
        webhook_id: uuid.UUID | None = None,
        dedupe_key: str | None = None,
        status_code: int | None = None,
    ):
        super().__init__(message)
        self.webhook_id = webhook_id
        self.dedupe_key = dedupe_key
        self.status_code = status_code


@dataclass(frozen=True)
class DeliveryResult:
    webhook_id: uuid.UUID
    dedupe_key: str  # the per-webhook delivery key (X-Desk-Delivery)
    status: str  # "delivered" | "failed" (given up)
    status_code: int | None
    attempts: int
    sent: bool  # False when an earlier attempt had settled it and nothing was sent now


def delivery_key(dedupe_key: str, webhook_id: uuid.UUID) -> str:
    """One event to one webhook: the key its WebhookDelivery row and header carry."""
    return f"{dedupe_key}:{webhook_id}"


def render_body(event: str, delivery_id: str, payload: dict[str, Any]) -> bytes:
    """The exact bytes that are posted and signed."""
    envelope = {"event": event, "delivery_id": delivery_id, "data": payload}
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True, default=str).encode()


async def webhooks_for_event(
    session: AsyncSession, organization_id: uuid.UUID | str, event: WebhookEvent | str
) -> list[Webhook]:
    """The organization's active webhooks subscribed to ``event``."""
    org_id = (
        organization_id if isinstance(organization_id, uuid.UUID) else uuid.UUID(organization_id)
    )
    query = (
        select(Webhook)
        .where(Webhook.organization_id == org_id, Webhook.is_active.is_(True))
        .order_by(Webhook.created_at, Webhook.id)
    )
    # Few rows per organization: filtering the JSON list here stays portable across engines.
    return [w for w in (await session.execute(query)).scalars() if str(event) in w.events]


async def deliver(
    http: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    webhook: Webhook,
    event: WebhookEvent | str,
    payload: dict[str, Any],
    dedupe_key: str,
    *,
    http_timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
) -> DeliveryResult:
    """POST one signed event to one webhook, unless an earlier attempt settled it.

    No database transaction is open during the HTTP request (SQLite would hold its write
    lock meanwhile). Raises RetryableDeliveryError when a later attempt may succeed.
    """
    check_dedupe_key(dedupe_key)
    event = str(event)
    key = delivery_key(dedupe_key, webhook.id)
    settled, attempts = await _claim(sessionmaker, webhook, event, key)
    if settled is not None:
        return settled

    body = render_body(event, key, payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(webhook.secret, body),
        EVENT_HEADER: event,
        DELIVERY_HEADER: key,
    }
    status_code: int | None = None
    try:
        async with http.stream(
            "POST",
            webhook.url,
            content=body,
            headers=headers,
            timeout=http_timeout,
            follow_redirects=False,
        ) as response:
            status_code = response.status_code
            snippet = b"" if response.is_success else await _snippet(response)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return await _settle(sessionmaker, webhook, key, FAILED, None, attempts, repr(exc))
    except httpx.TransportError as exc:  # timeouts, refused or dropped connections
        error = f"{type(exc).__name__}: {exc}"
        await _record_retryable(sessionmaker, key, None, error)
        raise RetryableDeliveryError(
            f"webhook {webhook.id}: {error}", webhook_id=webhook.id, dedupe_key=key
        ) from exc

    if 200 <= status_code < 300:
        return await _settle(sessionmaker, webhook, key, DELIVERED, status_code, attempts, None)
    error = f"HTTP {status_code}: {snippet.decode(errors='replace')}".strip()
    if status_code >= 500 or status_code in RETRYABLE_4XX:
        await _record_retryable(sessionmaker, key, status_code, error)
        raise RetryableDeliveryError(
            f"webhook {webhook.id}: {error}",
            webhook_id=webhook.id,
            dedupe_key=key,
            status_code=status_code,
        )
    return await _settle(sessionmaker, webhook, key, FAILED, status_code, attempts, error)


async def deliver_event(
    http: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    organization_id: uuid.UUID | str,
    event: WebhookEvent | str,
    payload: dict[str, Any],
    dedupe_key: str,
    http_timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
) -> list[DeliveryResult]:
    """Deliver ``event`` to every subscribed webhook of the organization, concurrently.

    One webhook's failure does not stop the others; if any may succeed later, raises one
    RetryableDeliveryError after all were tried (a retry re-sends only the unsettled ones).
    """
    async with sessionmaker() as session:
        hooks = await webhooks_for_event(session, organization_id, event)
    outcomes = await asyncio.gather(
        *(
            deliver(http, sessionmaker, h, event, payload, dedupe_key, http_timeout=http_timeout)
            for h in hooks
        ),
        return_exceptions=True,
    )
    results: list[DeliveryResult] = []
    retryable: list[RetryableDeliveryError] = []
    for outcome in outcomes:
        if isinstance(outcome, RetryableDeliveryError):
            retryable.append(outcome)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            results.append(outcome)
    if retryable:
        raise RetryableDeliveryError(
            f"{len(retryable)} of {len(hooks)} webhook deliveries to retry: "
            + "; ".join(str(e) for e in retryable)
        )
    return results


# --- Delivery records -----------------------------------------------------------------


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], webhook: Webhook, event: str, key: str
) -> tuple[DeliveryResult | None, int]:
    """Record the attempt; returns the settled result if an earlier attempt finished it."""
    async with sessionmaker() as session:
        await session.execute(
            insert_on_conflict(session, WebhookDelivery)
            .values(
                id=uuid.uuid4(),
                organization_id=webhook.organization_id,
                webhook_id=webhook.id,
                event=event,
                dedupe_key=key,
                status=PENDING,
                attempts=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=[WebhookDelivery.dedupe_key])
        )
        record = (
            await session.execute(
                select(WebhookDelivery).where(WebhookDelivery.dedupe_key == key).with_for_update()
            )
        ).scalar_one()
        if record.status != PENDING:
            await session.commit()
            return _result(record, sent=False), record.attempts
        record.attempts += 1
        await session.commit()
        return None, record.attempts


async def _settle(
    sessionmaker: async_sessionmaker[AsyncSession],
    webhook: Webhook,
    key: str,
    status: str,
    status_code: int | None,
    attempts: int,
    error: str | None,
) -> DeliveryResult:
    if status == FAILED:
        metrics.NOTIFICATION_DELIVERY_FAILURES.labels(channel="webhook").inc()
    async with sessionmaker() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.dedupe_key == key)
            .values(
                status=status,
                status_code=status_code,
                last_error=error,
                delivered_at=utcnow() if status == DELIVERED else None,
            )
        )
        await session.commit()
    return DeliveryResult(webhook.id, key, status, status_code, attempts, sent=True)


async def _record_retryable(
    sessionmaker: async_sessionmaker[AsyncSession], key: str, status_code: int | None, error: str
) -> None:
    metrics.NOTIFICATION_DELIVERY_FAILURES.labels(channel="webhook").inc()
    async with sessionmaker() as session:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.dedupe_key == key, WebhookDelivery.status == PENDING)
            .values(status_code=status_code, last_error=error[:2000])
        )
        await session.commit()


async def _snippet(response: httpx.Response) -> bytes:
    """The start of an error response's body (for the record), without reading it all."""
    collected = b""
    async for chunk in response.aiter_bytes():
        collected += chunk
        if len(collected) >= _ERROR_SNIPPET_BYTES:
            break
    return collected[:_ERROR_SNIPPET_BYTES]


def _result(record: WebhookDelivery, *, sent: bool) -> DeliveryResult:
    return DeliveryResult(
        webhook_id=record.webhook_id,
        dedupe_key=record.dedupe_key,
        status=record.status,
        status_code=record.status_code,
        attempts=record.attempts,
        sent=sent,
    )
