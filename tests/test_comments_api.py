"""Comments over HTTP, against the real Temporal dev server with a real worker: who may post
and see what, the size limits, idempotent retries, and the lifecycle effects a comment has
(a customer's reply resumes or reopens the ticket; a staff reply is the first response)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from desk.app import create_app
from desk.enums import TicketStatus
from desk.tickets.schemas import CommentCreate
from tests.support.tickets import (
    COMMENTS,
    TICKETS,
    Party,
    Tenant,
    act,
    assert_model_refuses_nul,
    create,
    make_tenant,
    ok,
    ticket_in,
)

S = TicketStatus


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
    return await make_tenant(sessionmaker, settings, "Acme comments")


@pytest.fixture(scope="module")
async def globex(sessionmaker, settings) -> Tenant:
    return await make_tenant(sessionmaker, settings, "Globex comments")


async def comment(
    api: httpx.AsyncClient,
    who: Party,
    ticket: dict[str, Any],
    content: str = "Any news?",
    *,
    is_internal: bool = False,
    key: str | None = None,
) -> httpx.Response:
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    body = {"content": content, "is_internal": is_internal}
    return await api.post(f"{COMMENTS}/{ticket['id']}", json=body, headers=headers)


async def comments(api: httpx.AsyncClient, who: Party, ticket: dict[str, Any]) -> list[dict]:
    return await ok(api.get(f"{COMMENTS}/{ticket['id']}", headers=who.headers))


async def reread(api: httpx.AsyncClient, who: Party, ticket: dict[str, Any]) -> dict[str, Any]:
    return await ok(api.get(f"{TICKETS}/{ticket['id']}", headers=who.headers))


async def test_requester_and_staff_comment_customers_never_see_internal(api, acme: Tenant):
    t = acme
    ticket = await ticket_in(api, t, S.IN_PROGRESS)
    public = await ok(comment(api, t.customer, ticket, "Still broken."), 201)
    assert public["author_id"] == t.customer.id and public["ticket_id"] == ticket["id"]
    assert public["content"] == "Still broken." and public["is_internal"] is False
    answer = await ok(comment(api, t.agent, ticket, "Try again now?"), 201)
    note = await ok(comment(api, t.manager, ticket, "Escalate if not.", is_internal=True), 201)
    assert note["is_internal"] is True

    staff_view = [c["id"] for c in await comments(api, t.agent, ticket)]
    assert staff_view == [public["id"], answer["id"], note["id"]]  # oldest first
    customer_view = [c["id"] for c in await comments(api, t.customer, ticket)]
    assert customer_view == [public["id"], answer["id"]]
    assert (await reread(api, t.customer, ticket))["status"] == "IN_PROGRESS"

    # Paging with the Link header never reaches the internal note either.
    first = await api.get(f"{COMMENTS}/{ticket['id']}?limit=1", headers=t.customer.headers)
    second = await api.get(first.links["next"]["url"], headers=t.customer.headers)
    assert [c["id"] for c in first.json() + second.json()] == customer_view
    assert "next" not in second.links

    timeline = await ok(api.get(f"{TICKETS}/{ticket['id']}/events", headers=t.customer.headers))
    assert not any(e["is_internal"] for e in timeline)
    assert sum(e["action"] == "comment_added" for e in timeline) == 2


async def test_a_customer_cannot_post_internal(api, acme: Tenant):
    t = acme
    ticket = await ticket_in(api, t, S.ACCEPTED)
    response = await comment(api, t.customer, ticket, "Psst", is_internal=True)
    assert response.status_code == 403, response.text
    assert await comments(api, t.manager, ticket) == []
    assert (await reread(api, t.manager, ticket))["version"] == ticket["version"]


@pytest.fixture(scope="module")
async def new_ticket(api, acme: Tenant) -> dict[str, Any]:
    return await create(api, acme.customer, "Validation target")


@pytest.mark.parametrize(
    "body",
    [
        {"content": ""},
        {"content": "   \n\t"},
        {},
        {"content": None},
        {"content": "x" * (64 * 1024 + 1)},
        {"content": "é" * (64 * 1024 + 1)},  # the limit counts characters, not bytes
        {"content": "ok", "is_internal": "sometimes"},
    ],
)
async def test_comment_validation(api, acme: Tenant, new_ticket, body):
    response = await api.post(
        f"{COMMENTS}/{new_ticket['id']}", json=body, headers=acme.customer.headers
    )
    assert response.status_code == 422, response.text
    assert await comments(api, acme.manager, new_ticket) == []


async def test_a_nul_in_a_comment_is_refused(api, acme: Tenant):
    body = {"content": "nul\x00byte"}
    assert_model_refuses_nul(CommentCreate, **body)  # see there: why, and why first
    ticket = await create(api, acme.customer)
    response = await api.post(
        f"{COMMENTS}/{ticket['id']}", json=body, headers=acme.customer.headers
    )
    assert response.status_code == 422, response.text
    await ok(comment(api, acme.customer, ticket), 201)  # the ticket still takes changes


async def test_a_comment_of_exactly_64_ki_characters_is_accepted(api, acme: Tenant):
    ticket = await ticket_in(api, acme, S.NEW)
    content = "é" * (64 * 1024)  # 128 KiB of UTF-8: the limit is what people count
    created = await ok(comment(api, acme.customer, ticket, content), 201)
    assert created["content"] == content
    assert [c["content"] for c in await comments(api, acme.customer, ticket)] == [content]


async def test_no_comment_on_a_closed_ticket(api, acme: Tenant):
    ticket = await ticket_in(api, acme, S.CLOSED)
    for who in (acme.customer, acme.manager):
        body = await ok(comment(api, who, ticket), 409)
        assert body["code"] == "ticket_closed"
    assert await comments(api, acme.manager, ticket) == []


async def test_comment_is_idempotent_with_a_key(api, acme: Tenant):
    t = acme
    ticket = await ticket_in(api, t, S.ACCEPTED)
    first = await ok(comment(api, t.customer, ticket, "Hello?", key="c-1"), 201)
    again = await ok(comment(api, t.customer, ticket, "Hello?", key="c-1"), 201)
    assert again == first
    other = await ok(comment(api, t.customer, ticket, "Hello?", key="c-2"), 201)
    theirs = await ok(comment(api, t.agent, ticket, "Hello!", key="c-1"), 201)
    assert len({first["id"], other["id"], theirs["id"]}) == 3
    listed = [c["id"] for c in await comments(api, t.manager, ticket)]
    assert sorted(listed) == sorted([first["id"], other["id"], theirs["id"]])
    timeline = await ok(api.get(f"{TICKETS}/{ticket['id']}/events", headers=t.manager.headers))
    assert sum(e["action"] == "comment_added" for e in timeline) == 3


async def test_comments_of_another_organization_are_404(api, acme: Tenant, globex: Tenant):
    ticket = await create(api, globex.customer, "Globex only")
    await ok(comment(api, globex.customer, ticket, "Ours"), 201)
    for who in (acme.manager, acme.agent, acme.customer):
        for response in (await comment(api, who, ticket), await comments_raw(api, who, ticket)):
            assert response.status_code == 404, response.text
            assert response.json()["code"] == "ticket_not_found"
    # And a customer sees no other customer's ticket of their own organization either.
    mine = await create(api, acme.customer, "Acme only")
    for response in (
        await comment(api, acme.customer2, mine),
        await comments_raw(api, acme.customer2, mine),
    ):
        assert response.status_code == 404, response.text
    assert len(await comments(api, globex.manager, ticket)) == 1


async def comments_raw(api: httpx.AsyncClient, who: Party, ticket: dict) -> httpx.Response:
    return await api.get(f"{COMMENTS}/{ticket['id']}", headers=who.headers)


async def test_first_response_is_the_first_public_staff_comment_after_acceptance(api, acme: Tenant):
    t = acme
    ticket = await create(api, t.customer, "When will someone answer?")
    await ok(comment(api, t.manager, ticket, "Before acceptance"), 201)
    assert (await reread(api, t.manager, ticket))["first_responded_at"] is None

    await ok(act(api, t.manager, ticket, "accept"))
    await ok(comment(api, t.manager, ticket, "Internal note", is_internal=True), 201)
    await ok(comment(api, t.customer, ticket, "Hello?"), 201)
    assert (await reread(api, t.manager, ticket))["first_responded_at"] is None

    answer = await ok(comment(api, t.agent, ticket, "On it."), 201)
    responded = (await reread(api, t.manager, ticket))["first_responded_at"]
    assert responded == answer["created_at"]

    await ok(comment(api, t.manager, ticket, "Still on it."), 201)
    assert (await reread(api, t.manager, ticket))["first_responded_at"] == responded


@pytest.mark.parametrize(
    ("status", "author", "is_internal", "after"),
    [
        (S.WAITING_CUSTOMER, "customer", False, S.IN_PROGRESS),  # the customer answered
        (S.RESOLVED, "customer", False, S.IN_PROGRESS),  # reopened
        (S.WAITING_CUSTOMER, "agent", False, S.WAITING_CUSTOMER),
        (S.RESOLVED, "manager", True, S.RESOLVED),
        (S.ACCEPTED, "customer", False, S.ACCEPTED),
        (S.NEW, "customer", False, S.NEW),
    ],
)
async def test_a_comment_and_its_effect_are_one_step(
    api, acme: Tenant, status, author, is_internal, after
):
    ticket = await ticket_in(api, acme, status)
    created = await ok(comment(api, getattr(acme, author), ticket, is_internal=is_internal), 201)
    got = await reread(api, acme.manager, ticket)
    assert got["status"] == after
    # The comment and the move are one step (one update, one transaction), recorded as two
    # consecutive versions so the timeline orders them.
    assert got["version"] == ticket["version"] + (2 if after != status else 1)
    assert created["id"] in [c["id"] for c in await comments(api, acme.manager, ticket)]
    if after == S.IN_PROGRESS and status == S.RESOLVED:
        assert got["resolved_at"] is None
