"""Attachment use cases: upload a file to a ticket, list a ticket's files, resolve a download.

An upload never passes through the ticket's workflow: it reads the projection row (a CLOSED
ticket refuses files) and writes its own row plus an audit entry in one transaction.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.attachments.content import sanitize_filename, served_content_type, sniff_content_type
from desk.attachments.models import Attachment
from desk.attachments.multipart import (
    ReceivedForm,
    check_declared_length,
    receive_file,
    receive_form,
)
from desk.attachments.storage import AttachmentStorage, HashingWriter
from desk.auth.deps import scoped
from desk.auth.principal import Principal
from desk.enums import TicketStatus
from desk.errors import Conflict, Gone, NotFound, TicketClosed, Unprocessable
from desk.live.feed import attachment_event, publish
from desk.tickets.access import can_view_ticket, get_visible_ticket_or_404, is_staff
from desk.tickets.models import AuditLog, Comment, Ticket

log = logging.getLogger("desk.attachments")


@dataclass(frozen=True)
class UploadLimits:
    """How large one file may be, and how many files one ticket may hold."""

    max_bytes: int
    max_per_ticket: int


@dataclass(frozen=True)
class Download:
    """A file the caller may download, located in the store and not yet opened (a client
    whose copy is current needs no file at all)."""

    attachment_id: uuid.UUID
    filename: str
    media_type: str  # what it is served as: never active content, whatever was stored
    size: int
    sha256: str
    path: Path

    async def open(self) -> BinaryIO:
        """The stored file, opened for reading; 410 if it is missing, unreadable or not
        the size recorded for it."""
        return await anyio.to_thread.run_sync(self._open)

    def _open(self) -> BinaryIO:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            log.error("attachment %s: file missing at %s", self.attachment_id, self.path)
            raise Gone(
                "the attachment's file is missing from storage", code="attachment_missing"
            ) from None
        except OSError:
            log.exception("attachment %s: cannot open %s", self.attachment_id, self.path)
            raise Gone(
                "the attachment's file cannot be read", code="attachment_unreadable"
            ) from None
        disk_size = os.fstat(handle.fileno()).st_size
        if disk_size != self.size:
            handle.close()
            log.error(
                "attachment %s: %s is %d bytes, not %d",
                self.attachment_id,
                self.path,
                disk_size,
                self.size,
            )
            raise Gone("the attachment's file is damaged", code="attachment_corrupt")
        return handle


class AttachmentService:
    """What a caller can do with a ticket's files.

    Every use case opens its own short sessions: none holds a transaction while file bytes
    travel, since on SQLite an open transaction holds the database's write lock.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        storage: AttachmentStorage,
        limits: UploadLimits,
    ):
        self._sessionmaker = sessionmaker
        self._storage = storage
        self._limits = limits

    async def upload(
        self,
        principal: Principal,
        ticket_id: uuid.UUID,
        body: AsyncIterator[bytes],
        *,
        boundary: bytes,
        declared_length: int | None,
    ) -> Attachment:
        """Stream one multipart/form-data body (a ``file`` field, optionally a
        ``comment_id``) to the store and record the file with its audit entry.

        The ticket is checked before the body is read (cheap refusals) and again under a
        lock on its row when recording, since it may have closed meanwhile. The file gets
        its final name only once its row is flushed; any failure removes it.
        """
        check_declared_length(declared_length, self._limits.max_bytes)
        return await self._store(
            principal,
            ticket_id,
            lambda writer: receive_form(body, boundary, writer, self._limits.max_bytes),
        )

    async def attach(
        self,
        principal: Principal,
        ticket_id: uuid.UUID,
        chunks: AsyncIterator[bytes],
        *,
        filename: str | None,
        content_type: str | None,
        comment_id: uuid.UUID | None = None,
    ) -> Attachment:
        """Store one file that arrived in a form of its own (a portal page's), optionally
        on one of the ticket's comments; the same checks and record as :meth:`upload`."""
        return await self._store(
            principal,
            ticket_id,
            lambda writer: receive_file(
                chunks,
                writer,
                self._limits.max_bytes,
                filename=filename,
                content_type=content_type,
                comment_id=comment_id,
            ),
        )

    async def _store(
        self,
        principal: Principal,
        ticket_id: uuid.UUID,
        receive: Callable[[HashingWriter], Awaitable[ReceivedForm]],
    ) -> Attachment:
        async with self._sessionmaker() as session:
            ticket = await self._attachable_ticket(session, principal, ticket_id)
            organization_id = ticket.organization_id

        attachment_id = uuid.uuid4()
        writer = await anyio.to_thread.run_sync(
            self._storage.open_writer, organization_id, ticket_id, attachment_id
        )
        try:
            form = await receive(writer)
            if not form.has_file:
                raise Unprocessable(
                    "no file: send it in a field named 'file'", code="file_required"
                )
            if writer.size == 0:
                raise Unprocessable("the file is empty", code="empty_file")
            attachment = await self._record(principal, ticket_id, attachment_id, form, writer)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await writer.discard()
            raise
        log.info(
            "attachment %s stored: ticket %s, %d bytes, %s",
            attachment.id,
            attachment.ticket_id,
            attachment.size,
            attachment.content_type,
        )
        return attachment

    async def list_for_ticket(
        self, principal: Principal, ticket_id: uuid.UUID, *, limit: int, offset: int
    ) -> list[Attachment]:
        """A ticket's files the caller may see, oldest first (customers: public ones only)."""
        async with self._sessionmaker() as session:
            ticket = await get_visible_ticket_or_404(session, ticket_id, principal)
            query = (
                _visible_files(principal)
                .where(Attachment.ticket_id == ticket.id)
                .order_by(Attachment.created_at, Attachment.id)
                .limit(limit)
                .offset(offset)
            )
            return list((await session.scalars(query)).all())

    async def download(self, principal: Principal, attachment_id: uuid.UUID) -> Download:
        """The file if the caller may download it; 404 alike for absent, another tenant's,
        another customer's ticket's, and (for customers) internal files."""
        async with self._sessionmaker() as session:
            attachment = await session.scalar(
                _visible_files(principal).where(Attachment.id == attachment_id)
            )
            ticket = await session.get(Ticket, attachment.ticket_id) if attachment else None
        if attachment is None or ticket is None or not can_view_ticket(principal, ticket):
            raise NotFound("attachment not found", code="attachment_not_found")
        return Download(
            attachment_id=attachment.id,
            filename=attachment.filename,
            media_type=served_content_type(attachment.content_type),
            size=attachment.size,
            sha256=attachment.sha256,
            path=self._storage.path(
                attachment.organization_id, attachment.ticket_id, attachment.id
            ),
        )

    async def _record(
        self,
        principal: Principal,
        ticket_id: uuid.UUID,
        attachment_id: uuid.UUID,
        form: ReceivedForm,
        writer: HashingWriter,
    ) -> Attachment:
        """Write the file's row and audit entry, publish the file, commit: all under a lock
        on the ticket row, so a ticket closing meanwhile gets no file."""
        comment_id = form.comment_id()
        async with self._sessionmaker() as session:
            await session.execute(select(Ticket.id).where(Ticket.id == ticket_id).with_for_update())
            ticket = await self._attachable_ticket(session, principal, ticket_id)
            comment = None
            if comment_id is not None:
                comment = await _attachable_comment(session, comment_id, ticket, principal)
            attachment = Attachment(
                id=attachment_id,
                organization_id=ticket.organization_id,
                ticket_id=ticket.id,
                comment_id=comment.id if comment else None,
                filename=sanitize_filename(form.filename),
                content_type=sniff_content_type(form.head),
                claimed_content_type=form.claimed_content_type,
                size=writer.size,
                sha256=writer.sha256,
                uploaded_by=principal.id,
                is_internal=bool(comment and comment.is_internal),
            )
            session.add(attachment)
            session.add(_audit_entry(attachment, principal))
            await session.flush()
            await publish(session, [attachment_event(attachment, ticket.requester_id)])
            await writer.publish()
            await session.commit()
        return attachment

    async def _attachable_ticket(
        self, session: AsyncSession, principal: Principal, ticket_id: uuid.UUID
    ) -> Ticket:
        """The ticket if the caller may add a file to it now: visible (else 404), not CLOSED
        (``TicketClosed``, the 409 every change to a closed ticket answers) and under its
        file count limit (409 ``too_many_attachments``)."""
        ticket = await get_visible_ticket_or_404(session, ticket_id, principal)
        if ticket.status == TicketStatus.CLOSED:
            raise TicketClosed()
        count = await session.scalar(
            select(func.count()).select_from(Attachment).where(Attachment.ticket_id == ticket.id)
        )
        limit = self._limits.max_per_ticket
        if (count or 0) >= limit:
            raise Conflict(f"the ticket already has {limit} files", code="too_many_attachments")
        return ticket


def _visible_files(principal: Principal) -> Select[tuple[Attachment]]:
    """The caller's organization's files, less the internal ones for a customer. Ticket
    visibility is checked on its own (``get_visible_ticket_or_404``, ``can_view_ticket``)."""
    query = scoped(Attachment, principal)
    if not is_staff(principal):
        query = query.where(Attachment.is_internal.is_(False))
    return query


async def _attachable_comment(
    session: AsyncSession, comment_id: uuid.UUID, ticket: Ticket, principal: Principal
) -> Comment:
    comment = await session.get(Comment, comment_id)
    if (
        comment is None
        or comment.ticket_id != ticket.id
        or (comment.is_internal and not is_staff(principal))
    ):
        raise NotFound("comment not found", code="comment_not_found")
    return comment


def _audit_entry(attachment: Attachment, principal: Principal) -> AuditLog:
    return AuditLog(
        organization_id=attachment.organization_id,
        ticket_id=attachment.ticket_id,
        ticket_version=None,
        actor_id=principal.id,
        action="attachment_added",
        to_value=attachment.filename[:200],
        details={
            "attachment_id": str(attachment.id),
            "filename": attachment.filename,
            "size": attachment.size,
            "sha256": attachment.sha256,
            "content_type": attachment.content_type,
            "comment_id": str(attachment.comment_id) if attachment.comment_id else None,
        },
        is_internal=attachment.is_internal,
    )
