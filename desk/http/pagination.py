"""Keyset pagination for list routes: the body stays a JSON array (as old clients expect)
and the next page is announced in a ``Link: <...>; rel="next"`` header."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response

from desk.errors import Unprocessable

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Far past any real list, and far below what a database integer holds.
MAX_OFFSET = 1_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="Opaque cursor from the previous page's Link.")
]


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The values a cursor carries; 422 for anything we did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error is a ValueError
        raise Unprocessable("invalid cursor", code="invalid_cursor") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise Unprocessable("invalid cursor", code="invalid_cursor")
    return values


def encode_position(created_at: datetime, row_id: uuid.UUID) -> str:
    """The cursor after a row in a list ordered by (created_at, id)."""
    return encode_cursor([created_at.isoformat(), str(row_id)])


def decode_position(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) an ``encode_position`` cursor carries; 422 for anything else."""
    created_raw, id_raw = decode_cursor(cursor, 2)
    try:
        created_at, row_id = datetime.fromisoformat(created_raw), uuid.UUID(id_raw)
    except (TypeError, ValueError) as exc:
        raise Unprocessable("invalid cursor", code="invalid_cursor") from exc
    if created_at.tzinfo is None:  # not one of ours; the columns refuse naive instants
        raise Unprocessable("invalid cursor", code="invalid_cursor")
    return created_at, row_id


def set_next_link(request: Request, response: Response, next_cursor: str | None) -> None:
    """Announce the next page, keeping every other query parameter of this request."""
    if next_cursor is None:
        return
    url = request.url.include_query_params(cursor=next_cursor)
    response.headers["Link"] = f'<{url}>; rel="next"'


def offset_page(
    request: Request, response: Response, rows: list[T], *, offset: int, limit: int
) -> list[T]:
    """The page of an offset-paginated list (short, append-only lists) fetched with one row
    more than ``limit``: that row, if there, is announced as ``Link: rel="next"``."""
    if len(rows) > limit:
        url = request.url.include_query_params(offset=offset + limit)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return rows[:limit]
