"""The SLA policies every organization starts with, so no accepted ticket lacks an SLA."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from desk.auth.models import Organization
from desk.enums import Priority
from desk.sla.models import BusinessCalendar, SlaPolicy

BUSINESS_DAY_MINUTES = 8 * 60
DEFAULT_CALENDAR_NAME = "Business hours (Mon-Fri 09:00-17:00)"
DEFAULT_WEEKLY_HOURS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


@dataclass(frozen=True)
class DefaultTargets:
    priority: Priority
    first_response_minutes: int
    resolution_minutes: int
    business_hours: bool  # False: 24x7


DEFAULT_TARGETS = (
    DefaultTargets(Priority.URGENT, 15, 4 * 60, business_hours=False),
    DefaultTargets(Priority.HIGH, 60, 8 * 60, business_hours=False),
    DefaultTargets(Priority.MEDIUM, 4 * 60, 3 * BUSINESS_DAY_MINUTES, business_hours=True),
    DefaultTargets(
        Priority.LOW, BUSINESS_DAY_MINUTES, 10 * BUSINESS_DAY_MINUTES, business_hours=True
    ),
)


async def create_default_policies(
    session: AsyncSession, org: Organization, *, timezone: str = "UTC"
) -> list[SlaPolicy]:
    """Add the default calendar and one policy per priority (flushes, does not commit)."""
    calendar = BusinessCalendar(
        organization_id=org.id,
        name=DEFAULT_CALENDAR_NAME,
        timezone=timezone,
        weekly_hours=DEFAULT_WEEKLY_HOURS,
        holidays=[],
    )
    session.add(calendar)
    await session.flush()
    policies = [
        SlaPolicy(
            organization_id=org.id,
            name=f"Default {t.priority.value}",
            priority=t.priority.value,
            first_response_minutes=t.first_response_minutes,
            resolution_minutes=t.resolution_minutes,
            warn_at_percent=80,
            calendar_id=calendar.id if t.business_hours else None,
        )
        for t in DEFAULT_TARGETS
    ]
    session.add_all(policies)
    await session.flush()
    return policies
