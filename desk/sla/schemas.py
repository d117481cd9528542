"""Request and response bodies of the SLA admin API (pydantic only: no SQLAlchemy here).

Calendars are validated by the SLA clock's own parsers (desk.sla.clock), so whatever the API
accepts, the workflow's clock can compute with.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from desk.enums import Priority
from desk.sla.clock import WEEKDAYS, format_time_of_day, load_zone, parse_weekly_hours

MAX_INTERVALS_PER_DAY = 12
MAX_HOLIDAYS = 2000
# A year of wall-clock minutes: generous for any target, and far below a 32-bit column.
MAX_TARGET_MINUTES = 366 * 24 * 60

WeeklyHours = dict[str, list[list[str]]]


def validate_timezone(name: str) -> str:
    """The IANA zone's canonical key; ValueError (InvalidCalendar) if unknown."""
    return load_zone(name).key


def validate_weekly_hours(value: Any) -> WeeklyHours:
    """Weekly opening hours as the SLA clock reads them, normalized (days Monday first,
    intervals sorted); ValueError (InvalidCalendar) if invalid.

    Shape: ``{"mon": [["09:00", "12:00"], ["13:00", "17:00"]], ...}``. A missing or empty day
    is closed; intervals of a day may touch but not overlap; "24:00" may end a day; at least
    one interval in the week (a calendar never open would never reach a deadline).
    """
    if isinstance(value, dict):
        for day, intervals in value.items():
            if isinstance(intervals, list) and len(intervals) > MAX_INTERVALS_PER_DAY:
                raise ValueError(f"{day}: at most {MAX_INTERVALS_PER_DAY} intervals a day")
    days = parse_weekly_hours(value)
    return {
        day: [[format_time_of_day(start), format_time_of_day(end)] for start, end in intervals]
        for day, intervals in zip(WEEKDAYS, days, strict=True)
        if intervals
    }


def normalize_holidays(value: list[date]) -> list[date]:
    """Holidays sorted, without repeats."""
    return sorted(set(value))


TimeZoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(validate_timezone),
]
WeeklyHoursField = Annotated[
    dict[str, Any],
    AfterValidator(validate_weekly_hours),
    Field(
        description='Opening hours per weekday (mon..sun), e.g. {"mon": [["09:00", "12:00"], '
        '["13:00", "17:00"]]}; a missing day is closed; intervals must not overlap.',
        examples=[{d: [["09:00", "12:00"], ["13:00", "17:00"]] for d in WEEKDAYS[:5]}],
    ),
]
Holidays = Annotated[
    list[date],
    Field(max_length=MAX_HOLIDAYS, description="ISO dates on which the calendar is closed"),
    AfterValidator(normalize_holidays),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Minutes = Annotated[
    float,
    Field(gt=0, le=MAX_TARGET_MINUTES, description="minutes; fractions allowed (0.5 = 30 s)"),
]
WarnPercent = Annotated[int, Field(ge=1, le=99, description="warn at this % of a target")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Patch(_Strict):
    """A partial update: fields left out are unchanged; ``null`` only where a field is
    nullable (listed in ``NULLABLE``)."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> _Patch:
        for name in self.model_fields_set - self.NULLABLE:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


# --- Calendars ------------------------------------------------------------------------


class CalendarCreate(_Strict):
    name: Name
    timezone: TimeZoneName = Field(description="IANA time zone, e.g. Europe/Berlin")
    weekly_hours: WeeklyHoursField
    holidays: Holidays = []


class CalendarUpdate(_Patch):
    name: Name | None = None
    timezone: TimeZoneName | None = None
    weekly_hours: WeeklyHoursField | None = None
    holidays: Holidays | None = None


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


class SlaPolicyCreate(_Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
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
    is_active: bool = True


class SlaPolicyUpdate(_Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"service_id", "accept_minutes", "calendar_id"})

    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    priority: Priority | None = None
    service_id: uuid.UUID | None = None
    accept_minutes: Minutes | None = None
    first_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None
    warn_at_percent: WarnPercent | None = None
    calendar_id: uuid.UUID | None = None
    is_active: bool | None = None


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
