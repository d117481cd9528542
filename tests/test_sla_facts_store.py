"""``sla_facts`` on the engine under test: written by the projection with the ticket row (and
only forwards), gone with the ticket, and copied from older tickets' columns by migration
0005."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy import delete, select

from desk.db.engine import create_engine
from desk.db.migrate import upgrade_async
from desk.db.types import UTCDateTime
from desk.enums import Role, TicketStatus
from desk.sla.contracts import SlaTargets
from desk.sla.models import SlaFact
from desk.tickets.models import Ticket
from tests.support.databases import scratch_database
from tests.support.stories import TicketStory

HIGH = SlaTargets.from_minutes(None, first_response_minutes=60, resolution_minutes=480)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, 15, hour, minute, tzinfo=UTC)


async def stored(sessionmaker, ticket_id: uuid.UUID) -> dict[str, SlaFact]:
    async with sessionmaker() as session:
        rows = await session.execute(select(SlaFact).where(SlaFact.ticket_id == ticket_id))
        return {fact.metric: fact for fact in rows.scalars()}


async def test_the_projection_writes_each_started_metric_with_the_ticket(sessionmaker, world):
    org = await world.org()
    customer, agent = await world.user(org, Role.CUSTOMER), await world.user(org, Role.AGENT)
    story = await TicketStory.filed(org, customer, at=at(9), number=1, targets=HIGH).write(
        sessionmaker
    )
    (accept,) = (await stored(sessionmaker, story.id)).values()
    assert (accept.metric, accept.outcome, accept.started_at) == ("accept", "untracked", at(9))
    assert (accept.organization_id, accept.priority) == (org.id, "HIGH")

    await story.accept(at(10), assignee=agent).reply(at(10, 30)).write(sessionmaker)
    facts = await stored(sessionmaker, story.id)
    assert sorted(facts) == ["accept", "first_response", "resolution"]
    first = facts["first_response"]
    assert (first.outcome, first.met_at, first.business_seconds, first.paused_seconds) == (
        "met",
        at(10, 30),
        1800,
        0,
    )
    assert (first.assigned_to, first.target_seconds, first.due_at) == (agent.id, 3600, at(11))
    resolution = facts["resolution"]
    assert (resolution.outcome, resolution.business_seconds) == ("running", None)


async def test_a_late_batch_never_moves_the_facts_backwards(sessionmaker, world):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    story = TicketStory.filed(org, customer, at=at(9), number=1, targets=HIGH).accept(at(9))
    await story.write(sessionmaker)
    earlier = copy.deepcopy(story)
    await story.move(at(11), TicketStatus.RESOLVED).write(sessionmaker)
    await earlier.write(sessionmaker)  # a retried write of the previous version
    resolution = (await stored(sessionmaker, story.id))["resolution"]
    assert (resolution.outcome, resolution.business_seconds) == ("met", 2 * 3600)


async def test_facts_go_with_their_ticket(sessionmaker, world):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    story = TicketStory.filed(org, customer, at=at(9), number=1, targets=HIGH).accept(at(9))
    await story.write(sessionmaker)
    async with sessionmaker() as session:
        await session.execute(delete(Ticket).where(Ticket.id == story.id))
        await session.commit()
    assert await stored(sessionmaker, story.id) == {}


# --- migration 0005 -----------------------------------------------------------------------

_ORGS = sa.table(
    "organizations",
    *(sa.column(c) for c in ("name", "auto_close_days", "next_ticket_number")),
    sa.column("id", sa.Uuid()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
_USERS = sa.table(
    "users",
    *(
        sa.column(c)
        for c in ("email", "full_name", "role", "password_hash", "is_active", "failed_login_count")
    ),
    *(sa.column(c, sa.Uuid()) for c in ("id", "organization_id")),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
_TIME_COLUMNS = (
    "created_at",
    "updated_at",
    "accepted_at",
    "resolved_at",
    "closed_at",
    "first_responded_at",
    "sla_started_at",
    "sla_accept_due_at",
    "sla_first_response_due_at",
    "sla_due_at",
    "sla_paused_at",
    "accept_breached_at",
    "first_response_breached_at",
    "sla_breached_at",
)
_TICKETS = sa.table(
    "tickets",
    *(
        sa.column(c)
        for c in (
            "number",
            "subject",
            "description",
            "priority",
            "status",
            "sla_paused_duration",
            "version",
        )
    ),
    *(sa.column(c, sa.Uuid()) for c in ("id", "organization_id", "requester_id")),
    *(sa.column(c, UTCDateTime()) for c in _TIME_COLUMNS),
)


def _ticket(number: int, status: str, **times: datetime) -> dict:
    return {
        "id": uuid.uuid4(),
        "number": number,
        "subject": f"Ticket {number}",
        "description": "",
        "priority": "HIGH",
        "status": status,
        "sla_paused_duration": 0,
        "version": 3,
        "created_at": at(8),
        "updated_at": at(8),
        **{
            column: times.get(column)
            for column in _TIME_COLUMNS
            if column not in ("created_at", "updated_at")
        },
    }


async def test_migration_0005_copies_the_facts_older_tickets_know(tmp_path):
    org_id, user_id = uuid.uuid4(), uuid.uuid4()
    waiting_new = _ticket(1, "NEW", sla_accept_due_at=at(9))
    breached = _ticket(
        2,
        "RESOLVED",
        accepted_at=at(9),
        sla_started_at=at(9),
        sla_first_response_due_at=at(10),
        first_responded_at=at(9, 30),
        sla_due_at=at(17),
        sla_breached_at=at(17),
        resolved_at=at(18),
    )
    paused = _ticket(
        3, "WAITING_CUSTOMER", accepted_at=at(9), sla_started_at=at(9), sla_paused_at=at(9, 5)
    )
    rejected = _ticket(4, "CLOSED", closed_at=at(9))
    async with scratch_database(tmp_path) as url:
        await upgrade_async(url, "0003")
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                now = {"created_at": at(8), "updated_at": at(8)}
                await connection.execute(
                    _ORGS.insert().values(
                        id=org_id, name="Old", auto_close_days=7, next_ticket_number=5, **now
                    )
                )
                await connection.execute(
                    _USERS.insert().values(
                        id=user_id,
                        organization_id=org_id,
                        email="old@example.com",
                        full_name="",
                        role="CUSTOMER",
                        password_hash="!",
                        is_active=True,
                        failed_login_count=0,
                        **now,
                    )
                )
                for ticket in (waiting_new, breached, paused, rejected):
                    await connection.execute(
                        _TICKETS.insert().values(
                            organization_id=org_id, requester_id=user_id, **ticket
                        )
                    )
            await upgrade_async(url)
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(
                        sa.table(
                            "sla_facts",
                            sa.column("ticket_id", sa.Uuid()),
                            sa.column("metric"),
                            sa.column("outcome"),
                            sa.column("started_at", UTCDateTime()),
                            sa.column("met_at", UTCDateTime()),
                            sa.column("business_seconds"),
                        )
                    )
                )
                facts = {(row.ticket_id, row.metric): row for row in rows}
                zone = await connection.scalar(
                    sa.text("SELECT reporting_timezone FROM organizations")
                )
        finally:
            await engine.dispose()
    outcomes = {key: row.outcome for key, row in facts.items()}
    assert outcomes == {
        (waiting_new["id"], "accept"): "running",
        (breached["id"], "accept"): "untracked",
        (breached["id"], "first_response"): "met",
        (breached["id"], "resolution"): "breached",
        (paused["id"], "accept"): "untracked",
        (paused["id"], "first_response"): "paused",
        (paused["id"], "resolution"): "paused",
        (rejected["id"], "accept"): "untracked",
    }
    late = facts[(breached["id"], "resolution")]
    assert (late.started_at, late.met_at, late.business_seconds) == (at(9), at(18), None)
    assert facts[(waiting_new["id"], "accept")].started_at == at(8)
    assert zone == "UTC"
