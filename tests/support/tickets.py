"""Tickets for tests: a projection row written directly (``make_ticket``), and the ticket
routes driven over HTTP by a tenant's people (``make_tenant``, ``create``, ``act``,
``ticket_in``...)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from desk.auth.models import Organization, User
from desk.enums import Priority, Role, TicketStatus
from desk.settings import Settings
from desk.tickets.models import Ticket
from tests.support.world import World, bearer

TICKETS = "/api/v1/tickets"
INTERNAL = "/api/v1/internal/tickets"
COMMENTS = "/api/v1/comments/ticket"
_numbers = itertools.count(1)

# --- A projection row, without Temporal ----------------------------------------------


async def make_ticket(sessionmaker, org, requester, status=TicketStatus.NEW) -> Ticket:
    """A ticket projection row, as the ticket workflow would have written it."""
    async with sessionmaker() as session:
        ticket = Ticket(
            id=uuid.uuid4(),
            organization_id=org.id,
            number=next(_numbers),
            subject="Printer on fire",
            priority=Priority.HIGH,
            status=status,
            requester_id=requester.id,
        )
        session.add(ticket)
        await session.commit()
        return ticket


# --- The ticket routes over HTTP --------------------------------------------------------


@dataclass
class Party:
    """A user and the auth header they send."""

    user: User
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return str(self.user.id)


async def make_party(
    sessionmaker, settings: Settings, org: Organization, role: Role, **fields: Any
) -> Party:
    """A user with an auth header (a token signed directly: logging in costs an argon2
    verification, half a second)."""
    user = await World(sessionmaker).user(org, role, **fields)
    return Party(user, bearer(settings, user))


@dataclass
class Tenant:
    """An organization with one or two people of each role."""

    org: Organization
    manager: Party
    admin: Party
    agent: Party
    agent2: Party
    customer: Party
    customer2: Party


async def make_tenant(sessionmaker, settings: Settings, name: str) -> Tenant:
    org = await World(sessionmaker).org(name)
    roles = [Role.MANAGER, Role.ADMIN, Role.AGENT, Role.AGENT, Role.CUSTOMER, Role.CUSTOMER]
    return Tenant(org, *[await make_party(sessionmaker, settings, org, role) for role in roles])


async def create(
    api: httpx.AsyncClient, who: Party, subject: str = "Login issue", **body: Any
) -> dict[str, Any]:
    key = body.pop("key", None)
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    payload = {"subject": subject, "description": "It broke.", "priority": "MEDIUM", **body}
    response = await api.post(TICKETS, json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def act(
    api: httpx.AsyncClient, who: Party, ticket: dict | str, action: str, body: Any = None
) -> httpx.Response:
    """POST an internal action (accept, assign, status, priority) on a ticket."""
    tid = ticket if isinstance(ticket, str) else ticket["id"]
    return await api.post(f"{INTERNAL}/{tid}/{action}", json=body, headers=who.headers)


async def ok(response: httpx.Response | Any, status: int = 200) -> dict[str, Any]:
    """Await the request if need be, check its status, and return its JSON body."""
    response = await response if asyncio.iscoroutine(response) else response
    assert response.status_code == status, response.text
    return response.json()


async def move(api, who: Party, ticket: dict | str, status: TicketStatus) -> dict[str, Any]:
    return await ok(act(api, who, ticket, "status", {"status": status}))


async def ticket_in(api, t: Tenant, status: TicketStatus, **body: Any) -> dict[str, Any]:
    """A ticket of ``t.customer`` driven to ``status`` (assigned to ``t.agent`` once
    accepted)."""
    ticket = await create(api, t.customer, **body)
    if status == TicketStatus.NEW:
        return ticket
    if status == TicketStatus.CLOSED:
        return await ok(api.post(f"{TICKETS}/{ticket['id']}/close", headers=t.customer.headers))
    await ok(act(api, t.manager, ticket, "accept"))
    ticket = await ok(act(api, t.manager, ticket, "assign", {"assigned_to": t.agent.id}))
    if status != TicketStatus.ACCEPTED:
        ticket = await move(api, t.agent, ticket, status)
    return ticket


def assert_model_refuses_nul(model: type[BaseModel], **fields: Any) -> None:
    """PostgreSQL cannot store NUL in text or JSONB. Let in, a NUL reaches the projection
    write, which then fails on every retry: the request answers 503 after the update timeout
    and the ticket's workflow is wedged for good (every later change waits behind the failing
    write). So the request body must refuse it (422). Checked on the route's body model
    first, so that while this is broken the test fails at once instead of wedging a workflow
    on the shared dev server."""
    with pytest.raises(ValidationError):
        model.model_validate(fields)
