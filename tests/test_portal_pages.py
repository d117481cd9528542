"""Portal pages over httpx (no Temporal: ticket rows are written as the projection would):
each role's pages, the 403 and 404 pages for the wrong role or tenant, what a customer
never sees, the controls the lifecycle gives each role, and the headers pages carry."""

from __future__ import annotations

import uuid

import pytest

from desk.db.types import utcnow
from desk.enums import Role, TicketStatus
from desk.tickets.models import Comment
from tests.support.portal import portal_client, sign_in
from tests.support.tickets import make_ticket


@pytest.fixture
async def acme(world, sessionmaker):
    org = await world.org("Acme")
    people = {role: await world.user(org, role) for role in Role}
    people["other customer"] = await world.user(org, Role.CUSTOMER)
    ticket = await make_ticket(sessionmaker, org, people[Role.CUSTOMER])
    async with sessionmaker() as session:
        for internal, text in ((False, "Public answer"), (True, "Secret staff note")):
            session.add(
                Comment(
                    organization_id=org.id,
                    ticket_id=ticket.id,
                    author_id=people[Role.AGENT].id,
                    content=text,
                    is_internal=internal,
                    created_at=utcnow(),
                )
            )
        await session.commit()
    return org, people, ticket


async def page_as(app, user, path):
    async with portal_client(app) as http:
        await sign_in(http, user)
        return await http.get(path)


STAFF_ONLY = ["/queue"]
TRIAGE_ONLY = ["/inbox", "/at-risk", "/breached", "/reports"]
ADMIN_ONLY = ["/admin"]


@pytest.mark.parametrize(
    ("role", "path"),
    [(Role.CUSTOMER, p) for p in STAFF_ONLY + TRIAGE_ONLY + ADMIN_ONLY]
    + [(Role.AGENT, p) for p in TRIAGE_ONLY + ADMIN_ONLY]
    + [(Role.MANAGER, p) for p in ADMIN_ONLY],
)
async def test_the_wrong_role_gets_a_403_page(app, acme, role, path):
    _, people, _ = acme
    response = await page_as(app, people[role], path)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Not allowed" in response.text
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("role", "path"),
    [(Role.AGENT, p) for p in STAFF_ONLY]
    + [(r, p) for r in (Role.MANAGER, Role.ADMIN) for p in STAFF_ONLY + TRIAGE_ONLY]
    + [(Role.ADMIN, "/admin")]
    + [(r, p) for r in Role for p in ("/tickets", "/tickets/new", "/notifications")],
)
async def test_each_role_has_its_pages(app, acme, role, path):
    _, people, _ = acme
    response = await page_as(app, people[role], path)
    assert response.status_code == 200, response.text
    assert "<h1>" in response.text


async def test_another_tenants_or_customers_ticket_is_a_404_page(app, acme, world):
    _, people, ticket = acme
    stranger_org = await world.org("Elsewhere")
    stranger = await world.user(stranger_org, Role.MANAGER)
    for user in (stranger, people["other customer"]):
        response = await page_as(app, user, f"/tickets/{ticket.id}")
        assert response.status_code == 404
        assert "Not found" in response.text
        assert ticket.subject not in response.text
    missing = await page_as(app, people[Role.MANAGER], f"/tickets/{uuid.uuid4()}")
    assert missing.status_code == 404
    not_an_id = await page_as(app, people[Role.MANAGER], "/tickets/not-a-ticket")
    assert not_an_id.status_code == 404
    assert "Not found" in not_an_id.text


async def test_a_customer_never_sees_internal_notes(app, acme):
    _, people, ticket = acme
    customer = await page_as(app, people[Role.CUSTOMER], f"/tickets/{ticket.id}")
    assert customer.status_code == 200
    assert f"#{ticket.number}" in customer.text and "NEW" in customer.text
    assert "Public answer" in customer.text
    assert "Secret staff note" not in customer.text
    assert 'id="internal"' not in customer.text  # no Internal note choice
    agent = await page_as(app, people[Role.AGENT], f"/tickets/{ticket.id}")
    assert "Secret staff note" in agent.text
    assert "Internal note" in agent.text


async def test_the_controls_follow_the_lifecycle(app, acme):
    _, people, ticket = acme
    manager = (await page_as(app, people[Role.MANAGER], f"/tickets/{ticket.id}")).text
    assert ">Accept</button>" in manager and ">Reject</button>" in manager
    assert 'for="assignee">Assignee</label>' in manager
    customer = (await page_as(app, people[Role.CUSTOMER], f"/tickets/{ticket.id}")).text
    assert ">Withdraw</button>" in customer and ">Accept</button>" not in customer
    agent = (await page_as(app, people[Role.AGENT], f"/tickets/{ticket.id}")).text
    assert ">Accept</button>" not in agent and ">Withdraw</button>" not in agent
    assert 'for="reply">Reply</label>' in agent and ">Send</button>" in agent


async def test_lists_show_what_each_may_see(app, acme, sessionmaker):
    org, people, ticket = acme
    theirs = await make_ticket(sessionmaker, org, people["other customer"])
    mine = (await page_as(app, people[Role.CUSTOMER], "/tickets")).text
    assert f"/tickets/{ticket.id}" in mine and f"/tickets/{theirs.id}" not in mine
    assert 'href="/tickets/new">New ticket</a>' in mine
    staff = (await page_as(app, people[Role.MANAGER], "/tickets")).text
    assert f"/tickets/{ticket.id}" in staff and f"/tickets/{theirs.id}" in staff
    inbox = (await page_as(app, people[Role.MANAGER], "/inbox")).text
    assert f"/tickets/{ticket.id}" in inbox and "Accept" in inbox
    closed = await make_ticket(sessionmaker, org, people[Role.CUSTOMER], TicketStatus.CLOSED)
    open_only = (await page_as(app, people[Role.AGENT], "/tickets")).text
    assert f"/tickets/{closed.id}" not in open_only
    every = (await page_as(app, people[Role.AGENT], "/tickets?status=all")).text
    assert f"/tickets/{closed.id}" in every


async def test_pages_allow_only_our_own_scripts_and_are_never_framed(app, acme):
    _, people, ticket = acme
    response = await page_as(app, people[Role.AGENT], f"/tickets/{ticket.id}")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert "<script>" not in response.text and "style=" not in response.text
    async with portal_client(app) as http:
        script = await http.get("/static/portal.js")
        assert script.status_code == 200
        assert (await http.get("/static/portal.css")).status_code == 200


async def test_a_form_with_too_many_files_is_sent_back_with_the_reason(app, acme):
    _, people, ticket = acme
    async with portal_client(app) as http:
        token = await sign_in(http, people[Role.CUSTOMER])
        files = [("files", (f"f{i}.txt", b"x", "text/plain")) for i in range(11)]
        response = await http.post(
            f"/tickets/{ticket.id}/reply",
            data={"csrftoken": token, "content": "Many files"},
            files=files,
            headers={"Referer": f"https://desk.test/tickets/{ticket.id}"},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/tickets/{ticket.id}"
        page = await http.get(response.headers["location"])
        assert "Too many files" in page.text
        assert "Many files" not in page.text


async def test_the_app_starts_and_stops_through_the_asgi_lifespan(settings):
    """As uvicorn runs it: the lifespan passes every middleware, CSRF's included."""
    from desk.app import create_app

    application = create_app(settings)
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent = []

    async def receive():
        return incoming.pop(0)

    async def send(message):
        sent.append(message)

    await application({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert [m["type"] for m in sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ], sent
