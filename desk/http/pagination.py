"""Keyset pagination for list routes: the body stays a JSON array (as old clients expect)
and the next page is announced in a ``Link: <...>; rel="next"`` header."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any

from fastapi import Query, Request, Response

from desk.errors import Unprocessable

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
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
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unprocessable("invalid cursor", code="invalid_cursor") from exc
    if not isinstance(values, list) or len(values) != arity:
        raise Unprocessable("invalid cursor", code="invalid_cursor")
    return values


def set_next_link(request: Request, response: Response, next_cursor: str | None) -> None:
    """Announce the next page, keeping every other query parameter of this request."""
    if next_cursor is None:
        return
    url = request.url.include_query_params(cursor=next_cursor)
    response.headers["Link"] = f'<{url}>; rel="next"'


def set_next_offset_link(
    request: Request, response: Response, *, offset: int, limit: int, has_more: bool
) -> None:
    """``Link: rel="next"`` for offset-paginated lists (short, append-only lists)."""
    if has_more:
        url = request.url.include_query_params(offset=offset + limit)
        response.headers["Link"] = f'<{url}>; rel="next"'
