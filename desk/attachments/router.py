"""HTTP routes of desk.attachments: upload (streamed multipart), list, download (ranges)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from desk.attachments import service
from desk.attachments.content import served_content_type
from desk.attachments.headers import (
    content_disposition,
    download_headers,
    etag_listed,
    requested_range,
)
from desk.attachments.schemas import AttachmentRead
from desk.attachments.storage import AttachmentStorage
from desk.auth.deps import CurrentUser
from desk.errors import DeskError, Gone
from desk.http.deps import SessionDep, SettingsDep

log = logging.getLogger("desk.attachments")

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
                        "file": {"type": "string", "format": "binary"},
                        "comment_id": {"type": "string", "format": "uuid"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/ticket/{ticket_id}",
    status_code=201,
    response_model=AttachmentRead,
    openapi_extra=_UPLOAD_OPENAPI,
    summary="Attach a file to a ticket (multipart field `file`, optional `comment_id`)",
)
async def upload_attachment(
    ticket_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> AttachmentRead:
    """Streams the file to storage while hashing it; 413 past the size limit, 409 on a
    closed ticket or at the per-ticket file limit, 404 for tickets the caller cannot see."""
    attachment = await service.upload_attachment(
        session,
        AttachmentStorage(settings.upload_dir),
        service.UploadLimits(settings.upload_max_bytes, settings.upload_max_per_ticket),
        user,
        ticket_id,
        _request_body(request),
        content_type=request.headers.get("content-type"),
        content_length=request.headers.get("content-length"),
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


@router.get("/ticket/{ticket_id}", response_model=list[AttachmentRead])
async def list_attachments(
    ticket_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[AttachmentRead]:
    """The ticket's files the caller may see, oldest first (customers: no internal ones)."""
    rows = await service.list_attachments(session, ticket_id, user, limit=limit, offset=offset)
    return [AttachmentRead.model_validate(row) for row in rows]


@router.get(
    "/{attachment_id}/download",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file"},
        206: {"description": "One byte range of the file"},
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        410: {"description": "The file is missing from storage"},
        416: {"description": "The range lies outside the file"},
    },
)
async def download_attachment(
    attachment_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Streams the file as a download (never inline), with an ETag of its SHA-256 and
    single-range support so large downloads can resume."""
    attachment = await service.get_visible_attachment(session, attachment_id, user)
    await session.close()  # hold no transaction while the bytes stream (keeps loaded values)
    etag = f'"{attachment.sha256}"'
    headers = download_headers(etag)
    if etag_listed(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)

    size = attachment.size
    byte_range = requested_range(
        request.headers.get("range"), request.headers.get("if-range"), etag, size
    )
    start, end = byte_range or (0, size - 1)
    path = AttachmentStorage(settings.upload_dir).path(
        attachment.organization_id, attachment.ticket_id, attachment.id
    )
    handle = await anyio.to_thread.run_sync(_open_stored, path, attachment.id, size)
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Disposition"] = content_disposition(attachment.filename)
    if byte_range:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _read_chunks(handle, start, end - start + 1),
        status_code=206 if byte_range else 200,
        media_type=served_content_type(attachment.content_type),
        headers=headers,
    )


def _open_stored(path: Path, attachment_id: uuid.UUID, size: int) -> BinaryIO:
    """The stored file, opened; 410 (and an error in the log) if it is gone or damaged."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        log.error("attachment %s: file missing at %s", attachment_id, path)
        raise Gone(
            "the attachment's file is missing from storage", code="attachment_missing"
        ) from None
    except OSError:
        log.exception("attachment %s: cannot open %s", attachment_id, path)
        raise Gone("the attachment's file cannot be read", code="attachment_unreadable") from None
    disk_size = os.fstat(handle.fileno()).st_size
    if disk_size != size:
        handle.close()
        log.error("attachment %s: %s is %d bytes, not %d", attachment_id, path, disk_size, size)
        raise Gone("the attachment's file is damaged", code="attachment_corrupt")
    return handle


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
