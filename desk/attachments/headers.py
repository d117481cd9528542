"""HTTP headers of the attachment routes: Content-Length in; Range, ETag and
Content-Disposition out. Shaping only; who may have which file is the service's business."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from desk.errors import DeskError

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.ASCII)
_FALLBACK_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\%/]')


class RangeNotSatisfiable(DeskError):
    """The requested range lies outside the file."""

    status_code = 416
    code = "range_not_satisfiable"

    def __init__(self, size: int):
        super().__init__(f"the file has {size} bytes")
        self.headers["Content-Range"] = f"bytes */{size}"


def declared_length(content_length: str | None) -> int | None:
    """The body size a Content-Length header declares, if it declares one."""
    return int(content_length) if content_length and content_length.isdigit() else None


def download_headers(etag: str) -> dict[str, str]:
    """The headers every answer to a download carries, a 304 included."""
    return {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        # Revalidate every time, so access revoked later is enforced; the ETag keeps it cheap.
        "Cache-Control": "private, no-cache",
    }


def etag_listed(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (or ``*``): the client's copy is
    current."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def requested_range(
    range_header: str | None, if_range: str | None, etag: str, size: int
) -> tuple[int, int] | None:
    """The byte range to send, honouring If-Range: a stale one gets the whole file."""
    if if_range is not None and if_range.strip() != etag:
        return None
    return parse_byte_range(range_header, size)


def parse_byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one ``(first, last)`` byte range (inclusive) a Range header asks for, or None to
    send the whole file (no header, several ranges, or a syntax we ignore, as RFC 9110
    allows). A range starting past the end raises 416."""
    if not header:
        return None
    match = _RANGE.fullmatch(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable(size)
        return max(size - suffix, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, min(int(last), size - 1) if last else size - 1


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 one (RFC 6266/5987)."""
    decomposed = unicodedata.normalize("NFKD", filename)
    fallback = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    fallback = _FALLBACK_UNSAFE.sub("_", fallback).strip().lstrip(".") or "file"
    encoded = quote(filename, safe="!#$&+^`|")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
