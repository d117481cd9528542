"""HTTP routes of desk.notifications: the caller's in-app notifications."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from desk.auth.deps import CurrentUser
from desk.http.deps import SessionDep
from desk.http.pagination import MAX_OFFSET, Cursor, encode_position, set_next_link
from desk.notifications import service
from desk.notifications.schemas import NotificationOut

router = APIRouter()

NEXT_CURSOR_HEADER = "X-Next-Cursor"


@router.get("", name="list", response_model=list[NotificationOut])
async def list_notifications(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    response: Response,
    unread: Annotated[bool | None, Query(description="true: unread only; false: read only")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="page size")] = 50,
    cursor: Cursor = None,
    offset: Annotated[
        int | None, Query(ge=0, le=MAX_OFFSET, description="rows to skip (instead of cursor)")
    ] = None,
) -> list[NotificationOut]:
    """The caller's notifications, newest first. When the page is full, the next page's URL
    is in the `Link: <...>; rel="next"` header (as on every list) and its cursor alone in
    `X-Next-Cursor`."""
    rows = await service.list_notifications(
        session, user, unread=unread, limit=limit, cursor=cursor, offset=offset
    )
    await session.commit()
    if len(rows) == limit:
        next_cursor = encode_position(rows[-1].created_at, rows[-1].id)
        response.headers[NEXT_CURSOR_HEADER] = next_cursor
        set_next_link(request, response, next_cursor)
    return [NotificationOut.model_validate(n) for n in rows]


@router.post("/{notification_id}/read", name="mark-read", response_model=NotificationOut)
async def mark_notification_read(
    notification_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> NotificationOut:
    """Mark one of the caller's notifications read (again is fine: nothing changes)."""
    notification = await service.mark_read(session, user, notification_id)
    await session.commit()
    return NotificationOut.model_validate(notification)
