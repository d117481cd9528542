"""HTTP routes of desk.notifications: the caller's in-app notifications."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from desk.auth.deps import CurrentUser
from desk.http.deps import SessionDep
from desk.notifications import service
from desk.notifications.schemas import NotificationOut

router = APIRouter()

NEXT_CURSOR_HEADER = "X-Next-Cursor"


@router.get("", response_model=list[NotificationOut])
async def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read only")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=200, description=f"the previous page's {NEXT_CURSOR_HEADER} header"),
    ] = None,
    offset: Annotated[
        int | None, Query(ge=0, description="rows to skip (instead of cursor)")
    ] = None,
) -> list[NotificationOut]:
    """The caller's notifications, newest first. When the page is full, the
    `X-Next-Cursor` response header holds the cursor of the next page."""
    rows = await service.list_notifications(
        session, user, unread=unread, limit=limit, cursor=cursor, offset=offset
    )
    await session.commit()
    if len(rows) == limit:
        response.headers[NEXT_CURSOR_HEADER] = service.encode_cursor(rows[-1])
    return [NotificationOut.model_validate(n) for n in rows]


@router.post("/{notification_id}/read", response_model=NotificationOut)
async def mark_notification_read(
    notification_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> NotificationOut:
    """Mark one of the caller's notifications read (again is fine: nothing changes)."""
    notification = await service.mark_read(session, user, notification_id)
    await session.commit()
    return NotificationOut.model_validate(notification)
