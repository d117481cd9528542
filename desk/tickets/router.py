"""Ticket routes, on the old system's paths. Reads come from the projection; every change
is a start of, or an update to, the ticket's workflow, and answers once the projection
shows it (read-your-writes).

Routes never hold a database transaction while they wait on the workflow: its activity
writes the same database (and on SQLite a transaction holds the write lock).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.deps import CurrentUser, StaffUser, TriageUser
from desk.auth.models import User
from desk.db.types import utcnow
from desk.enums import Priority, TicketStatus
from desk.errors import DeskError, TicketClosed, Unprocessable
from desk.http.deps import SessionMakerDep, SettingsDep, TemporalDep
from desk.http.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    set_next_link,
    set_next_offset_link,
)
from desk.sla.service import sla_targets_for
from desk.tickets import service
from desk.tickets.access import get_visible_ticket_or_404
from desk.tickets.commands import TicketCommands, WorkflowGone
from desk.tickets.contracts import (
    AcceptRequest,
    ActorRef,
    AssignRequest,
    CommentRequest,
    PriorityRequest,
    StatusRequest,
)
from desk.tickets.models import Ticket
from desk.tickets.projection import ticket_row
from desk.tickets.schemas import (
    AssignBody,
    CloseBody,
    CommentCreate,
    CommentOut,
    EventOut,
    PriorityBody,
    SlaClockOut,
    StatusBody,
    TicketCreate,
    TicketOut,
)
from workflows.ticket import TicketWorkflow

log = logging.getLogger("desk.tickets")

router = APIRouter()

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Retrying a request with the same key returns the first result instead "
        "of acting twice.",
    ),
]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


async def get_commands(client: TemporalDep, settings: SettingsDep) -> TicketCommands:
    return TicketCommands(client, settings)


Commands = Annotated[TicketCommands, Depends(get_commands)]


def _actor(user: User) -> ActorRef:
    return ActorRef(id=str(user.id), role=str(user.role))


def _update_id(user: User, action: str, key: str | None) -> str | None:
    return f"{user.id}:{action}:{key}" if key else None


async def _read_ticket(sessionmaker: SessionMakerDep, ticket_id: uuid.UUID) -> TicketOut:
    async with sessionmaker() as session:
        return TicketOut.model_validate(await service.get_ticket(session, ticket_id))


async def _change_ticket(
    sessionmaker: SessionMakerDep,
    commands: TicketCommands,
    user: User,
    ticket_id: uuid.UUID,
    update: Callable[..., Any],
    request: Any,
    *,
    update_id: str | None,
    prepare: Callable[[AsyncSession, Ticket], Awaitable[None]] | None = None,
) -> TicketOut:
    """Check visibility (404), let ``prepare`` check the input against the database and
    complete the request, then ask the workflow, then answer with the projected ticket."""
    async with sessionmaker() as session:
        ticket = await get_visible_ticket_or_404(session, ticket_id, user)
        if ticket.status == TicketStatus.CLOSED:
            raise TicketClosed()
        if prepare is not None:
            await prepare(session, ticket)
    try:
        view = await commands.update(ticket_id, update, request, update_id=update_id)
    except WorkflowGone:
        if ticket.version != 1:
            raise
        # Filed, but its workflow never started (the create's start failed and Temporal
        # could not say so): start it from the row now, then ask again.
        async with sessionmaker() as session:
            filing = await service.refile(session, ticket_id)
        await _start_workflow(sessionmaker, commands, filing)
        view = await commands.update(ticket_id, update, request, update_id=update_id)
    if view.state is None:
        return await _read_ticket(sessionmaker, ticket_id)
    return TicketOut.model_validate(ticket_row(view.state))


# --- tickets -----------------------------------------------------------------------------


@router.post("/tickets", status_code=status.HTTP_201_CREATED, response_model=TicketOut)
async def create_ticket(
    body: TicketCreate,
    user: CurrentUser,
    sessionmaker: SessionMakerDep,
    commands: Commands,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """File a ticket (status NEW, SLA not started). Answers once the ticket is listed.

    With an ``Idempotency-Key``, a retried request returns the same ticket.
    """
    ticket_id = (
        service.idempotent_ticket_id(user.organization_id, user.id, idempotency_key)
        if idempotency_key
        else uuid.uuid4()
    )
    async with sessionmaker() as session:
        filing = await service.file_ticket(
            session,
            user,
            ticket_id,
            subject=body.subject,
            description=body.description,
            priority=body.priority,
            service_id=body.service_id,
            requester_id=body.requester_id,
            now=utcnow(),
            may_exist=idempotency_key is not None,
        )
    if filing.first_state is not None:
        await _start_workflow(sessionmaker, commands, filing)
    return filing.ticket


async def _start_workflow(
    sessionmaker: SessionMakerDep, commands: TicketCommands, filing: service.Filing
) -> None:
    """Start the filed ticket's workflow. If Temporal refuses, a ticket this request wrote
    is removed again (503, nothing half-made stays listed); if Temporal cannot even say
    whether the start landed, the ticket stays and a retry with the same Idempotency-Key
    completes it."""
    assert filing.first_state is not None
    try:
        await commands.start(filing.first_state, filing.sla_targets)
    except DeskError:
        ticket_id = filing.ticket.id
        started = await commands.workflow_exists(ticket_id)
        if started:
            return  # the start landed; only its answer was lost
        if started is None:
            log.error("ticket %s is stored; whether its workflow started is unknown", ticket_id)
        elif filing.is_new:
            async with sessionmaker() as session:
                await service.forget_unstarted_ticket(session, ticket_id)
        raise


@router.get("/tickets", response_model=list[TicketOut])
async def list_tickets(
    request: Request,
    response: Response,
    user: CurrentUser,
    sessionmaker: SessionMakerDep,
    status_: Annotated[TicketStatus | None, Query(alias="status")] = None,
    priority: Priority | None = None,
    assigned_to: uuid.UUID | None = None,
    requester_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,  # PG has no NUL
    breached: bool | None = None,
    sla_due_before: datetime | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> list[TicketOut]:
    """A customer's own tickets, or the organization's for staff; newest first.

    The next page's URL is in the ``Link: <...>; rel="next"`` header.
    """
    if sla_due_before is not None and sla_due_before.tzinfo is None:
        raise Unprocessable("sla_due_before needs a time zone", code="naive_datetime")
    filters = service.TicketFilters(
        status=status_,
        priority=priority,
        assigned_to=assigned_to,
        requester_id=requester_id,
        q=q,
        breached=breached,
        sla_due_before=sla_due_before,
    )
    async with sessionmaker() as session:
        rows, next_cursor = await service.list_tickets(
            session, user, filters, limit=limit, cursor=cursor
        )
    set_next_link(request, response, next_cursor)
    return [TicketOut.model_validate(row) for row in rows]


@router.get("/tickets/{ticket_id}", response_model=TicketOut)
async def get_ticket(
    ticket_id: uuid.UUID, user: CurrentUser, sessionmaker: SessionMakerDep
) -> TicketOut:
    async with sessionmaker() as session:
        return TicketOut.model_validate(await get_visible_ticket_or_404(session, ticket_id, user))


@router.get("/tickets/{ticket_id}/sla", response_model=SlaClockOut)
async def ticket_sla(
    ticket_id: uuid.UUID, user: CurrentUser, sessionmaker: SessionMakerDep, commands: Commands
) -> SlaClockOut:
    """The live SLA clock, asked of the ticket's workflow (the stored row cannot know how
    much time is left right now): per metric its target, elapsed and remaining business
    seconds, due instant, state and whether it is paused."""
    async with sessionmaker() as session:
        ticket = await get_visible_ticket_or_404(session, ticket_id, user)
    now = utcnow()
    report = await commands.query_sla_clock(ticket_id, now)
    if report is None:
        return service.sla_clock_from_projection(ticket, now)
    return SlaClockOut.model_validate({**asdict(report), "source": "workflow"})


@router.get("/tickets/{ticket_id}/events", response_model=list[EventOut])
async def ticket_events(
    request: Request,
    response: Response,
    ticket_id: uuid.UUID,
    user: CurrentUser,
    sessionmaker: SessionMakerDep,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> list[EventOut]:
    """The ticket's timeline: who did what, when (customers do not see internal events)."""
    async with sessionmaker() as session:
        ticket = await get_visible_ticket_or_404(session, ticket_id, user)
        events = await service.list_events(session, ticket, user, limit=limit + 1, offset=offset)
    set_next_offset_link(
        request, response, offset=offset, limit=limit, has_more=len(events) > limit
    )
    return [EventOut.model_validate(e) for e in events[:limit]]


@router.post("/tickets/{ticket_id}/close", response_model=TicketOut)
async def close_ticket(
    ticket_id: uuid.UUID,
    user: CurrentUser,
    sessionmaker: SessionMakerDep,
    commands: Commands,
    body: CloseBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """Close: the requester withdraws a NEW ticket; staff close a RESOLVED one; a manager
    rejects a NEW one."""
    request = StatusRequest(
        actor=_actor(user), status=TicketStatus.CLOSED, reason=body.reason if body else None
    )
    return await _change_ticket(
        sessionmaker,
        commands,
        user,
        ticket_id,
        TicketWorkflow.close,
        request,
        update_id=_update_id(user, "close", idempotency_key),
    )


# --- the internal desk -------------------------------------------------------------------


@router.get("/internal/tickets/new", response_model=list[TicketOut])
async def inbox(
    request: Request,
    response: Response,
    user: TriageUser,
    sessionmaker: SessionMakerDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> list[TicketOut]:
    """The triage inbox: NEW tickets, oldest first."""
    async with sessionmaker() as session:
        rows, next_cursor = await service.list_tickets(
            session,
            user,
            service.TicketFilters(status=TicketStatus.NEW),
            limit=limit,
            cursor=cursor,
            oldest_first=True,
        )
    set_next_link(request, response, next_cursor)
    return [TicketOut.model_validate(row) for row in rows]


@router.post("/internal/tickets/{ticket_id}/accept", response_model=TicketOut)
async def accept_ticket(
    ticket_id: uuid.UUID,
    user: TriageUser,
    sessionmaker: SessionMakerDep,
    commands: Commands,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """NEW -> ACCEPTED: records who accepted and when, and starts the SLA clock with the
    policy that matches the ticket now."""
    return await _accept(
        sessionmaker, commands, user, ticket_id, _update_id(user, "accept", idempotency_key)
    )


async def _accept(
    sessionmaker: SessionMakerDep,
    commands: TicketCommands,
    user: User,
    ticket_id: uuid.UUID,
    update_id: str | None,
) -> TicketOut:
    """The one code path of ``accept`` and ``status=ACCEPTED``."""
    request = AcceptRequest(actor=_actor(user))

    async def match_policy(session: AsyncSession, ticket: Ticket) -> None:
        request.sla_targets = await sla_targets_for(
            session, ticket.organization_id, ticket.priority, ticket.service_id
        )

    return await _change_ticket(
        sessionmaker,
        commands,
        user,
        ticket_id,
        TicketWorkflow.accept,
        request,
        update_id=update_id,
        prepare=match_policy,
    )


@router.post("/internal/tickets/{ticket_id}/assign", response_model=TicketOut)
async def assign_ticket(
    ticket_id: uuid.UUID,
    body: AssignBody,
    user: TriageUser,
    sessionmaker: SessionMakerDep,
    commands: Commands,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """Assign to an active agent, manager or admin of the organization (else 422)."""

    async def check_assignee(session: AsyncSession, ticket: Ticket) -> None:
        await service.check_assignee(session, user.organization_id, body.assigned_to)

    request = AssignRequest(
        actor=_actor(user), assignee_id=str(body.assigned_to) if body.assigned_to else None
    )
    return await _change_ticket(
        sessionmaker,
        commands,
        user,
        ticket_id,
        TicketWorkflow.assign,
        request,
        update_id=_update_id(user, "assign", idempotency_key),
        prepare=check_assignee,
    )


@router.post("/internal/tickets/{ticket_id}/status", response_model=TicketOut)
async def change_status(
    ticket_id: uuid.UUID,
    body: StatusBody,
    user: StaffUser,
    sessionmaker: SessionMakerDep,
    commands: Commands,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """Move the ticket per the lifecycle table; 409 lists the allowed moves.
    ``status=ACCEPTED`` from NEW is exactly ``accept``."""
    update_id = _update_id(user, f"status:{body.status}", idempotency_key)
    if body.status == TicketStatus.ACCEPTED:
        return await _accept(sessionmaker, commands, user, ticket_id, update_id)
    request = StatusRequest(actor=_actor(user), status=body.status, reason=body.reason)
    return await _change_ticket(
        sessionmaker,
        commands,
        user,
        ticket_id,
        TicketWorkflow.set_status,
        request,
        update_id=update_id,
    )


@router.post("/internal/tickets/{ticket_id}/priority", response_model=TicketOut)
async def change_priority(
    ticket_id: uuid.UUID,
    body: PriorityBody,
    user: StaffUser,
    sessionmaker: SessionMakerDep,
    commands: Commands,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """Change the priority. The SLA follows: the new priority's policy (as it is now) applies,
    the business time already elapsed carries over, due dates are recomputed, and a target
    already exceeded breaches at once."""
    request = PriorityRequest(actor=_actor(user), priority=body.priority)

    async def match_policy(session: AsyncSession, ticket: Ticket) -> None:
        request.sla_targets = await sla_targets_for(
            session, ticket.organization_id, body.priority, ticket.service_id
        )

    return await _change_ticket(
        sessionmaker,
        commands,
        user,
        ticket_id,
        TicketWorkflow.set_priority,
        request,
        update_id=_update_id(user, "priority", idempotency_key),
        prepare=match_policy,
    )


# --- comments ------------------------------------------------------------------------------


@router.post(
    "/comments/ticket/{ticket_id}", status_code=status.HTTP_201_CREATED, response_model=CommentOut
)
async def add_comment(
    ticket_id: uuid.UUID,
    body: CommentCreate,
    user: CurrentUser,
    sessionmaker: SessionMakerDep,
    commands: Commands,
    idempotency_key: IdempotencyKey = None,
) -> CommentOut:
    """Comment on a ticket. A requester's public reply moves a WAITING_CUSTOMER or RESOLVED
    ticket back to IN_PROGRESS, in the same step as the comment."""
    comment_id = (
        uuid.uuid5(uuid.NAMESPACE_URL, f"comment:{ticket_id}:{user.id}:{idempotency_key}")
        if idempotency_key
        else uuid.uuid4()
    )
    request = CommentRequest(
        actor=_actor(user),
        comment_id=str(comment_id),
        content=body.content,
        is_internal=body.is_internal,
    )
    await _change_ticket(
        sessionmaker,
        commands,
        user,
        ticket_id,
        TicketWorkflow.add_comment,
        request,
        update_id=_update_id(user, "comment", idempotency_key),
    )
    async with sessionmaker() as session:
        return CommentOut.model_validate(await service.get_comment(session, comment_id))


@router.get("/comments/ticket/{ticket_id}", response_model=list[CommentOut])
async def list_comments(
    request: Request,
    response: Response,
    ticket_id: uuid.UUID,
    user: CurrentUser,
    sessionmaker: SessionMakerDep,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> list[CommentOut]:
    """Comments, oldest first; customers never see internal ones."""
    async with sessionmaker() as session:
        ticket = await get_visible_ticket_or_404(session, ticket_id, user)
        comments = await service.list_comments(
            session, ticket, user, limit=limit + 1, offset=offset
        )
    set_next_offset_link(
        request, response, offset=offset, limit=limit, has_more=len(comments) > limit
    )
    return [CommentOut.model_validate(c) for c in comments[:limit]]
