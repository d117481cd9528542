"""The ticket routes over HTTP, against the real Temporal dev server with a real worker.

One organization per concern is built once per module (``acme`` for the lifecycle and the
role checks, ``globex`` as the other tenant, ``catalog`` for lists), so the suite stays fast;
tests that change a ticket file their own.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from desk.admin.models import Service
from desk.app import create_app
from desk.db.types import utcnow
from desk.enums import Role, TicketStatus
from desk.tickets.schemas import CloseBody, StatusBody, TicketCreate
from desk.tickets.search_index import ticket_workflow_id
from tests.support.tickets import (
    COMMENTS,
    INTERNAL,
    TICKETS,
    Party,
    Tenant,
    act,
    assert_model_refuses_nul,
    create,
    make_party,
    make_tenant,
    move,
    ok,
    ticket_in,
)
from tests.support.world import login_headers

S = TicketStatus

# DESIGN.md's lifecycle table: what may follow each status (by someone).
ALLOWED = {
    S.NEW: {S.ACCEPTED, S.CLOSED},
    S.ACCEPTED: {S.IN_PROGRESS, S.WAITING_CUSTOMER, S.RESOLVED},
    S.IN_PROGRESS: {S.WAITING_CUSTOMER, S.RESOLVED},
    S.WAITING_CUSTOMER: {S.IN_PROGRESS, S.RESOLVED},
    S.RESOLVED: {S.IN_PROGRESS, S.CLOSED},
    S.CLOSED: set(),
}


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(scope="module")
async def api(settings, dev_server, ticket_worker) -> AsyncIterator[httpx.AsyncClient]:
    """The app wired to the dev server (a worker polling), shared by the module's tests."""
    app = create_app(settings, temporal_client=dev_server.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
            yield http


@pytest.fixture(scope="module")
async def acme(sessionmaker, settings) -> Tenant:
    return await make_tenant(sessionmaker, settings, "Acme")


@pytest.fixture(scope="module")
async def globex(sessionmaker, settings) -> Tenant:
    return await make_tenant(sessionmaker, settings, "Globex")


def next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


async def all_pages(api, who: Party, url: str) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    next_url: str | None = url
    while next_url:
        response = await api.get(next_url, headers=who.headers)
        pages.append(await ok(response))
        next_url = next_link(response)
        assert len(pages) < 20, "pagination does not end"
    return pages


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


async def events(api, who: Party, tid: str) -> list[tuple]:
    """The ticket's timeline as (action, actor, from, to, internal), oldest first."""
    rows = await ok(api.get(f"{TICKETS}/{tid}/events", headers=who.headers))
    instants = [datetime.fromisoformat(e["created_at"]) for e in rows]
    assert instants == sorted(instants)
    # A comment and the move it caused are one change (one version, one instant); their
    # relative order is not defined, so list the comment first.
    rows.sort(key=lambda e: (datetime.fromisoformat(e["created_at"]), e["action"]))
    return [
        (e["action"], e["actor_id"], e["from_value"], e["to_value"], e["is_internal"]) for e in rows
    ]


# --- the old system's walkthrough ----------------------------------------------------------


async def test_walkthrough(api, acme: Tenant):
    t = acme
    # The two who start the story log in over HTTP, as the old system's clients do.
    customer = Party(t.customer.user, await login_headers(api, t.customer.user))
    manager = Party(t.manager.user, await login_headers(api, t.manager.user))
    ticket = await create(api, customer, "VPN drops every hour", priority="HIGH")
    tid = ticket["id"]
    assert ticket["status"] == "NEW"
    assert ticket["sla_started_at"] is None
    assert ticket["reference"] == f"#{ticket['number']}"
    assert ticket["requester_id"] == customer.id
    assert ticket["organization_id"] == str(t.org.id)
    assert ticket["accepted_by"] is None and ticket["assigned_to"] is None

    assert tid in ids(await ok(api.get(TICKETS, headers=customer.headers)))
    assert tid in ids(await ok(api.get(f"{INTERNAL}/new", headers=manager.headers)))

    accepted = await ok(act(api, manager, tid, "accept"))
    assert accepted["status"] == "ACCEPTED"
    assert accepted["accepted_by"] == manager.id
    assert accepted["accepted_at"] is not None
    assert tid not in ids(await ok(api.get(f"{INTERNAL}/new", headers=manager.headers)))

    assigned = await ok(act(api, manager, tid, "assign", {"assigned_to": t.agent.id}))
    assert assigned["assigned_to"] == t.agent.id

    assert (await move(api, t.agent, tid, S.IN_PROGRESS))["status"] == "IN_PROGRESS"
    assert (await move(api, t.agent, tid, S.WAITING_CUSTOMER))["status"] == "WAITING_CUSTOMER"

    reply = {"content": "Still broken after the reboot."}
    await ok(api.post(f"{COMMENTS}/{tid}", json=reply, headers=customer.headers), 201)
    got = await ok(api.get(f"{TICKETS}/{tid}", headers=customer.headers))
    assert got["status"] == "IN_PROGRESS"  # the customer's reply resumed it

    note = {"content": "Looks like the MTU again.", "is_internal": True}
    await ok(api.post(f"{COMMENTS}/{tid}", json=note, headers=t.agent.headers), 201)

    resolved = await move(api, t.agent, tid, S.RESOLVED)
    assert resolved["status"] == "RESOLVED" and resolved["resolved_at"] is not None

    reopen = {"content": "It happened again this morning."}
    await ok(api.post(f"{COMMENTS}/{tid}", json=reopen, headers=customer.headers), 201)
    got = await ok(api.get(f"{TICKETS}/{tid}", headers=t.agent.headers))
    assert got["status"] == "IN_PROGRESS"  # reopened by the reply
    assert got["resolved_at"] is None

    c, m, a = customer.id, manager.id, t.agent.id
    timeline = [
        ("created", c, None, "NEW", False),
        ("accepted", m, "NEW", "ACCEPTED", False),
        ("assigned", m, None, a, False),
        ("status_changed", a, "ACCEPTED", "IN_PROGRESS", False),
        ("status_changed", a, "IN_PROGRESS", "WAITING_CUSTOMER", False),
        ("comment_added", c, None, None, False),
        ("customer_replied", c, "WAITING_CUSTOMER", "IN_PROGRESS", False),
        ("comment_added", a, None, None, True),
        ("status_changed", a, "IN_PROGRESS", "RESOLVED", False),
        ("comment_added", c, None, None, False),
        ("customer_replied", c, "RESOLVED", "IN_PROGRESS", False),
    ]
    assert await events(api, manager, tid) == timeline
    assert await events(api, customer, tid) == [e for e in timeline if not e[4]]


async def listed_by_temporal(client, query: str, workflow_id: str) -> bool:
    for _ in range(50):  # visibility is eventually consistent
        if workflow_id in [w.id async for w in client.list_workflows(query)]:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_search_attributes_and_summary(api, acme: Tenant, dev_server):
    t = acme
    ticket = await create(api, t.customer, "Search me", priority="URGENT")
    await ok(act(api, t.manager, ticket, "accept"))
    client = dev_server.client
    wanted = ticket_workflow_id(ticket["id"])
    query = f'TicketStatus="ACCEPTED" AND OrganizationId="{t.org.id}"'
    assert await listed_by_temporal(client, query, wanted)
    description = await client.get_workflow_handle(wanted).describe()
    assert await description.static_summary() == f"#{ticket['number']} Search me · URGENT"

    await ok(act(api, t.manager, ticket, "assign", {"assigned_to": t.agent.id}))
    await move(api, t.agent, ticket, S.IN_PROGRESS)
    query = f'TicketStatus="IN_PROGRESS" AND TicketPriority="URGENT" AND AssigneeId="{t.agent.id}"'
    assert await listed_by_temporal(client, query, wanted)


async def test_waiting_on_the_customer_since_is_searchable(api, acme: Tenant, dev_server):
    """README's "waiting on the customer for more than a day", exact: StatusChangedAt is
    when the ticket entered its current status (not when it was filed)."""
    t = acme
    ticket = await create(api, t.customer, "Waiting query")
    await ok(act(api, t.manager, ticket, "accept"))
    before_waiting = utcnow()
    waiting = await move(api, t.manager, ticket, S.WAITING_CUSTOMER)
    wanted = ticket_workflow_id(ticket["id"])

    def query(instant: datetime) -> str:
        at = instant.isoformat().replace("+00:00", "Z")
        return f'TicketStatus = "WAITING_CUSTOMER" AND StatusChangedAt < "{at}"'

    after_waiting = datetime.fromisoformat(waiting["updated_at"]) + timedelta(milliseconds=1)
    assert await listed_by_temporal(dev_server.client, query(after_waiting), wanted)
    # Filed before `before_waiting`, but waiting only since after it: not listed.
    assert datetime.fromisoformat(ticket["created_at"]) < before_waiting
    listed = [w.id async for w in dev_server.client.list_workflows(query(before_waiting))]
    assert wanted not in listed


async def test_temporal_unreachable_is_503(client, acme: Tenant):
    """The ``client`` app points at a port where no Temporal listens."""
    body = {"subject": "Nobody home"}
    response = await client.post(TICKETS, json=body, headers=acme.customer.headers)
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "workflow_engine_unavailable"
    assert int(response.headers["Retry-After"]) > 0


# --- illegal moves: 409 with the allowed ones; repeats are no-ops ----------------------------


async def test_every_illegal_move_answers_409_with_the_allowed_moves(api, acme: Tenant):
    t = acme
    ticket = await create(api, t.customer, "Walk every status")
    path = [S.NEW, S.ACCEPTED, S.IN_PROGRESS, S.WAITING_CUSTOMER, S.RESOLVED]
    for current, following in zip(path, [*path[1:], S.CLOSED], strict=True):
        for target in S:
            if target in ALLOWED[current]:
                continue
            response = await act(api, t.manager, ticket, "status", {"status": target})
            if target == current:  # a repeat: no error, no change
                body = await ok(response)
                assert body["status"] == current and body["version"] == ticket["version"]
            else:
                body = await ok(response, 409)
                assert body["code"] == "invalid_transition", body
                assert body["current_status"] == current
                assert set(body["allowed"]) == ALLOWED[current]
        if following == S.ACCEPTED:
            ticket = await ok(act(api, t.manager, ticket, "accept"))
        else:
            ticket = await move(api, t.manager, ticket, following)
        assert ticket["status"] == following

    for target in S:
        body = await ok(act(api, t.manager, ticket, "status", {"status": target}), 409)
        assert body["code"] == "ticket_closed"
        assert body["detail"] == "ticket is closed"
        assert body["current_status"] == "CLOSED" and body["allowed"] == []


async def test_a_closed_ticket_refuses_every_change(api, acme: Tenant):
    t = acme
    ticket = await ticket_in(api, t, S.CLOSED)
    assert ticket["status"] == "CLOSED" and ticket["closed_at"] is not None
    attempts = [
        act(api, t.manager, ticket, "accept"),
        act(api, t.manager, ticket, "assign", {"assigned_to": t.agent.id}),
        act(api, t.manager, ticket, "priority", {"priority": "HIGH"}),
        act(api, t.manager, ticket, "status", {"status": "IN_PROGRESS"}),
        api.post(f"{TICKETS}/{ticket['id']}/close", headers=t.manager.headers),
        api.post(f"{COMMENTS}/{ticket['id']}", json={"content": "hi"}, headers=t.customer.headers),
    ]
    for attempt in attempts:
        body = await ok(attempt, 409)
        assert body["code"] == "ticket_closed", body
    # Still readable.
    assert (await ok(api.get(f"{TICKETS}/{ticket['id']}", headers=t.customer.headers)))[
        "status"
    ] == "CLOSED"


async def test_accepting_twice_is_a_noop(api, acme: Tenant):
    t = acme
    ticket = await create(api, t.customer)
    first, raced = await asyncio.gather(
        ok(act(api, t.manager, ticket, "accept")), ok(act(api, t.admin, ticket, "accept"))
    )
    assert raced == first  # one of them accepted, the other found it done
    again = await ok(act(api, t.admin, ticket, "accept"))
    assert again["status"] == "ACCEPTED"
    assert again["version"] == first["version"]
    assert (again["accepted_by"], again["accepted_at"]) == (
        first["accepted_by"],
        first["accepted_at"],
    )
    via_status = await move(api, t.manager, ticket, S.ACCEPTED)
    assert via_status["version"] == first["version"]
    actions = [e[0] for e in await events(api, t.manager, ticket["id"])]
    assert actions == ["created", "accepted"]


async def test_status_accepted_from_new_is_accept(api, acme: Tenant):
    t = acme
    ticket = await create(api, t.customer)
    accepted = await move(api, t.admin, ticket, S.ACCEPTED)
    assert accepted["accepted_by"] == t.admin.id and accepted["accepted_at"] is not None
    actions = [e[0] for e in await events(api, t.manager, ticket["id"])]
    assert actions == ["created", "accepted"]


async def test_assigning_the_same_agent_again_is_a_noop(api, acme: Tenant):
    t = acme
    ticket = await ticket_in(api, t, S.ACCEPTED)
    again = await ok(act(api, t.manager, ticket, "assign", {"assigned_to": t.agent.id}))
    assert again["version"] == ticket["version"]
    assert again["assigned_to"] == t.agent.id
    reassigned = await ok(act(api, t.manager, ticket, "assign", {"assigned_to": t.manager.id}))
    assert reassigned["assigned_to"] == t.manager.id
    unassigned = await ok(act(api, t.manager, ticket, "assign", {"assigned_to": None}))
    assert unassigned["assigned_to"] is None


async def test_close_withdraw_reject_and_close(api, acme: Tenant):
    t = acme
    withdrawn = await ticket_in(api, t, S.CLOSED)  # the requester withdraws a NEW ticket
    assert withdrawn["status"] == "CLOSED"

    rejected = await create(api, t.customer)
    reason = {"reason": "duplicate of #1"}
    path = f"{TICKETS}/{rejected['id']}/close"
    rejected = await ok(api.post(path, json=reason, headers=t.manager.headers))
    assert rejected["status"] == "CLOSED"
    timeline = await ok(api.get(f"{TICKETS}/{rejected['id']}/events", headers=t.customer.headers))
    assert timeline[-1]["to_value"] == "CLOSED" and timeline[-1]["details"] == reason

    accepted = await ticket_in(api, t, S.ACCEPTED)
    body = await ok(api.post(f"{TICKETS}/{accepted['id']}/close", headers=t.customer.headers), 409)
    assert body["current_status"] == "ACCEPTED"
    assert set(body["allowed"]) == ALLOWED[S.ACCEPTED]

    resolved = await ticket_in(api, t, S.RESOLVED)
    body = await ok(api.post(f"{TICKETS}/{resolved['id']}/close", headers=t.customer.headers), 403)
    closed = await ok(api.post(f"{TICKETS}/{resolved['id']}/close", headers=t.agent.headers))
    assert closed["status"] == "CLOSED"


async def test_priority_change(api, acme: Tenant):
    t = acme
    ticket = await ticket_in(api, t, S.IN_PROGRESS)
    changed = await ok(act(api, t.agent, ticket, "priority", {"priority": "URGENT"}))
    assert changed["priority"] == "URGENT" and changed["version"] == ticket["version"] + 1
    same = await ok(act(api, t.agent, ticket, "priority", {"priority": "URGENT"}))
    assert same["version"] == changed["version"]
    await ok(act(api, t.agent2, ticket, "priority", {"priority": "LOW"}), 403)
    await ok(act(api, t.manager, ticket, "priority", {"priority": "urgent!"}), 422)


# --- roles: 403 -------------------------------------------------------------------------


async def test_customers_are_kept_off_internal_routes(api, acme: Tenant):
    t = acme
    ticket = await create(api, t.customer)
    tid = ticket["id"]
    responses = [
        await api.get(f"{INTERNAL}/new", headers=t.customer.headers),
        await act(api, t.customer, tid, "accept"),
        await act(api, t.customer, tid, "assign", {"assigned_to": t.agent.id}),
        await act(api, t.customer, tid, "status", {"status": "CLOSED"}),
        await act(api, t.customer, tid, "priority", {"priority": "URGENT"}),
    ]
    assert [r.status_code for r in responses] == [403] * len(responses)
    assert {r.json()["code"] for r in responses} == {"insufficient_role"}
    unchanged = await ok(api.get(f"{TICKETS}/{tid}", headers=t.customer.headers))
    assert (unchanged["status"], unchanged["priority"]) == ("NEW", "MEDIUM")


async def test_agents_neither_accept_nor_assign(api, acme: Tenant):
    t = acme
    ticket = await create(api, t.customer)
    for response in [
        await act(api, t.agent, ticket, "accept"),
        await act(api, t.agent, ticket, "assign", {"assigned_to": t.agent.id}),
        await api.get(f"{INTERNAL}/new", headers=t.agent.headers),
    ]:
        assert response.status_code == 403, response.text
    # Nor through the status route: only managers and admins accept.
    body = await ok(act(api, t.agent, ticket, "status", {"status": "ACCEPTED"}), 403)
    assert body["code"] == "transition_forbidden"


async def test_only_the_assignee_agent_moves_the_ticket(api, acme: Tenant):
    t = acme
    ticket = await ticket_in(api, t, S.ACCEPTED)
    body = await ok(act(api, t.agent2, ticket, "status", {"status": "IN_PROGRESS"}), 403)
    assert body["code"] == "transition_forbidden"
    unassigned = await create(api, t.customer)
    await ok(act(api, t.manager, unassigned, "accept"))
    await ok(act(api, t.agent, unassigned, "status", {"status": "IN_PROGRESS"}), 403)
    # The assignee may, and the other agent still sees the ticket (staff of the org).
    assert (await move(api, t.agent, ticket, S.IN_PROGRESS))["status"] == "IN_PROGRESS"
    await ok(api.get(f"{TICKETS}/{ticket['id']}", headers=t.agent2.headers))


# --- tenancy: 404 -------------------------------------------------------------------------


def every_route(tid: str, assignee: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", f"{TICKETS}/{tid}", None),
        ("GET", f"{TICKETS}/{tid}/events", None),
        ("POST", f"{TICKETS}/{tid}/close", None),
        ("POST", f"{INTERNAL}/{tid}/accept", None),
        ("POST", f"{INTERNAL}/{tid}/assign", {"assigned_to": assignee}),
        ("POST", f"{INTERNAL}/{tid}/status", {"status": "CLOSED"}),
        ("POST", f"{INTERNAL}/{tid}/priority", {"priority": "URGENT"}),
        ("GET", f"{COMMENTS}/{tid}", None),
        ("POST", f"{COMMENTS}/{tid}", {"content": "hello?"}),
    ]


@pytest.fixture(scope="module")
async def foreign_ticket(api, globex: Tenant) -> dict[str, Any]:
    return await create(api, globex.customer, "Globex secret")


@pytest.mark.parametrize("role", ["manager", "admin", "agent", "customer"])
async def test_another_organizations_ticket_is_404_on_every_route(
    api, acme: Tenant, globex: Tenant, foreign_ticket, role
):
    who: Party = getattr(acme, role)
    for method, path, body in every_route(foreign_ticket["id"], acme.agent.id):
        response = await api.request(method, path, json=body, headers=who.headers)
        if role in ("agent", "customer") and "/internal/" in path and response.status_code == 403:
            continue  # the role check comes first and says nothing about the ticket
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "ticket_not_found"
    untouched = await ok(
        api.get(f"{TICKETS}/{foreign_ticket['id']}", headers=globex.manager.headers)
    )
    assert untouched["status"] == "NEW" and untouched["version"] == foreign_ticket["version"]
    listed = await ok(api.get(TICKETS, params={"q": "Globex secret"}, headers=who.headers))
    assert listed == []


async def test_a_missing_ticket_is_404(api, acme: Tenant):
    for method, path, body in every_route(str(uuid.uuid4()), acme.agent.id):
        response = await api.request(method, path, json=body, headers=acme.manager.headers)
        assert response.status_code == 404, (method, path, response.text)


async def test_a_customer_cannot_see_another_customers_ticket(api, acme: Tenant):
    ticket = await create(api, acme.customer, "Mine alone")
    who = acme.customer2
    for method, path, body in every_route(ticket["id"], acme.agent.id):
        response = await api.request(method, path, json=body, headers=who.headers)
        expected = 403 if "/internal/" in path else 404
        assert response.status_code == expected, (method, path, response.text)
    assert ticket["id"] not in ids(await ok(api.get(TICKETS, headers=who.headers)))
    assert (await ok(api.get(f"{TICKETS}/{ticket['id']}", headers=acme.customer.headers)))[
        "status"
    ] == "NEW"


# --- assignees -------------------------------------------------------------------------------


async def test_assignee_must_be_active_staff_of_the_organization(
    api, acme: Tenant, globex: Tenant, sessionmaker, settings
):
    ticket = await ticket_in(api, acme, S.NEW)
    await ok(act(api, acme.manager, ticket, "accept"))
    inactive = await make_party(sessionmaker, settings, acme.org, Role.AGENT, is_active=False)
    for assignee in [acme.customer.id, str(inactive.user.id)]:
        body = await ok(act(api, acme.manager, ticket, "assign", {"assigned_to": assignee}), 422)
        assert body["code"] == "invalid_assignee"
    for assignee in [globex.agent.id, str(uuid.uuid4())]:  # another tenant's looks unknown
        body = await ok(act(api, acme.manager, ticket, "assign", {"assigned_to": assignee}), 404)
        assert body["code"] == "assignee_not_found"
    await ok(act(api, acme.manager, ticket, "assign", {"assigned_to": "not-a-uuid"}), 422)
    got = await ok(api.get(f"{TICKETS}/{ticket['id']}", headers=acme.manager.headers))
    assert got["assigned_to"] is None


# --- creating ---------------------------------------------------------------------------------


async def test_create_is_idempotent_with_a_key(api, acme: Tenant):
    t = acme
    subject = f"Idempotent {uuid.uuid4().hex[:8]}"
    first = await create(api, t.customer, subject, key="key-1")
    again = await create(api, t.customer, subject, key="key-1")
    assert again["id"] == first["id"] and again["number"] == first["number"]
    listed = await ok(api.get(TICKETS, params={"q": subject}, headers=t.customer.headers))
    assert ids(listed) == [first["id"]]

    other = await create(api, t.customer, subject, key="key-2")
    assert other["id"] != first["id"]
    no_key = await create(api, t.customer, subject)
    # Keys are the caller's own: another user's "key-1" is another ticket.
    theirs = await create(api, t.customer2, subject, key="key-1")
    assert len({first["id"], other["id"], no_key["id"], theirs["id"]}) == 4
    listed = await ok(api.get(TICKETS, params={"q": subject}, headers=t.manager.headers))
    assert len(listed) == 4


async def test_concurrent_retries_of_a_create_make_one_ticket(api, acme: Tenant):
    subject = f"Raced {uuid.uuid4().hex[:8]}"
    results = await asyncio.gather(
        *(create(api, acme.customer, subject, key="raced") for _ in range(3))
    )
    assert len({r["id"] for r in results}) == 1
    listed = await ok(api.get(TICKETS, params={"q": subject}, headers=acme.customer.headers))
    assert len(listed) == 1


async def test_staff_file_on_behalf_of_a_customer(api, acme: Tenant, globex: Tenant):
    t = acme
    filed = await create(api, t.manager, "Phoned in", requester_id=t.customer.id)
    assert filed["requester_id"] == t.customer.id
    assert filed["created_by_id"] == t.manager.id
    assert filed["id"] in ids(await ok(api.get(TICKETS, headers=t.customer.headers)))
    by_agent = await create(api, t.agent, "Walked in", requester_id=t.customer2.id)
    assert by_agent["requester_id"] == t.customer2.id

    body = {"subject": "Not mine", "requester_id": t.customer2.id}
    response = await api.post(TICKETS, json=body, headers=t.customer.headers)
    assert response.status_code == 403, response.text
    own = await create(api, t.customer, "Mine", requester_id=t.customer.id)
    assert own["requester_id"] == t.customer.id
    for requester, status, code in [
        (t.agent.id, 422, "invalid_requester"),
        (globex.customer.id, 404, "requester_not_found"),  # another tenant's looks unknown
        (str(uuid.uuid4()), 404, "requester_not_found"),
    ]:
        body = {"subject": "Bad requester", "requester_id": requester}
        response = await api.post(TICKETS, json=body, headers=t.manager.headers)
        assert response.status_code == status, response.text
        assert response.json()["code"] == code


async def test_service_must_be_an_active_service_of_the_organization(
    api, acme: Tenant, globex: Tenant, sessionmaker
):
    async with sessionmaker() as session:
        ours = Service(organization_id=acme.org.id, name=f"Email {uuid.uuid4().hex[:6]}")
        retired = Service(
            organization_id=acme.org.id, name=f"Fax {uuid.uuid4().hex[:6]}", is_active=False
        )
        theirs = Service(organization_id=globex.org.id, name=f"VPN {uuid.uuid4().hex[:6]}")
        session.add_all([ours, retired, theirs])
        await session.commit()
    filed = await create(api, acme.customer, "With service", service_id=str(ours.id))
    assert filed["service_id"] == str(ours.id)
    for service_id, status, code in [
        (str(retired.id), 422, "invalid_service"),
        (str(theirs.id), 404, "service_not_found"),  # another tenant's looks unknown
        (str(uuid.uuid4()), 404, "service_not_found"),
    ]:
        body = {"subject": "Bad service", "service_id": service_id}
        response = await api.post(TICKETS, json=body, headers=acme.customer.headers)
        assert response.status_code == status, response.text
        assert response.json()["code"] == code


@pytest.mark.parametrize(
    "body",
    [
        {"subject": ""},
        {"subject": "   "},
        {"description": "no subject"},
        {"subject": "x" * 301},
        {"subject": "ok", "priority": "CRITICAL"},
        {"subject": "ok", "priority": "high"},
        {"subject": "ok", "description": "é" * (64 * 1024 + 1)},
        {"subject": "ok", "service_id": "not-a-uuid"},
    ],
)
async def test_create_validation(api, acme: Tenant, body):
    response = await api.post(TICKETS, json=body, headers=acme.customer.headers)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("field", ["subject", "description"])
async def test_a_nul_in_a_new_ticket_is_refused(api, acme: Tenant, field):
    body = {"subject": "ok", field: "nul\x00byte"}
    assert_model_refuses_nul(TicketCreate, **body)
    response = await api.post(TICKETS, json=body, headers=acme.customer.headers)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(("model", "action"), [(CloseBody, "close"), (StatusBody, "status")])
async def test_a_nul_in_a_reason_is_refused(api, acme: Tenant, model, action):
    body = {"status": "CLOSED", "reason": "nul\x00byte"}
    assert_model_refuses_nul(model, **body)
    ticket = await create(api, acme.customer)
    close = f"{TICKETS}/{ticket['id']}/close"
    if action == "close":
        response = await api.post(close, json=body, headers=acme.customer.headers)
    else:
        response = await act(api, acme.manager, ticket, "status", body)
    assert response.status_code == 422, response.text
    # The ticket still takes changes.
    assert (await ok(api.post(close, headers=acme.customer.headers)))["status"] == "CLOSED"


# --- lists: pagination and filters -----------------------------------------------------------


@dataclass
class Catalog:
    t: Tenant
    tickets: list[dict[str, Any]]  # in creation order


@pytest.fixture(scope="module")
async def catalog(api, sessionmaker, settings) -> Catalog:
    """Seven tickets in an organization of their own."""
    t = await make_tenant(sessionmaker, settings, "Catalog")
    specs = [
        (t.customer, "Printer jams", "LOW", {}),
        (t.customer, "VPN drops", "HIGH", {}),
        (t.customer, "Mailbox 100% full", "MEDIUM", {}),
        (t.customer, "PRINTER toner", "URGENT", {}),
        (t.manager, "Laptop", "HIGH", {"requester_id": t.customer2.id}),
        (t.customer, "Badge_reader", "MEDIUM", {}),
        (t.customer, "Chair", "LOW", {}),
    ]
    tickets = [
        await create(api, who, subject, priority=p, **extra) for who, subject, p, extra in specs
    ]
    await ok(act(api, t.manager, tickets[1], "accept"))
    await ok(act(api, t.manager, tickets[3], "accept"))
    tickets[3] = await ok(act(api, t.manager, tickets[3], "assign", {"assigned_to": t.agent.id}))
    return Catalog(t, tickets)


async def test_pagination_walks_every_page_once(api, catalog: Catalog):
    pages = await all_pages(api, catalog.t.manager, f"{TICKETS}?limit=3")
    assert [len(p) for p in pages] == [3, 3, 1]
    seen = [row["id"] for page in pages for row in page]
    assert seen == list(reversed(ids(catalog.tickets)))  # newest first, no gaps or repeats
    # Human numbers count up per organization.
    assert [row["number"] for row in catalog.tickets] == list(range(1, 8))


async def test_pagination_keeps_the_filters(api, catalog: Catalog):
    pages = await all_pages(api, catalog.t.manager, f"{TICKETS}?priority=HIGH&limit=1")
    assert [len(p) for p in pages] == [1, 1]
    assert {row["priority"] for page in pages for row in page} == {"HIGH"}
    mine = await all_pages(api, catalog.t.customer, f"{TICKETS}?limit=4")
    assert [len(p) for p in mine] == [4, 2]  # a customer pages through their own only


async def test_inbox_is_new_tickets_oldest_first(api, catalog: Catalog):
    pages = await all_pages(api, catalog.t.manager, f"{INTERNAL}/new?limit=2")
    assert [len(p) for p in pages] == [2, 2, 1]
    rows = [row for page in pages for row in page]
    assert {row["status"] for row in rows} == {"NEW"}
    expected = [catalog.tickets[i]["id"] for i in (0, 2, 4, 5, 6)]
    assert ids(rows) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "ACCEPTED"}, {1, 3}),
        ({"status": "NEW", "priority": "LOW"}, {0, 6}),
        ({"priority": "HIGH"}, {1, 4}),
        ({"assigned_to": "agent"}, {3}),
        ({"requester_id": "customer2"}, {4}),
        ({"q": "printer"}, {0, 3}),
        ({"q": "100%"}, {2}),
        ({"q": "%"}, {2}),
        ({"q": "_"}, {5}),
        ({"status": "RESOLVED"}, set()),
    ],
)
async def test_filters(api, catalog: Catalog, params, expected):
    t = catalog.t
    params = {
        k: getattr(t, v).id if k in ("assigned_to", "requester_id") else v
        for k, v in params.items()
    }
    rows = await ok(api.get(TICKETS, params=params, headers=t.manager.headers))
    assert set(ids(rows)) == {catalog.tickets[i]["id"] for i in expected}


async def test_customers_filter_only_their_own(api, catalog: Catalog):
    t = catalog.t
    params = {"requester_id": t.customer2.id}
    assert await ok(api.get(TICKETS, params=params, headers=t.customer.headers)) == []
    assert ids(await ok(api.get(TICKETS, headers=t.customer2.headers))) == [
        catalog.tickets[4]["id"]
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "garbage!!"},
        {"cursor": "bm90IGpzb24"},
        {"cursor": "A" * 31},
        {"cursor": "A" * 33},
        {"cursor": "A" * 31 + "="},
        {"limit": 0},
        {"limit": 201},
        {"status": "BOGUS"},
        {"priority": "LOWEST"},
        {"assigned_to": "nobody"},
        {"q": "a\x00b"},  # PostgreSQL cannot compare with a NUL: was a 500
        {"sla_due_before": "2025-01-01T00:00:00"},  # naive
    ],
)
async def test_bad_list_parameters_are_422(api, catalog: Catalog, params):
    response = await api.get(TICKETS, params=params, headers=catalog.t.manager.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("cursor", ["A" * 32, "_" * 32, "-" * 32])
async def test_every_cursor_of_the_documented_shape_is_a_position(api, catalog: Catalog, cursor):
    """The cursor is opaque but never an error: any 32 characters of its alphabet name a
    position (one past every row: an empty page)."""
    response = await api.get(TICKETS, params={"cursor": cursor}, headers=catalog.t.manager.headers)
    assert response.status_code == 200, response.text
