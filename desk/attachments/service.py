"""Attachment rules: who may attach and see what, the streamed upload.

An upload never passes through the ticket's workflow: it reads the projection row (a CLOSED
ticket refuses files) and writes its own row plus an audit entry in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.attachments.content import sanitize_filename, sniff_content_type
from desk.attachments.models import Attachment
from desk.attachments.multipart import check_declared_length, multipart_boundary, receive_form
from desk.attachments.storage import AttachmentStorage
from desk.auth.deps import scoped
from desk.auth.models import User
from desk.enums import TicketStatus
from desk.errors import Conflict, NotFound, TicketClosed, Unprocessable
from desk.tickets.access import can_view_ticket, get_visible_ticket_or_404, is_staff
from desk.tickets.models import AuditLog, Comment, Ticket

log = logging.getLogger("desk.attachments")

# --- Upload ---------------------------------------------------------------------------


async def attachable_ticket(
    session: AsyncSession, ticket_id: uuid.UUID, user: User, max_per_ticket: int
) -> Ticket:
    """The ticket if ``user`` may add a file to it now: visible (else 404), not CLOSED
    (``TicketClosed``, the 409 every change to a closed ticket answers) and under its file
    count limit (409 ``too_many_attachments``)."""
    ticket = await get_visible_ticket_or_404(session, ticket_id, user)
    if ticket.status == TicketStatus.CLOSED:
        raise TicketClosed()
    count = await session.scalar(
        select(func.count()).select_from(Attachment).where(Attachment.ticket_id == ticket.id)
    )
    if (count or 0) >= max_per_ticket:
        raise Conflict(
            f"the ticket already has {max_per_ticket} files", code="too_many_attachments"
        )
    return ticket


async def _attachable_comment(
    session: AsyncSession, comment_id: uuid.UUID, ticket: Ticket, user: User
) -> Comment:
    comment = await session.get(Comment, comment_id)
    if (
        comment is None
        or comment.ticket_id != ticket.id
        or (comment.is_internal and not is_staff(user))
    ):
        raise NotFound("comment not found", code="comment_not_found")
    return comment


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_per_ticket: int


async def upload_attachment(
    session: AsyncSession,
    storage: AttachmentStorage,
    limits: UploadLimits,
    user: User,
    ticket_id: uuid.UUID,
    stream: AsyncIterator[bytes],
    *,
    content_type: str | None,
    content_length: str | None,
) -> Attachment:
    """Stream one multipart upload to disk and record it with its audit entry.

    Checks run before the body is read (cheap refusals) and again under a lock on the
    ticket row when writing, since the ticket may have closed meanwhile. The file becomes
    visible under its final name only once its row is flushed; any failure removes it.
    """
    boundary = multipart_boundary(content_type)
    check_declared_length(content_length, limits.max_bytes)
    ticket = await attachable_ticket(session, ticket_id, user, limits.max_per_ticket)
    organization_id = ticket.organization_id
    # End the read transaction before the (possibly long) transfer: on SQLite an open
    # transaction holds the database's write lock.
    await session.rollback()

    attachment_id = uuid.uuid4()
    writer = await anyio.to_thread.run_sync(
        storage.open_writer, organization_id, ticket_id, attachment_id
    )
    try:
        form = await receive_form(stream, boundary, writer, limits.max_bytes)
        if not form.has_file:
            raise Unprocessable("no file: send it in a field named 'file'", code="file_required")
        if writer.size == 0:
            raise Unprocessable("the file is empty", code="empty_file")
        comment_id = form.comment_id()

        await session.execute(select(Ticket.id).where(Ticket.id == ticket_id).with_for_update())
        ticket = await attachable_ticket(session, ticket_id, user, limits.max_per_ticket)
        comment = None
        if comment_id is not None:
            comment = await _attachable_comment(session, comment_id, ticket, user)
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
            uploaded_by=user.id,
            is_internal=bool(comment and comment.is_internal),
        )
        session.add(attachment)
        session.add(_audit_entry(attachment, user))
        await session.flush()
        await writer.publish()
        await session.commit()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await writer.discard()
            await session.rollback()
        raise
    log.info(
        "attachment %s stored: ticket %s, %d bytes, %s",
        attachment.id,
        attachment.ticket_id,
        attachment.size,
        attachment.content_type,
    )
    return attachment


def _audit_entry(attachment: Attachment, user: User) -> AuditLog:
    return AuditLog(
        organization_id=attachment.organization_id,
        ticket_id=attachment.ticket_id,
        ticket_version=None,
        actor_id=user.id,
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


# --- Reading --------------------------------------------------------------------------


async def list_attachments(
    session: AsyncSession, ticket_id: uuid.UUID, user: User, *, limit: int, offset: int
) -> list[Attachment]:
    """A ticket's files the caller may see, oldest first (customers: public ones only)."""
    ticket = await get_visible_ticket_or_404(session, ticket_id, user)
    query = scoped(Attachment, user).where(Attachment.ticket_id == ticket.id)
    if not is_staff(user):
        query = query.where(Attachment.is_internal.is_(False))
    query = query.order_by(Attachment.created_at, Attachment.id).limit(limit).offset(offset)
    return list((await session.scalars(query)).all())


async def get_visible_attachment(
    session: AsyncSession, attachment_id: uuid.UUID, user: User
) -> Attachment:
    """The attachment if the caller may download it; 404 alike for absent, another
    tenant's, another customer's ticket's, and (for customers) internal files."""
    attachment = (
        await session.execute(scoped(Attachment, user).where(Attachment.id == attachment_id))
    ).scalar_one_or_none()
    if attachment is not None and (is_staff(user) or not attachment.is_internal):
        ticket = await session.get(Ticket, attachment.ticket_id)
        if ticket is not None and can_view_ticket(user, ticket):
            return attachment
    raise NotFound("attachment not found", code="attachment_not_found")
