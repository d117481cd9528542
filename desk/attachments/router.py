"""HTTP routes of desk.attachments: upload (streamed multipart), list, download (ranges).

Each route reads the request, calls one use case of the AttachmentService and shapes the
answer; the rules live in the service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from desk.attachments.deps import AttachmentServiceDep
from desk.attachments.headers import (
    content_disposition,
    declared_length,
    download_headers,
    etag_listed,
    requested_range,
)
from desk.attachments.multipart import multipart_boundary
from desk.attachments.schemas import AttachmentRead
from desk.auth.deps import CurrentUser
from desk.errors import DeskError
from desk.http.pagination import DEFAULT_LIMIT, Limit, Offset

router = APIRouter()

DOWNLOAD_CHUNK = 64 * 1024

# The body is parsed by hand (streamed), so FastAPI cannot describe it; this does.
_UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "minLength": 1},
                        "comment_id": {"type": "string", "format": "uuid"},
                    },
                }
            }
        },
    }
}


# Whatever type the file is (never active content: see content.served_content_type).
_FILE = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


@router.post(
    "/ticket/{ticket_id}",
    name="upload",
    status_code=201,
    response_model=AttachmentRead,
    openapi_extra=_UPLOAD_OPENAPI,
    summary="Attach a file to a ticket (multipart field `file`, optional `comment_id`)",
    responses={
        201: {
            "description": "The stored file.",
            "links": {
                "download": {
                    "operationId": "attachments-download",
                    "parameters": {"attachment_id": "$response.body#/id"},
                }
            },
        },
        400: {"description": "`invalid_multipart`: the body is not well-formed multipart."},
        409: {
            "description": "The ticket is closed (`ticket_closed`, as on every change) or "
            "holds its most files (`too_many_attachments`)."
        },
        413: {"description": "`file_too_large`: over `DESK_UPLOAD_MAX_BYTES`."},
        415: {"description": "`multipart_required`: not multipart/form-data."},
        507: {
            "description": "`insufficient_storage`: no room left to store the file (nothing "
            "was kept); try again after `Retry-After`."
        },
    },
)
async def upload_attachment(
    ticket_id: uuid.UUID, request: Request, user: CurrentUser, attachments: AttachmentServiceDep
) -> AttachmentRead:
    """Streams the file to storage while hashing it; 413 past the size limit, 409 on a
    closed ticket or at the per-ticket file limit, 404 for tickets the caller cannot see."""
    attachment = await attachments.upload(
        user,
        ticket_id,
        _request_body(request),
        boundary=multipart_boundary(request.headers.get("content-type")),
        declared_length=declared_length(request.headers.get("content-length")),
    )
    return AttachmentRead.model_validate(attachment)


async def _request_body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        raise DeskError(
            "the client went away during the upload", code="client_disconnected"
        ) from exc


@router.get("/ticket/{ticket_id}", name="list", response_model=list[AttachmentRead])
async def list_attachments(
    ticket_id: uuid.UUID,
    user: CurrentUser,
    attachments: AttachmentServiceDep,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> list[AttachmentRead]:
    """The ticket's files the caller may see, oldest first (customers: no internal ones)."""
    rows = await attachments.list_for_ticket(user, ticket_id, limit=limit, offset=offset)
    return [AttachmentRead.model_validate(row) for row in rows]


@router.get(
    "/{attachment_id}/download",
    name="download",
    response_class=StreamingResponse,
    responses={
        200: {"content": _FILE, "description": "The file, served as a download"},
        206: {"content": _FILE, "description": "One byte range of the file"},
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        410: {"description": "The file is missing from storage"},
        416: {"description": "The range lies outside the file"},
    },
)
async def download_attachment(
    attachment_id: uuid.UUID, request: Request, user: CurrentUser, attachments: AttachmentServiceDep
) -> Response:
    """Streams the file as a download (never inline), with an ETag of its SHA-256 and
    single-range support so large downloads can resume."""
    download = await attachments.download(user, attachment_id)
    etag = f'"{download.sha256}"'
    headers = download_headers(etag)
    if etag_listed(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)

    size = download.size
    byte_range = requested_range(
        request.headers.get("range"), request.headers.get("if-range"), etag, size
    )
    start, end = byte_range or (0, size - 1)
    handle = await download.open()
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Disposition"] = content_disposition(download.filename)
    if byte_range:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _read_chunks(handle, start, end - start + 1),
        status_code=206 if byte_range else 200,
        media_type=download.media_type,
        headers=headers,
    )


async def _read_chunks(handle: BinaryIO, start: int, length: int) -> AsyncIterator[bytes]:
    try:
        await anyio.to_thread.run_sync(handle.seek, start)
        while length > 0:
            chunk = await anyio.to_thread.run_sync(handle.read, min(DOWNLOAD_CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()
