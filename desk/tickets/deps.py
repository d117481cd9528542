"""What ticket routes and pages take from a request: the use-case service and the
``Idempotency-Key`` header."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from desk.tickets.service import TicketService


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
