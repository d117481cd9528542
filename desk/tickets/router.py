"""Ticket and comment routes, on the old system's paths: each parses HTTP, calls one use case
of :class:`desk.tickets.service.TicketService` and shapes its answer."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from desk.auth.deps import CurrentUser
from desk.http.pagination import DEFAULT_LIMIT, Cursor, Limit, Offset, offset_page, set_next_link
from desk.tickets.deps import IdempotencyKey, Tickets
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
    TicketQuery,
)
from desk.tickets.service import TicketDraft

router = APIRouter(tags=["tickets"])
comments_router = APIRouter(tags=["comments"])

# What every change to a ticket may answer besides the universal errors.
CHANGE = {
    "response_model": TicketOut,
    "responses": {
        403: {"description": "The lifecycle does not let this caller make this change."},
        409: {
            "description": "Not a move from the ticket's status (`invalid_transition`, with "
            "`current_status` and `allowed`), or the ticket is closed (`ticket_closed`)."
        },
    },
}
# A filed ticket's id leads to everything done with it next (OpenAPI links: generated
# clients and stateful fuzzers follow them).
_NEXT_STEPS = {
    "get": "tickets-get",
    "accept": "tickets-accept",
    "assign": "tickets-assign",
    "set-status": "tickets-set-status",
    "set-priority": "tickets-set-priority",
    "close": "tickets-close",
    "comment": "comments-create",
    "list-comments": "comments-list",
    "timeline": "tickets-timeline",
    "sla-clock": "tickets-sla-clock",
    "attach": "attachments-upload",
}
FILED = {
    "description": "The filed ticket.",
    "links": {
        name: {"operationId": operation, "parameters": {"ticket_id": "$response.body#/id"}}
        for name, operation in _NEXT_STEPS.items()
    },
}
FILING_ERRORS = {
    403: {"description": "`requester_forbidden`: customers file for themselves."},
    404: {"description": "No such requester or service in your organization."},
}
TRIAGE_ONLY = {403: {"description": "Requires the MANAGER or ADMIN role."}}


@router.post(
    "/tickets",
    name="create",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketOut,
    responses={201: FILED, **FILING_ERRORS},
)
async def create_ticket(
    body: TicketCreate, user: CurrentUser, tickets: Tickets, idempotency_key: IdempotencyKey = None
) -> Any:
    """File a ticket (status NEW, SLA not started); answers once it is listed. Staff may
    file for a customer (`requester_id`). With an `Idempotency-Key`, a retried request
    answers with the same ticket."""
    return await tickets.file(
        user, TicketDraft(**body.model_dump()), idempotency_key=idempotency_key
    )


@router.get("/tickets", name="list", response_model=list[TicketOut])
async def list_tickets(
    request: Request,
    response: Response,
    user: CurrentUser,
    tickets: Tickets,
    query: Annotated[TicketQuery, Query()],
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    """A customer's own tickets, or the organization's for staff; newest first."""
    filters = TicketFilters(**query.model_dump())
    rows, next_cursor = await tickets.list(user, filters, limit=limit, cursor=cursor)
    set_next_link(request, response, next_cursor)
    return rows


@router.get("/tickets/{ticket_id}", name="get", response_model=TicketOut)
async def get_ticket(ticket_id: uuid.UUID, user: CurrentUser, tickets: Tickets) -> Any:
    return await tickets.get(user, ticket_id)


@router.get("/tickets/{ticket_id}/sla", name="sla-clock", response_model=SlaClockOut)
async def ticket_sla(ticket_id: uuid.UUID, user: CurrentUser, tickets: Tickets) -> Any:
    """The live SLA clock, asked of the ticket's workflow: per metric its target, elapsed and
    remaining business seconds, due instant, state and whether it is paused."""
    clock = await tickets.sla_clock(user, ticket_id)
    return {**asdict(clock.report), "source": clock.source}


@router.get("/tickets/{ticket_id}/events", name="timeline", response_model=list[EventOut])
async def ticket_events(
    request: Request,
    response: Response,
    ticket_id: uuid.UUID,
    user: CurrentUser,
    tickets: Tickets,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Any:
    """Who did what, when, oldest first (customers do not see internal events)."""
    events = await tickets.timeline(user, ticket_id, limit=limit + 1, offset=offset)
    return offset_page(request, response, events, offset=offset, limit=limit)


@router.post("/tickets/{ticket_id}/close", name="close", **CHANGE)
async def close_ticket(
    ticket_id: uuid.UUID,
    user: CurrentUser,
    tickets: Tickets,
    body: CloseBody = None,  # type: ignore[assignment] - optional, never null
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """The requester withdraws a NEW ticket, a manager rejects one, staff close a RESOLVED
    one."""
    reason = body.reason if body else None
    return await tickets.close(user, ticket_id, reason=reason, idempotency_key=idempotency_key)


@router.get(
    "/internal/tickets/new", name="inbox", response_model=list[TicketOut], responses=TRIAGE_ONLY
)
async def inbox(
    request: Request,
    response: Response,
    user: CurrentUser,
    tickets: Tickets,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Any:
    """The triage inbox: NEW tickets, oldest first."""
    rows, next_cursor = await tickets.inbox(user, limit=limit, cursor=cursor)
    set_next_link(request, response, next_cursor)
    return rows


@router.post("/internal/tickets/{ticket_id}/accept", name="accept", **CHANGE)
async def accept_ticket(
    ticket_id: uuid.UUID,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """NEW -> ACCEPTED: records who accepted and when, and starts the SLA clock with the
    policy that matches the ticket now."""
    return await tickets.accept(user, ticket_id, idempotency_key=idempotency_key)


@router.post("/internal/tickets/{ticket_id}/assign", name="assign", **CHANGE)
async def assign_ticket(
    ticket_id: uuid.UUID,
    body: AssignBody,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Assign to an active agent, manager or admin of the organization (else 422)."""
    return await tickets.assign(user, ticket_id, body.assigned_to, idempotency_key=idempotency_key)


@router.post("/internal/tickets/{ticket_id}/status", name="set-status", **CHANGE)
async def change_status(
    ticket_id: uuid.UUID,
    body: StatusBody,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Move the ticket per the lifecycle table; `status=ACCEPTED` is exactly `accept`."""
    return await tickets.set_status(
        user, ticket_id, body.status, reason=body.reason, idempotency_key=idempotency_key
    )


@router.post("/internal/tickets/{ticket_id}/priority", name="set-priority", **CHANGE)
async def change_priority(
    ticket_id: uuid.UUID,
    body: PriorityBody,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Change the priority. The new priority's policy applies to the business time already
    elapsed; a target already exceeded breaches at once."""
    return await tickets.set_priority(
        user, ticket_id, body.priority, idempotency_key=idempotency_key
    )


@comments_router.post(
    "/comments/ticket/{ticket_id}",
    name="create",
    status_code=status.HTTP_201_CREATED,
    **{**CHANGE, "response_model": CommentOut},
)
async def add_comment(
    ticket_id: uuid.UUID,
    body: CommentCreate,
    user: CurrentUser,
    tickets: Tickets,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """A requester's public reply moves a WAITING_CUSTOMER or RESOLVED ticket back to
    IN_PROGRESS, in the same step as the comment."""
    return await tickets.comment(
        user, ticket_id, body.content, is_internal=body.is_internal, idempotency_key=idempotency_key
    )


@comments_router.get("/comments/ticket/{ticket_id}", name="list", response_model=list[CommentOut])
async def list_comments(
    request: Request,
    response: Response,
    ticket_id: uuid.UUID,
    user: CurrentUser,
    tickets: Tickets,
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Any:
    """Comments, oldest first; customers never see internal ones."""
    comments = await tickets.comments(user, ticket_id, limit=limit + 1, offset=offset)
    return offset_page(request, response, comments, offset=offset, limit=limit)
