"""Signed webhook delivery, recorded per (event, webhook) so a retried activity never
re-sends a delivery that already succeeded or was given up.

Outcomes: 2xx delivered; 408, 429, 5xx, timeouts and connection errors raise
RetryableDeliveryError (Temporal retries the activity with backoff); any other status (4xx,
an unfollowed 3xx) is a permanent failure, recorded and returned, never retried.
Receivers should dedupe on ``X-Desk-Delivery``: delivery is at least once.

Unless private targets are allowed (``DESK_WEBHOOK_ALLOW_PRIVATE_TARGETS``, off in prod),
a webhook may only reach public addresses: the host is resolved right before each POST,
refused (a permanent failure) if any of its addresses is not globally routable, and the
request goes to the address that was checked. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk import metrics
from desk.db.engine import READ_ONLY
from desk.db.types import utcnow
from desk.notifications import deliveries
from desk.notifications.deliveries import FAILED, PENDING
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

DELIVERED = "delivered"  # the other outcomes: deliveries.PENDING and deliveries.FAILED

ALLOWED_SCHEMES = frozenset({"http", "https"})
RESOLVE_TIMEOUT_SECONDS = 5.0

log = logging.getLogger("desk.notifications")


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


class ForbiddenTarget(Exception):
    """A URL webhooks may not post to: not http(s), or a host with a non-public address."""


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


# --- Target checks (SSRF) ------------------------------------------------------------


def forbidden_reason(address: str) -> str | None:
    """Why the IP ``address`` is no webhook target, or None when it is globally routable."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:a.b.c.d and 6to4 (2002:ab:cd::) reach the IPv4 address they carry, and
        # ipaddress does not judge them by it (e.g. 2002:7f00:1:: is "global").
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None and (reason := forbidden_reason(str(embedded))):
            return f"{address} ({reason})"
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return f"{address} is {kind.replace('_', '-')}"
    if not ip.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT): neither of the above
        return f"{address} is not globally routable"
    return None


async def resolve(host: str) -> list[str]:
    """Every address ``host`` (a name or an IP literal) resolves to, in the system's order.

    Raises OSError when it does not resolve (socket.gaierror, or TimeoutError).
    """
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_SECONDS
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_target(url: str) -> list[str]:
    """The addresses of ``url``'s host, when it is http(s) and every address is public.

    Raises ForbiddenTarget otherwise, and OSError when the host does not resolve. Parses
    with httpx, the parser the POST uses, so both see the same host; resolving turns any
    spelling of an address (``2130706433``, ``0x7f.1``, ``[::ffff:7f00:1]``) into the one
    that would be connected to.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ForbiddenTarget(f"invalid URL: {exc}") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise ForbiddenTarget(f"scheme {parsed.scheme!r} is not http or https")
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded; an IPv6 literal without []
    if not host:
        raise ForbiddenTarget("the URL has no host")
    addresses = await resolve(host)
    for address in addresses:
        if reason := forbidden_reason(address):
            raise ForbiddenTarget(f"{host} resolves to {reason}")
    return addresses


def pin(url: str, address: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """Aim a request for ``url`` at ``address``: its URL, extra headers and extensions.

    httpx would otherwise resolve the name again, and a second answer may differ from the
    checked one (DNS rebinding). The name still goes in Host and, for https, in SNI and
    the certificate check. ``Connection: close``: pooled connections are keyed by address,
    so one opened (and TLS-checked) for this name could otherwise serve another name there.
    """
    parsed = httpx.URL(url)
    headers = {"Host": parsed.netloc.decode("ascii"), "Connection": "close"}
    extensions: dict[str, Any] = {}
    if parsed.scheme == "https":
        extensions["sni_hostname"] = parsed.raw_host.decode("ascii")
    return parsed.copy_with(host=address), headers, extensions


# --- Delivery -------------------------------------------------------------------------


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
    allow_private_targets: bool = False,
) -> DeliveryResult:
    """POST one signed event to one webhook, unless an earlier attempt settled it.

    Its delivery record is claimed before the request and settled after (``deliveries``).
    Raises RetryableDeliveryError when a later attempt may succeed.
    Unless ``allow_private_targets``, a URL that is not http(s) or whose host has a
    non-public address is given up (recorded failed) without sending.
    """
    check_dedupe_key(dedupe_key)
    event = str(event)
    key = delivery_key(dedupe_key, webhook.id)
    record = await deliveries.claim(
        sessionmaker,
        WebhookDelivery,
        key,
        values={
            "organization_id": webhook.organization_id,
            "webhook_id": webhook.id,
            "event": event,
        },
    )
    if record.status != PENDING:
        return _result(record, sent=False)
    attempts = record.attempts

    target: httpx.URL | str = webhook.url
    pinned_headers: dict[str, str] = {}
    extensions: dict[str, Any] = {}
    if not allow_private_targets:
        # Checked now, not only at registration: the name may resolve elsewhere since.
        try:
            addresses = await check_target(webhook.url)
        except ForbiddenTarget as exc:
            log.warning("webhook %s: %s not delivered, target refused: %s", webhook.id, key, exc)
            error = f"target refused: {exc}"
            return await _settle(sessionmaker, webhook, key, FAILED, None, attempts, error)
        except OSError as exc:  # no DNS answer (yet): like a refused connection, retried
            error = f"cannot resolve the host: {type(exc).__name__}: {exc}"
            await _settle(sessionmaker, webhook, key, PENDING, None, attempts, error)
            raise RetryableDeliveryError(
                f"webhook {webhook.id}: {error}", webhook_id=webhook.id, dedupe_key=key
            ) from exc
        target, pinned_headers, extensions = pin(webhook.url, addresses[0])

    body = render_body(event, key, payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(webhook.secret, body),
        EVENT_HEADER: event,
        DELIVERY_HEADER: key,
        **pinned_headers,
    }
    status_code: int | None = None
    try:
        async with http.stream(
            "POST",
            target,
            content=body,
            headers=headers,
            timeout=http_timeout,
            extensions=extensions,
            follow_redirects=False,  # a redirect could lead anywhere, e.g. inside
        ) as response:
            status_code = response.status_code
            snippet = b"" if response.is_success else await _snippet(response)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return await _settle(sessionmaker, webhook, key, FAILED, None, attempts, repr(exc))
    except httpx.TransportError as exc:  # timeouts, refused or dropped connections
        error = f"{type(exc).__name__}: {exc}"
        await _settle(sessionmaker, webhook, key, PENDING, None, attempts, error)
        raise RetryableDeliveryError(
            f"webhook {webhook.id}: {error}", webhook_id=webhook.id, dedupe_key=key
        ) from exc

    if 200 <= status_code < 300:
        return await _settle(sessionmaker, webhook, key, DELIVERED, status_code, attempts, None)
    error = f"HTTP {status_code}: {snippet.decode(errors='replace')}".strip()
    if status_code >= 500 or status_code in RETRYABLE_4XX:
        await _settle(sessionmaker, webhook, key, PENDING, status_code, attempts, error)
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
    allow_private_targets: bool = False,
) -> list[DeliveryResult]:
    """Deliver ``event`` to every subscribed webhook of the organization, concurrently.

    One webhook's failure does not stop the others; if any may succeed later, raises one
    RetryableDeliveryError after all were tried (a retry re-sends only the unsettled ones).
    """
    async with sessionmaker() as session:
        # Only a read: on SQLite it must not take the write lock, which every SLA breach
        # of a storm needs for its projection (most organizations have no webhook).
        await session.connection(execution_options=READ_ONLY)
        hooks = await webhooks_for_event(session, organization_id, event)
    outcomes = await asyncio.gather(
        *(
            deliver(
                http,
                sessionmaker,
                h,
                event,
                payload,
                dedupe_key,
                http_timeout=http_timeout,
                allow_private_targets=allow_private_targets,
            )
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


async def _settle(
    sessionmaker: async_sessionmaker[AsyncSession],
    webhook: Webhook,
    key: str,
    status: str,
    status_code: int | None,
    attempts: int,
    error: str | None,
) -> DeliveryResult:
    """Record this attempt's outcome: delivered, failed, or pending (a retry may succeed)."""
    if status != DELIVERED:
        metrics.NOTIFICATION_DELIVERY_FAILURES.labels(channel="webhook").inc()
    await deliveries.settle(
        sessionmaker,
        WebhookDelivery,
        key,
        status,
        error=error,
        status_code=status_code,
        delivered_at=utcnow() if status == DELIVERED else None,
    )
    return DeliveryResult(webhook.id, key, status, status_code, attempts, sent=True)


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
