"""HTTP routes for webhook subscriptions (ADMIN only, per organization)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from desk.auth.deps import AdminUser
from desk.errors import Unprocessable
from desk.http.deps import SessionDep, SettingsDep
from desk.notifications import service
from desk.notifications.schemas import WebhookCreate, WebhookDeliveryOut, WebhookOut
from desk.notifications.webhooks import ForbiddenTarget, check_target

router = APIRouter(responses={403: {"description": "Requires the ADMIN role."}})


@router.post(
    "/webhooks", name="create", response_model=WebhookOut, status_code=status.HTTP_201_CREATED
)
async def create_webhook(
    body: WebhookCreate, admin: AdminUser, session: SessionDep, settings: SettingsDep
) -> WebhookOut:
    """Subscribe an http(s) URL to events (SLA_WARNING, SLA_BREACHED, TICKET_CREATED,
    TICKET_STATUS_CHANGED). Each delivery is a JSON POST with `X-Desk-Signature:
    sha256=<hex HMAC-SHA256 of the body keyed by the secret>`, `X-Desk-Event` and
    `X-Desk-Delivery` (a unique id: dedupe on it, delivery is at least once). 5xx, 408, 429
    and timeouts are retried with backoff; other 4xx are given up and recorded. The secret
    is never shown again, only its last 4 characters. Unless
    `DESK_WEBHOOK_ALLOW_PRIVATE_TARGETS`, a host that is or resolves to a non-public address
    (loopback, private, link-local…) is refused: 422 `webhook_target_forbidden`; it is
    checked again before every delivery, and redirects are not followed."""
    if not settings.webhook_allow_private_targets:
        await _refuse_forbidden_target(str(body.url))
    webhook = await service.create_webhook(session, admin, body)
    await session.commit()
    return WebhookOut.of(webhook)


@router.get("/webhooks", name="list", response_model=list[WebhookOut])
async def list_webhooks(admin: AdminUser, session: SessionDep) -> list[WebhookOut]:
    """The organization's webhook subscriptions (secrets masked)."""
    webhooks = await service.list_webhooks(session, admin)
    await session.commit()
    return [WebhookOut.of(w) for w in webhooks]


@router.get("/webhooks/{webhook_id}", name="get", response_model=WebhookOut)
async def get_webhook(webhook_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> WebhookOut:
    """One webhook subscription (secret masked)."""
    webhook = await service.get_webhook(session, admin, webhook_id)
    await session.commit()
    return WebhookOut.of(webhook)


@router.delete("/webhooks/{webhook_id}", name="delete", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: uuid.UUID, admin: AdminUser, session: SessionDep) -> Response:
    """Unsubscribe: no further deliveries; its delivery records go with it."""
    await service.delete_webhook(session, admin, webhook_id)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/webhooks/{webhook_id}/deliveries", name="deliveries", response_model=list[WebhookDeliveryOut]
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    admin: AdminUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[WebhookDeliveryOut]:
    """The webhook's recent deliveries, newest first: delivered, pending (being retried)
    or failed (given up)."""
    deliveries = await service.list_deliveries(session, admin, webhook_id, limit=limit)
    await session.commit()
    return [WebhookDeliveryOut.model_validate(d) for d in deliveries]


async def _refuse_forbidden_target(url: str) -> None:
    """422 if ``url`` is or resolves to a non-public address. A name that does not resolve
    now is accepted: DNS may change, and every delivery checks the target again."""
    try:
        await check_target(url)
    except ForbiddenTarget as exc:
        raise Unprocessable(f"webhook url refused: {exc}", code="webhook_target_forbidden") from exc
    except OSError:
        pass
