"""Keyset pagination for list routes: the body stays a JSON array (as old clients expect)
and the next page is announced in a ``Link: <...>; rel="next"`` header."""

from __future__ import annotations

import base64
import struct
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import Query, Request, Response

from desk.errors import Unprocessable

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Far past any real list, and far below what a database integer holds.
MAX_OFFSET = 1_000_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]
# A position in a list ordered by (created_at, id): microseconds since the epoch (8 bytes)
# and the row id (16 bytes), base64url. Fixed size and alphabet, so every string the
# document allows is a position (perhaps past the end: an empty page), never an error.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{32}$"
Cursor = Annotated[
    str | None,
    Query(
        min_length=32,
        max_length=32,
        pattern=CURSOR_PATTERN,
        description="Opaque cursor from the previous page's Link.",
    ),
]
_POSITION = struct.Struct(">Q16s")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Later positions all mean "after every row"; kept well inside what the drivers convert.
_LAST_MICROSECOND = (datetime(9999, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def encode_position(created_at: datetime, row_id: uuid.UUID) -> str:
    """The cursor after a row in a list ordered by (created_at, id)."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(_POSITION.pack(micros, row_id.bytes)).decode()


def decode_position(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a cursor carries; 422 for a string of another shape."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
        micros, id_bytes = _POSITION.unpack(raw)
    except (ValueError, UnicodeEncodeError, struct.error) as exc:
        raise Unprocessable("invalid cursor", code="invalid_cursor") from exc
    created_at = _EPOCH + timedelta(microseconds=min(micros, _LAST_MICROSECOND))
    return created_at, uuid.UUID(bytes=id_bytes)


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
