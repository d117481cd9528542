"""Live events (desk/live): written in the change's own transaction, read by one hub per
process and fanned out by visibility; a reconnecting stream resumes after its last id."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from desk.db.types import utcnow
from desk.enums import Priority, Role, TicketStatus
from desk.live.feed import NewEvent, publish
from desk.live.hub import RESET, Event, LiveHub, Viewer, visible_to
from desk.live.models import LiveEvent
from desk.tickets.contracts import AuditItem, CommentItem, ProjectionBatch, TicketState
from desk.tickets.projection import write_projection
from tests.support.config import TEST_DB

ORG, OTHER_ORG = uuid.uuid4(), uuid.uuid4()
CUSTOMER, OTHER_CUSTOMER, AGENT = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def event(**fields) -> Event:
    base = {
        "id": 1,
        "organization_id": ORG,
        "kind": "ticket",
        "ticket_id": uuid.uuid4(),
        "requester_id": CUSTOMER,
        "user_id": None,
        "is_internal": False,
        "data": {},
    }
    return Event(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "customer", "other_customer", "staff", "stranger"),
    [
        ({}, True, False, True, False),
        ({"is_internal": True}, False, False, True, False),
        ({"user_id": AGENT, "kind": "notification"}, False, False, True, False),
        ({"user_id": CUSTOMER, "kind": "notification"}, True, False, False, False),
    ],
)
def test_who_hears_of_what(fields, customer, other_customer, staff, stranger):
    e = event(**fields)
    assert visible_to(e, Viewer(CUSTOMER, ORG, staff=False)) is customer
    assert visible_to(e, Viewer(OTHER_CUSTOMER, ORG, staff=False)) is other_customer
    assert visible_to(e, Viewer(AGENT, ORG, staff=True)) is staff
    assert visible_to(e, Viewer(AGENT, OTHER_ORG, staff=True)) is stranger


def test_an_event_as_server_sent_events():
    e = event(id=42, data={"status": "NEW"})
    assert e.sse() == (
        f'id: 42\nevent: ticket\ndata: {{"ticket_id": "{e.ticket_id}", "status": "NEW"}}\n\n'
    )


@pytest.fixture
async def hub(sessionmaker, settings):
    live = LiveHub(sessionmaker, settings.database_url)
    live.start()
    yield live
    await live.close()


@pytest.fixture
async def people(world):
    org = await world.org()
    return org, {
        "customer": await world.user(org, Role.CUSTOMER),
        "other": await world.user(org, Role.CUSTOMER),
        "agent": await world.user(org, Role.AGENT),
    }


async def emit(sessionmaker, *events: NewEvent) -> None:
    async with sessionmaker() as session:
        await publish(session, events)
        await session.commit()


async def next_item(subscription, timeout: float = 3.0):
    return await asyncio.wait_for(subscription.queue.get(), timeout)


async def nothing_more(subscription, wait: float = 0.8) -> None:
    await asyncio.sleep(wait)
    assert subscription.queue.empty(), subscription.queue.get_nowait()


async def test_streams_hear_only_what_they_may_see(hub, sessionmaker, people):
    org, who = people
    customer = Viewer(who["customer"].id, org.id, staff=False)
    agent = Viewer(who["agent"].id, org.id, staff=True)
    async with hub.subscribe(customer) as theirs, hub.subscribe(agent) as staff:
        await asyncio.sleep(0.5)  # the hub has read where the feed ends
        await emit(
            sessionmaker,
            NewEvent(org.id, "ticket", requester_id=who["customer"].id, data={"n": 1}),
            NewEvent(org.id, "ticket", requester_id=who["customer"].id, is_internal=True),
            NewEvent(org.id, "ticket", requester_id=who["other"].id),
            NewEvent(org.id, "notification", user_id=who["agent"].id),
        )
        first = await next_item(theirs)
        assert first.data == {"n": 1}
        kinds = [(await next_item(staff)).kind for _ in range(4)]
        assert kinds == ["ticket", "ticket", "ticket", "notification"]
        await nothing_more(theirs)


async def test_a_reconnecting_stream_resumes_after_its_last_event(hub, sessionmaker, people):
    org, who = people
    agent = Viewer(who["agent"].id, org.id, staff=True)
    await emit(sessionmaker, *(NewEvent(org.id, "ticket", data={"n": n}) for n in range(3)))
    async with sessionmaker() as session:
        ids = list(
            await session.scalars(
                select(LiveEvent.id)
                .where(LiveEvent.organization_id == org.id)
                .order_by(LiveEvent.id)
            )
        )
    async with hub.subscribe(agent, after=ids[0]) as resumed:
        assert [(await next_item(resumed)).data["n"] for _ in range(2)] == [1, 2]
        await emit(sessionmaker, NewEvent(org.id, "ticket", data={"n": 3}))
        assert (await next_item(resumed)).data["n"] == 3
        await nothing_more(resumed)


async def test_resuming_from_pruned_events_asks_the_page_to_reload(hub, sessionmaker, people):
    org, who = people
    async with sessionmaker() as session:
        await session.execute(delete(LiveEvent))  # the feed starts afresh
        await session.commit()
    await emit(sessionmaker, NewEvent(org.id, "ticket"), NewEvent(org.id, "ticket"))
    async with sessionmaker() as session:
        first = await session.scalar(select(func.min(LiveEvent.id)))
        await session.execute(delete(LiveEvent).where(LiveEvent.id == first))  # pruned
        await session.commit()
    agent = Viewer(who["agent"].id, org.id, staff=True)
    async with hub.subscribe(agent, after=first - 1) as resumed:
        assert await next_item(resumed) == RESET
    # Old rows are pruned by the hub's loop.
    async with sessionmaker() as session:
        await session.execute(
            update(LiveEvent)
            .where(LiveEvent.organization_id == org.id)
            .values(created_at=utcnow() - timedelta(days=1))
        )
        await session.commit()
    await hub._prune()
    async with sessionmaker() as session:
        left = await session.scalar(
            select(LiveEvent.id).where(LiveEvent.organization_id == org.id).limit(1)
        )
    assert left is None


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite commits writers in id order")
async def test_an_id_committed_late_is_still_delivered(hub, sessionmaker, people):
    org, who = people
    agent = Viewer(who["agent"].id, org.id, staff=True)
    async with hub.subscribe(agent) as stream:
        await asyncio.sleep(0.5)
        async with sessionmaker() as slow:
            await publish(slow, [NewEvent(org.id, "ticket", data={"n": "slow"})])
            await emit(sessionmaker, NewEvent(org.id, "ticket", data={"n": "fast"}))
            assert (await next_item(stream)).data["n"] == "fast"
            await slow.commit()
        assert (await next_item(stream)).data["n"] == "slow"


def state(org, customer, version: int) -> TicketState:
    return TicketState(
        ticket_id=str(uuid.uuid4()),
        organization_id=str(org.id),
        number=abs(hash(uuid.uuid4())) % 1_000_000,
        subject="Printer",
        description="",
        priority=Priority.LOW,
        status=TicketStatus.NEW,
        requester_id=str(customer.id),
        created_by_id=str(customer.id),
        created_at=utcnow(),
        version=version,
    )


async def test_the_projection_writes_one_event_per_change(sessionmaker, people):
    org, who = people
    first = state(org, who["customer"], 1)
    note = CommentItem(str(uuid.uuid4()), str(who["agent"].id), "hm", True, utcnow())
    batches = [
        ProjectionBatch(state=first, audit=[AuditItem("created", None, utcnow(), 1)]),
        ProjectionBatch(state=first),  # a retried write: no second event
    ]
    second = TicketState(**{**first.__dict__, "version": 2})
    batches.append(
        ProjectionBatch(
            state=second,
            comments=[note],
            audit=[AuditItem("comment_added", None, utcnow(), 2, is_internal=True)],
        )
    )
    for batch in batches:
        async with sessionmaker() as session:
            await write_projection(session, batch)
            await session.commit()
    async with sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(LiveEvent)
                .where(LiveEvent.ticket_id == uuid.UUID(first.ticket_id))
                .order_by(LiveEvent.id)
            )
        )
    assert [(r.kind, r.is_internal, r.data["version"]) for r in rows] == [
        ("ticket", False, 1),
        ("ticket", True, 2),
    ]
    assert rows[0].requester_id == who["customer"].id
