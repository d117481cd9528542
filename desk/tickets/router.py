"""Ticket routes, on the old system's paths: each parses HTTP, calls one use case of
:class:`desk.tickets.service.TicketService` and shapes its answer."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from desk.auth.deps import CurrentUser
from desk.enums import Priority, TicketStatus
from desk.errors import Unprocessable
from desk.http.pagination import DEFAULT_LIMIT, Cursor, Limit, set_next_link, set_next_offset_link
from desk.tickets.queries import TicketFilters
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
from desk.tickets.service import TicketDraft, TicketService

router = APIRouter(tags=["tickets"])
# Every change to a ticket answers these besides the universal errors.
CHANGE_ERRORS = {
    403: {"description": "The lifecycle does not let this caller make this change."},
    409: {
        "description": "Not a move from the ticket's status (`invalid_transition`, with "
        "`current_status` and `allowed`), or the ticket is closed (`ticket_closed`)."
    },
}
comments_router = APIRouter(tags=["comments"])


async def get_ticket_service(request: Request) -> TicketService:
    return request.app.state.tickets


Tickets = Annotated[TicketService, Depends(get_ticket_service)]
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
Search = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]  # PG has no NUL


@router.post(
    "/tickets",
    name="create",
    responses={403: {"description": "`requester_forbidden`: customers file for themselves."}},
    status_code=status.HTTP_201_CREATED,
    response_model=TicketOut,
)
async def create_ticket(
    body: TicketCreate, user: CurrentUser, tickets: Tickets, idempotency_key: IdempotencyKey = None
) -> TicketOut:
    """File a ticket (status NEW, SLA not started). Answers once the ticket is listed.

    With an ``Idempotency-Key``, a retried request returns the same ticket.
    """
    draft = TicketDraft(**body.model_dump())
    ticket = await tickets.file(user, draft, idempotency_key=idempotency_key)
    return TicketOut.model_validate(ticket)


@router.get("/tickets", name="list", response_model=list[TicketOut])
async def list_tickets(
    request: Request,
    response: Response,
    user: CurrentUser,
    tickets: Tickets,
    status_: Annotated[TicketStatus | None, Query(alias="status")] = None,
    priority: Priority | None = None,
    assigned_to: uuid.UUID | None = None,
    requester_id: uuid.UUID | None = None,
    q: Search = None,
    breached: bool | None = None,
    sla_due_before: datetime | None = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> list[TicketOut]:
    """A customer's own tickets, or the organization's for staff; newest first.
    ``breached=true``: any SLA target (acceptance included) was missed.

    The next page's URL is in the ``Link: <...>; rel="next"`` header.
    """
    if sla_due_before is not None and sla_due_before.tzinfo is None:
        raise Unprocessable("sla_due_before needs a time zone", code="naive_datetime")
    filters = TicketFilters(
        status=status_,
        priority=priority,
        assigned_to=assigned_to,
        requester_id=requester_id,
        q=q,
        breached=breached,
        sla_due_before=sla_due_before,
    )
    rows, next_cursor = await tickets.list(user, filters, limit=limit, cursor=cursor)
    set_next_link(request, response, next_cursor)
    return [TicketOut.model_validate(row) for row in rows]


@router.get("/tickets/{ticket_id}", name="get", response_model=TicketOut)
async def get_ticket(ticket_id: uuid.UUID, user: CurrentUser, tickets: Tickets) -> TicketOut:
    return TicketOut.model_validate(await tickets.get(user, ticket_id))


@router.get("/tickets/{ticket_id}/sla", name="sla-clock", response_model=SlaClockOut)
async def ticket_sla(ticket_id: uuid.UUID, user: CurrentUser, tickets: Tickets) -> SlaClockOut:
    """The live SLA clock, asked of the ticket's workflow: per metric its target, elapsed and
    remaining business seconds, due instant, state and whether it is paused."""
    clock = await tickets.sla_clock(user, ticket_id)
    return SlaClockOut.model_validate({**asdict(clock.report), "source": clock.source})


@router.get("/tickets/{ticket_id}/events", name="timeline", response_model=list[EventOut])
async def ticket_events(
    request: Request,
    response: Response,
    ticket_id: uuid.UUID,
    user: CurrentUser,
    tickets: Tickets,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> list[EventOut]:
    """The ticket's timeline: who did what, when (customers do not see internal events)."""
    events = await tickets.timeline(user, ticket_id, limit=limit + 1, offset=offset)
    set_next_offset_link(
        request, response, offset=offset, limit=limit, has_more=len(events) > limit
    )
    return [EventOut.model_validate(e) for e in events[:limit]]


@router.post(
    "/tickets/{ticket_id}/close", name="close", responses=CHANGE_ERRORS, response_model=TicketOut
)
async def close_ticket(
    ticket_id: uuid.UUID,
    user: CurrentUser,
    tickets: Tickets,
    body: CloseBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """Close: the requester withdraws a NEW ticket; staff close a RESOLVED one; a manager
    rejects a NEW one."""
    reason = body.reason if body else None
    ticket = await tickets.close(user, ticket_id, reason=reason, idempotency_key=idempotency_key)
    return TicketOut.model_validate(ticket)


@router.get(
    "/internal/tickets/new",
    name="inbox",
    responses={403: {"description": "Requires the MANAGER or ADMIN role."}},
    response_model=list[TicketOut],
)
async def inbox(
    request: Request,
    response: Response,
    user: CurrentUser,
    tickets: Tickets,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> list[TicketOut]:
    """The triage inbox: NEW tickets, oldest first."""
    rows, next_cursor = await tickets.inbox(user, limit=limit, cursor=cursor)
    set_next_link(request, response, next_cursor)
    return [TicketOut.model_validate(row) for row in rows]


@router.post(
    "/internal/tickets/{ticket_id}/accept",
    name="accept",
    responses=CHANGE_ERRORS,
    response_model=TicketOut,
)
async def accept_ticket(
    ticket_id: uuid.UUID,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """NEW -> ACCEPTED: records who accepted and when, and starts the SLA clock with the
    policy that matches the ticket now."""
    ticket = await tickets.accept(user, ticket_id, idempotency_key=idempotency_key)
    return TicketOut.model_validate(ticket)


@router.post(
    "/internal/tickets/{ticket_id}/assign",
    name="assign",
    responses=CHANGE_ERRORS,
    response_model=TicketOut,
)
async def assign_ticket(
    ticket_id: uuid.UUID,
    body: AssignBody,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """Assign to an active agent, manager or admin of the organization (else 422)."""
    ticket = await tickets.assign(
        user, ticket_id, body.assigned_to, idempotency_key=idempotency_key
    )
    return TicketOut.model_validate(ticket)


@router.post(
    "/internal/tickets/{ticket_id}/status",
    name="set-status",
    responses=CHANGE_ERRORS,
    response_model=TicketOut,
)
async def change_status(
    ticket_id: uuid.UUID,
    body: StatusBody,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """Move the ticket per the lifecycle table; 409 lists the allowed moves.
    ``status=ACCEPTED`` from NEW is exactly ``accept``."""
    ticket = await tickets.set_status(
        user, ticket_id, body.status, reason=body.reason, idempotency_key=idempotency_key
    )
    return TicketOut.model_validate(ticket)


@router.post(
    "/internal/tickets/{ticket_id}/priority",
    name="set-priority",
    responses=CHANGE_ERRORS,
    response_model=TicketOut,
)
async def change_priority(
    ticket_id: uuid.UUID,
    body: PriorityBody,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> TicketOut:
    """Change the priority. The SLA follows: the new priority's policy applies to the
    business time already elapsed, and a target already exceeded breaches at once."""
    ticket = await tickets.set_priority(
        user, ticket_id, body.priority, idempotency_key=idempotency_key
    )
    return TicketOut.model_validate(ticket)


@comments_router.post(
    "/comments/ticket/{ticket_id}",
    name="create",
    responses=CHANGE_ERRORS,
    status_code=status.HTTP_201_CREATED,
    response_model=CommentOut,
)
async def add_comment(
    ticket_id: uuid.UUID,
    body: CommentCreate,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> CommentOut:
    """Comment on a ticket. A requester's public reply moves a WAITING_CUSTOMER or RESOLVED
    ticket back to IN_PROGRESS, in the same step as the comment."""
    comment = await tickets.comment(
        user,
        ticket_id,
        body.content,
        is_internal=body.is_internal,
        idempotency_key=idempotency_key,
    )
    return CommentOut.model_validate(comment)


@comments_router.get("/comments/ticket/{ticket_id}", name="list", response_model=list[CommentOut])
async def list_comments(
    request: Request,
    response: Response,
    ticket_id: uuid.UUID,
    user: CurrentUser,
    tickets: Tickets,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> list[CommentOut]:
    """Comments, oldest first; customers never see internal ones."""
    comments = await tickets.comments(user, ticket_id, limit=limit + 1, offset=offset)
    set_next_offset_link(
        request, response, offset=offset, limit=limit, has_more=len(comments) > limit
    )
    return [CommentOut.model_validate(c) for c in comments[:limit]]
