"""The known-answer data set of the SLA reports: a hand-built desk whose figures are worked
out by hand (met, breached, met late, paused, reopened, priority changed, a business calendar
across a weekend), another tenant's ticket in the same days, and the tenants' people. The
tickets' lives are told to the real SLA tracker and written by the real projection (no
Temporal). Used by the API's tests (tests/test_reports_api.py, which state the answers) and
the portal's Reports page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import update

from desk.admin.models import Service
from desk.auth.models import User
from desk.enums import Priority, Role
from desk.enums import TicketStatus as S
from desk.sla.contracts import CalendarSpec, SlaTargets
from tests.support.stories import TicketStory
from tests.support.tickets import Party, make_party
from tests.support.world import World

HIGH = SlaTargets.from_minutes(None, first_response_minutes=60, resolution_minutes=8 * 60)
URGENT = SlaTargets.from_minutes(None, first_response_minutes=15, resolution_minutes=4 * 60)
MEDIUM_OFFICE = SlaTargets.from_minutes(
    None,
    first_response_minutes=4 * 60,
    resolution_minutes=24 * 60,
    calendar=CalendarSpec(
        "UTC", {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    ),
)
LOW = SlaTargets.from_minutes(
    None, first_response_minutes=8 * 60, resolution_minutes=40 * 60, accept_minutes=30
)
NOW = datetime(2026, 6, 12, 12, tzinfo=UTC)  # Friday noon: the timers due by then have fired


def june(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-06-01 is a Monday."""
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


@dataclass
class Desk:
    org: object
    manager: Party
    admin: Party
    agent: Party
    agent2: Party
    customer: Party
    service: Service
    tickets: dict[int, TicketStory]


async def tenant(sessionmaker, settings, world, name: str) -> tuple:
    org = await world.org(name)
    roles = (Role.MANAGER, Role.ADMIN, Role.AGENT, Role.AGENT, Role.CUSTOMER)
    parties = [await make_party(sessionmaker, settings, org, role) for role in roles]
    async with sessionmaker() as session:  # distinct names: "Agent 3", "Agent 4"
        for number, party in enumerate(parties, start=1):
            party.user.full_name = f"{party.user.role.title()} {number}"
            await session.execute(
                update(User).where(User.id == party.user.id).values(full_name=party.user.full_name)
            )
        await session.commit()
    return org, parties


async def build_desk(sessionmaker, settings) -> Desk:
    """The "Reports" organization of the known answers, written to the database."""
    world = World(sessionmaker)
    org, (manager, admin, agent, agent2, customer) = await tenant(
        sessionmaker, settings, world, "Reports"
    )
    async with sessionmaker() as session:
        service = Service(organization_id=org.id, name="Printing")
        session.add(service)
        await session.commit()
    requester = customer.user

    def filed(number: int, at: datetime, targets: SlaTargets, priority=Priority.HIGH, **kw):
        return TicketStory.filed(
            org, requester, at=at, number=number, targets=targets, priority=priority, **kw
        )

    a1, a2 = agent.user, agent2.user
    tickets = {
        # Met: first response 30 min, resolution 4 h.
        1: filed(1, june(1, 9), HIGH, service_id=service.id)
        .accept(june(1, 9), assignee=a1)
        .reply(june(1, 9, 30))
        .move(june(1, 13), S.RESOLVED),
        # Resolution breached at 18:00 and still open.
        2: filed(2, june(1, 10), HIGH).accept(june(1, 10), assignee=a1).reply(june(1, 10, 20)),
        # Both met late: first response at 2 h (1 h late), resolution at 10 h (2 h late).
        3: filed(3, june(2, 9), HIGH)
        .accept(june(2, 9), assignee=a2)
        .reply(june(2, 11))
        .move(june(2, 19), S.RESOLVED),
        # Paused 3 h: resolved at 6 h wall clock, 3 h business time.
        4: filed(4, june(3, 9), HIGH)
        .accept(june(3, 9))
        .reply(june(3, 9, 10))
        .move(june(3, 10), S.WAITING_CUSTOMER)
        .move(june(3, 13), S.IN_PROGRESS)
        .move(june(3, 15), S.RESOLVED),
        # Reopened: 1 h, 2 h resolved (not counted), 1 h more: met at 2 h.
        5: filed(5, june(4, 9), URGENT, Priority.URGENT)
        .accept(june(4, 9))
        .reply(june(4, 9, 5))
        .move(june(4, 10), S.RESOLVED)
        .move(june(4, 12), S.IN_PROGRESS)
        .move(june(4, 13), S.RESOLVED),
        # HIGH to URGENT at 3 h: the 4 h target breaches at 13:00, resolved at 5 h.
        6: filed(6, june(5, 9), HIGH)
        .accept(june(5, 9))
        .reply(june(5, 9, 30))
        .reprioritize(june(5, 12), Priority.URGENT, URGENT)
        .move(june(5, 14), S.RESOLVED),
        # Office hours across the weekend: Fri 15-17, Mon 9-10 = 3 h; Tue 12:00 = 13 h.
        7: filed(7, june(5, 15), MEDIUM_OFFICE, Priority.MEDIUM, service_id=service.id)
        .accept(june(5, 15))
        .reply(june(8, 10))
        .move(june(9, 12), S.RESOLVED),
        # Not accepted yet: its acceptance clock runs (due 12:20).
        8: filed(8, june(12, 11, 50), LOW, Priority.LOW),
        # Accepted 30 min late, then first response 30 min, resolution 1 h.
        9: filed(9, june(9, 9), LOW, Priority.LOW)
        .accept(june(9, 10))
        .reply(june(9, 10, 30))
        .move(june(9, 11), S.RESOLVED),
        # Waiting on the customer now.
        10: filed(10, june(10, 9), HIGH)
        .accept(june(10, 9))
        .reply(june(10, 9, 10))
        .move(june(10, 10), S.WAITING_CUSTOMER),
        # Resolved without a public reply (first response stopped), then closed.
        11: filed(11, june(11, 9), HIGH)
        .accept(june(11, 9))
        .move(june(11, 9, 50), S.RESOLVED)
        .move(june(11, 11), S.CLOSED),
        # Accepted in time (10 min), resolved without a reply.
        12: filed(12, june(3, 9), LOW, Priority.LOW)
        .accept(june(3, 9, 10))
        .move(june(3, 9, 40), S.RESOLVED),
        # Before the period.
        13: filed(13, datetime(2026, 5, 29, 9, tzinfo=UTC), HIGH).accept(
            datetime(2026, 5, 29, 9, tzinfo=UTC)
        ),
    }
    for story in tickets.values():
        await story.timers(NOW).write(sessionmaker)
    # Another tenant's ticket in the same days never shows.
    other, (_m, _a, _ag, _ag2, other_customer) = await tenant(
        sessionmaker, settings, world, "Elsewhere"
    )
    await (
        TicketStory.filed(other, other_customer.user, at=june(2, 9), number=1, targets=HIGH)
        .accept(june(2, 9))
        .timers(NOW)
        .write(sessionmaker)
    )
    return Desk(org, manager, admin, agent, agent2, customer, service, tickets)
