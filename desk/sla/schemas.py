"""Request and response bodies of the SLA admin API (pydantic only: no SQLAlchemy here).

Calendars are validated by the SLA clock's own parsers (desk.sla.clock), so whatever the API
accepts, the workflow's clock can compute with.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from desk.enums import Priority
from desk.sla.clock import (
    DAY_SECONDS,
    WEEKDAYS,
    format_time_of_day,
    parse_time_of_day,
)
from desk.validation import NO_NUL, NOT_BLANK, Flag, IsoDate, TimeZone, number, omitted, whole

MAX_INTERVALS_PER_DAY = 12
# Fewer than the weeks the clock searches ahead (desk.sla.clock.MAX_SEARCH_DAYS), so holidays
# can never close every business day within its reach.
MAX_HOLIDAYS = 500
# A year of wall-clock minutes: generous for any target, and far below a 32-bit column.
MAX_TARGET_MINUTES = 366 * 24 * 60

WeeklyHours = dict[str, list[list[str]]]


TimeOfDay = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["09:00"])]
EndOfDay = Annotated[
    str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", examples=["17:00"])
]
OpeningHours = Annotated[
    list[tuple[TimeOfDay, EndOfDay]],
    Field(
        min_length=1,
        max_length=MAX_INTERVALS_PER_DAY,
        description="[start, end] intervals; an end at or before its start runs on past "
        "midnight (equal: a full 24 hours); overlapping intervals are joined",
    ),
]


class OpeningWeek(BaseModel):
    """Opening hours per weekday; a day left out is closed, and at least one is open."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    mon: OpeningHours = omitted()
    tue: OpeningHours = omitted()
    wed: OpeningHours = omitted()
    thu: OpeningHours = omitted()
    fri: OpeningHours = omitted()
    sat: OpeningHours = omitted()
    sun: OpeningHours = omitted()

    @model_validator(mode="after")
    def _some_day_open(self) -> OpeningWeek:
        if not self.model_fields_set:
            raise ValueError("at least one weekday needs opening hours")
        return self

    def normalized(self) -> WeeklyHours:
        """The stored shape the SLA clock reads: per day, sorted intervals within the day
        that neither overlap nor wrap past midnight."""
        days: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
        for index, day in enumerate(WEEKDAYS):
            for start_text, end_text in getattr(self, day) or ():
                start = parse_time_of_day(start_text)
                end = parse_time_of_day(end_text, end_of_day=True)
                if end > start:
                    days[index].append((start, end))
                    continue
                days[index].append((start, DAY_SECONDS))  # on past midnight
                if end > 0:
                    days[(index + 1) % 7].append((0, end))
        return {
            day: [[format_time_of_day(a), format_time_of_day(b)] for a, b in _joined(intervals)]
            for day, intervals in zip(WEEKDAYS, days, strict=True)
            if intervals
        }


def _joined(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping intervals joined into one; touching ones stay apart."""
    joined: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if joined and start < joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def normalize_holidays(value: list[date]) -> list[date]:
    """Holidays sorted, without repeats."""
    return sorted(set(value))


WeeklyHoursField = Annotated[
    OpeningWeek,
    Field(
        examples=[{d: [["09:00", "12:00"], ["13:00", "17:00"]] for d in WEEKDAYS[:5]}],
    ),
]
Holidays = Annotated[
    list[IsoDate],
    Field(max_length=MAX_HOLIDAYS, description="ISO dates on which the calendar is closed"),
    AfterValidator(normalize_holidays),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NOT_BLANK)
]
Minutes = number(gt=0, le=MAX_TARGET_MINUTES, description="minutes; fractions allowed (0.5 = 30 s)")
WarnPercent = whole(ge=1, le=99, description="warn at this % of a target")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Patch(_Strict):
    """A partial update: fields left out are unchanged; ``null`` only where a field is
    nullable."""

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


# --- Calendars ------------------------------------------------------------------------


class CalendarCreate(_Strict):
    name: Name
    timezone: TimeZone = Field(description="IANA time zone, e.g. Europe/Berlin")
    weekly_hours: WeeklyHoursField
    holidays: Holidays = []


class CalendarUpdate(_Patch):
    name: Name = omitted()
    timezone: TimeZone = omitted()
    weekly_hours: WeeklyHoursField = omitted()
    holidays: Holidays = omitted()


class CalendarOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    timezone: str
    weekly_hours: WeeklyHours
    holidays: list[date]
    created_at: datetime
    updated_at: datetime


# --- SLA policies ---------------------------------------------------------------------


PolicyName = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=200, pattern=NO_NUL)
]


class SlaPolicyCreate(_Strict):
    name: PolicyName = ""
    priority: Priority
    service_id: uuid.UUID | None = Field(
        None, description="a service of the organization; none: any service (fallback)"
    )
    accept_minutes: Minutes | None = Field(
        None, description="how long a ticket may wait in NEW; none: not measured"
    )
    first_response_minutes: Minutes
    resolution_minutes: Minutes
    warn_at_percent: WarnPercent = 80
    calendar_id: uuid.UUID | None = Field(
        None, description="business calendar of the organization; none: 24x7"
    )
    is_active: Flag = True


class SlaPolicyUpdate(_Patch):
    name: PolicyName = omitted()
    priority: Priority = omitted()
    service_id: uuid.UUID | None = None
    accept_minutes: Minutes | None = None
    first_response_minutes: Minutes = omitted()
    resolution_minutes: Minutes = omitted()
    warn_at_percent: WarnPercent = omitted()
    calendar_id: uuid.UUID | None = None
    is_active: Flag = omitted()


class SlaPolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    priority: Priority
    service_id: uuid.UUID | None
    accept_minutes: float | None
    first_response_minutes: float
    resolution_minutes: float
    warn_at_percent: int
    calendar_id: uuid.UUID | None
    is_active: bool
    created_at: datetime
    updated_at: datetime
