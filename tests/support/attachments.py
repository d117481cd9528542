"""Uploading attachments over HTTP: the multipart body built by hand (so filenames go over
the wire raw), whole or streamed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable

import httpx

API = "/api/v1/attachments"
BOUNDARY = "desk-test-boundary-7MA4YWxkTrZu0gW"


def form_envelope(
    filename: str | bytes | None,
    *,
    content_type: str = "application/octet-stream",
    fields: dict[str, str] | None = None,
) -> tuple[bytes, bytes]:
    """The multipart/form-data bytes before and after the file's content, built by hand
    so filenames go over the wire raw."""
    head = b""
    for name, value in (fields or {}).items():
        head += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    if isinstance(filename, str):
        filename = filename.encode()
    disposition = b'form-data; name="file"'
    if filename is not None:
        disposition += b'; filename="' + filename.replace(b'"', b'\\"') + b'"'
    head += f"--{BOUNDARY}\r\nContent-Disposition: ".encode() + disposition
    head += f"\r\nContent-Type: {content_type}\r\n\r\n".encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


def form_parts(
    filename: str | bytes | None, content: bytes | Iterable[bytes], **kwargs
) -> Iterable[bytes]:
    """A whole multipart body carrying ``content`` as the file, in pieces."""
    head, tail = form_envelope(filename, **kwargs)
    yield head
    if isinstance(content, bytes):
        yield content
    else:
        yield from content
    yield tail


FORM_HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def upload(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    ticket_id: uuid.UUID,
    content: bytes,
    filename: str | bytes | None = "report.bin",
    *,
    streamed: bool = False,
    **kwargs,
) -> httpx.Response:
    """POST a file; ``streamed`` sends it chunked (no Content-Length) from a generator."""
    parts = list(form_parts(filename, content, **kwargs))
    if streamed:

        async def body() -> AsyncIterator[bytes]:
            for part in parts:
                yield part

        data = body()
    else:
        data = b"".join(parts)
    return await client.post(
        f"{API}/ticket/{ticket_id}", content=data, headers={**auth, **FORM_HEADERS}
    )
