"""Business-time arithmetic: pure, deterministic, DST-correct.

No I/O at call time beyond zoneinfo's own (cached) zone loading, no clock reads, no randomness:
the ticket workflow imports this module.

Semantics
---------
- A :class:`BusinessCalendar` has an IANA zone, weekly hours (per local weekday, Monday first,
  a sorted tuple of non-overlapping ``(start, end)`` local times in seconds since local
  midnight; ``end`` may be 86400, i.e. 24:00, the end of the day) and holidays (local dates,
  closed all day). ``None`` (alias :data:`ALWAYS`) is the 24x7 calendar: business time is
  wall-clock time.
- Local wall times become instants with ``fold=0`` (a repeated time means its first
  occurrence); a non-existent time (inside a spring-forward gap) moves forward to the first
  instant after the gap. An interval therefore lasts the real time elapsed between its two
  resolved ends: 00:00-24:00 lasts 23 h on a spring-forward day and 25 h on a fall-back day;
  in Europe/Berlin, 01:00-04:00 lasts 2 h on 2026-03-29 and 4 h on 2026-10-25. Adjacent
  intervals (12:00-13:00 and 13:00-17:00, or 24:00 and the next day's 00:00) stay adjacent.
- Business time is the union of the resolved intervals, each half-open ``[start, end)``.
- ``add_business_time(cal, start, 0)`` is ``start`` when ``start`` is business time, else the
  next opening. For ``n > 0`` it is the earliest instant ``t`` with
  ``business_time_between(cal, start, t) == n``; ``t`` lies in ``(start_i, end_i]`` of some
  interval (it may be exactly an interval's end, never outside business hours).
- ``business_time_between(cal, a, b)`` is zero when ``b <= a``.
- Instants are aware datetimes (any zone) in, aware UTC out; naive datetimes are refused.
  Time is exact to the microsecond (``timedelta`` arithmetic); the ``*_seconds`` helpers
  convert at the edges.
- Cost is one step per local day spanned (resolved day intervals are cached), never per minute.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SECONDS: Final = 24 * 60 * 60
ALWAYS: Final = None
"""The 24x7 calendar: pass it (or ``None``) wherever a calendar is expected."""

# A calendar with hours but no business instant this long (e.g. an absurd run of holidays)
# is refused instead of being searched forever.
MAX_SEARCH_DAYS: Final = 3660

Interval = tuple[int, int]
WeeklyHours = tuple[tuple[Interval, ...], ...]
Span = tuple[datetime, datetime]

_TIME_RE = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2}))?$")


class InvalidCalendar(ValueError):
    """A calendar definition that cannot be used; the message says what is wrong."""


# --- validation and parsing -------------------------------------------------------------------


def load_zone(name: object) -> ZoneInfo:
    """The zone for an IANA name, or :class:`InvalidCalendar`."""
    # "localtime" resolves to whatever the host is set to: not a portable calendar zone.
    if not isinstance(name, str) or not name or name == "localtime":
        raise InvalidCalendar(_bad_zone(name))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidCalendar(_bad_zone(name)) from exc


def _bad_zone(name: object) -> str:
    return f"unknown time zone {name!r} (expected an IANA name such as 'Europe/Berlin')"


def parse_time_of_day(text: object, *, end_of_day: bool = False) -> int:
    """Seconds since local midnight for ``"HH:MM"`` (or ``"HH:MM:SS"``).

    ``"24:00"`` (the end of the day) is accepted only when ``end_of_day`` is true.
    """
    match = _TIME_RE.match(text) if isinstance(text, str) else None
    if match is not None:
        hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        total = hours * 3600 + minutes * 60 + seconds
        if minutes < 60 and seconds < 60 and (hours < 24 or (end_of_day and total == DAY_SECONDS)):
            return total
    allowed = "00:00 to 24:00" if end_of_day else "00:00 to 23:59"
    raise InvalidCalendar(f"{text!r} is not a valid time of day (expected HH:MM, {allowed})")


def format_time_of_day(seconds: int) -> str:
    """``"HH:MM"`` (``"HH:MM:SS"`` when seconds are set) for seconds since local midnight."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def parse_weekly_hours(spec: object) -> WeeklyHours:
    """Weekly hours from the stored JSON shape ``{"mon": [["09:00", "17:00"]], ...}``.

    A missing or empty weekday is closed. Raises :class:`InvalidCalendar` for unknown
    weekdays, malformed intervals or times, empty or reversed intervals and overlaps.
    """
    if not isinstance(spec, Mapping):
        raise InvalidCalendar(
            "weekly hours must map weekdays (mon..sun) to lists of [start, end] intervals"
        )
    days: list[list[Interval]] = [[] for _ in WEEKDAYS]
    for key, intervals in spec.items():
        if key not in WEEKDAYS:
            raise InvalidCalendar(
                f"unknown weekday {key!r} (expected one of {', '.join(WEEKDAYS)})"
            )
        if isinstance(intervals, str | bytes) or not isinstance(intervals, Sequence):
            raise InvalidCalendar(f"{key}: expected a list of [start, end] intervals")
        for position, interval in enumerate(intervals, start=1):
            if (
                isinstance(interval, str | bytes)
                or not isinstance(interval, Sequence)
                or len(interval) != 2
            ):
                raise InvalidCalendar(
                    f"{key}: interval {position} must be a [start, end] pair of 'HH:MM' times"
                )
            start = parse_time_of_day(interval[0])
            end = parse_time_of_day(interval[1], end_of_day=True)
            days[WEEKDAYS.index(key)].append((start, end))
    return validate_weekly_hours(days)


def validate_weekly_hours(days: Sequence[Iterable[Sequence[int]]]) -> WeeklyHours:
    """Normalized weekly hours (7 days, each sorted) or :class:`InvalidCalendar`."""
    if len(days) != len(WEEKDAYS):
        raise InvalidCalendar("weekly hours need exactly 7 days, Monday first")
    normalized: list[tuple[Interval, ...]] = []
    for name, intervals in zip(WEEKDAYS, days, strict=True):
        ordered = sorted((int(start), int(end)) for start, end in intervals)
        for start, end in ordered:
            label = f"{format_time_of_day(start)}-{format_time_of_day(end)}"
            if not 0 <= start < DAY_SECONDS or not 0 < end <= DAY_SECONDS:
                raise InvalidCalendar(f"{name}: interval {label} is outside the day")
            if end <= start:
                raise InvalidCalendar(f"{name}: interval {label} ends before it starts")
        for (s1, e1), (s2, e2) in itertools.pairwise(ordered):
            if s2 < e1:
                raise InvalidCalendar(
                    f"{name}: intervals {format_time_of_day(s1)}-{format_time_of_day(e1)} and "
                    f"{format_time_of_day(s2)}-{format_time_of_day(e2)} overlap"
                )
        normalized.append(tuple(ordered))
    if not any(normalized):
        raise InvalidCalendar("the calendar has no business hours (every weekday is closed)")
    return tuple(normalized)


def parse_holidays(items: object) -> frozenset[date]:
    """Holiday dates from ISO strings (``"2026-12-25"``) or dates."""
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise InvalidCalendar("holidays must be a list of dates (YYYY-MM-DD)")
    holidays = set()
    for item in items:
        if isinstance(item, date) and not isinstance(item, datetime):
            holidays.add(item)
            continue
        try:
            holidays.add(date.fromisoformat(item))
        except (TypeError, ValueError) as exc:
            raise InvalidCalendar(f"{item!r} is not a valid holiday date (YYYY-MM-DD)") from exc
    return frozenset(holidays)


# --- the calendar -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly business hours in one time zone, minus holidays (see the module docstring).

    Construction validates everything and raises :class:`InvalidCalendar` (a ``ValueError``).
    """

    timezone: str
    weekly_hours: WeeklyHours
    holidays: frozenset[date] = frozenset()
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", load_zone(self.timezone))
        object.__setattr__(self, "weekly_hours", validate_weekly_hours(self.weekly_hours))
        object.__setattr__(self, "holidays", parse_holidays(self.holidays))

    @classmethod
    def from_spec(
        cls, timezone: object, weekly_hours: object, holidays: object = ()
    ) -> BusinessCalendar:
        """Build from the stored JSON shape (zone name, ``{"mon": [["09:00", "17:00"]]}``,
        ``["2026-12-25"]``); raises :class:`InvalidCalendar` with a clear message."""
        return cls(
            timezone=load_zone(timezone).key,
            weekly_hours=parse_weekly_hours(weekly_hours),
            holidays=parse_holidays(holidays),
        )

    def to_spec(self) -> dict[str, Any]:
        """The stored JSON shape of this calendar (inverse of :meth:`from_spec`)."""
        return {
            "timezone": self.timezone,
            "weekly_hours": {
                name: [[format_time_of_day(s), format_time_of_day(e)] for s, e in intervals]
                for name, intervals in zip(WEEKDAYS, self.weekly_hours, strict=True)
                if intervals
            },
            "holidays": sorted(day.isoformat() for day in self.holidays),
        }


_CALENDAR_CACHE: dict[str, BusinessCalendar] = {}
_CALENDAR_CACHE_SIZE = 256


def cached_calendar(
    timezone: object, weekly_hours: object, holidays: object = ()
) -> BusinessCalendar:
    """:meth:`BusinessCalendar.from_spec`, memoized on the spec's content.

    Workflows rebuild their calendar from a plain spec after every replay or continue-as-new;
    this keeps that cheap (and shares the per-day interval cache between tickets).
    """
    try:
        key = json.dumps([timezone, weekly_hours, sorted(map(str, holidays))], sort_keys=True)
    except (TypeError, ValueError):
        return BusinessCalendar.from_spec(timezone, weekly_hours, holidays)
    calendar = _CALENDAR_CACHE.get(key)
    if calendar is None:
        calendar = BusinessCalendar.from_spec(timezone, weekly_hours, holidays)
        if len(_CALENDAR_CACHE) >= _CALENDAR_CACHE_SIZE:
            _CALENDAR_CACHE.clear()
        _CALENDAR_CACHE[key] = calendar
    return calendar


# --- local wall time to instants --------------------------------------------------------------


def _resolve(zone: ZoneInfo, day: date, seconds: int) -> datetime:
    """The UTC instant of a local wall time: fold=0, gap times moved to the end of the gap."""
    local = datetime.combine(day, time()) + timedelta(seconds=seconds)
    instant = local.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local:
        return instant
    return _gap_end(zone, local)


def _gap_end(zone: ZoneInfo, local: datetime) -> datetime:
    """The transition instant closing the spring-forward gap that contains ``local``."""
    # fold=0 reads the gap time with the offset before the transition, fold=1 with the one
    # after: the transition lies between the two readings. Bisect on whole seconds (tzdata
    # transitions are whole seconds).
    readings = sorted(int(local.replace(tzinfo=zone, fold=fold).timestamp()) for fold in (0, 1))
    low, high = readings
    after = datetime.fromtimestamp(high, zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


@functools.lru_cache(maxsize=8192)
def business_intervals(calendar: BusinessCalendar, day: date) -> tuple[Span, ...]:
    """The business intervals of one local date as ``(start, end)`` UTC instants, in order.

    Empty on holidays and closed days; an interval lying wholly in a DST gap is dropped.
    """
    if day in calendar.holidays:
        return ()
    spans = []
    for start, end in calendar.weekly_hours[day.weekday()]:
        opens = _resolve(calendar.zone, day, start)
        closes = _resolve(calendar.zone, day, end)
        if closes > opens:
            spans.append((opens, closes))
    return tuple(spans)


def _spans_from(calendar: BusinessCalendar, start: datetime) -> Iterator[Span]:
    """Business spans ending after ``start``, clipped to begin no earlier than it, in order."""
    day = start.astimezone(calendar.zone).date()
    idle_days = 0
    while True:
        found = False
        for opens, closes in business_intervals(calendar, day):
            if closes > start:
                found = True
                yield max(opens, start), closes
        idle_days = 0 if found else idle_days + 1
        if idle_days > MAX_SEARCH_DAYS:
            raise InvalidCalendar(
                f"the calendar has no business time in the {MAX_SEARCH_DAYS} days after {day}"
            )
        day += timedelta(days=1)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant.isoformat()}: an aware instant is required")
    return instant.astimezone(UTC)


# --- arithmetic -------------------------------------------------------------------------------


def add_business_time(
    calendar: BusinessCalendar | None, start: datetime, amount: timedelta
) -> datetime:
    """The instant ``amount`` of business time after ``start`` (see the module docstring)."""
    start = _utc(start)
    if amount < timedelta(0):
        raise ValueError(f"cannot add a negative business time ({amount})")
    if calendar is None:
        return start + amount
    remaining = amount
    for opens, closes in _spans_from(calendar, start):
        if remaining <= closes - opens:
            return opens + remaining
        remaining -= closes - opens
    raise AssertionError("unreachable: _spans_from never ends")  # pragma: no cover


def business_time_between(
    calendar: BusinessCalendar | None, start: datetime, end: datetime
) -> timedelta:
    """The business time in ``[start, end)``; zero when ``end <= start``."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return timedelta(0)
    if calendar is None:
        return end - start
    total = timedelta(0)
    for opens, closes in _spans_from(calendar, start):
        if opens >= end:
            break
        total += min(closes, end) - opens
    return total


def add_business_seconds(
    calendar: BusinessCalendar | None, start: datetime, seconds: float
) -> datetime:
    """:func:`add_business_time` with an amount in seconds (microsecond precision)."""
    return add_business_time(calendar, start, timedelta(seconds=seconds))


def add_business_minutes(
    calendar: BusinessCalendar | None, start: datetime, minutes: float
) -> datetime:
    """:func:`add_business_time` with an amount in minutes (how policies state targets)."""
    return add_business_time(calendar, start, timedelta(minutes=minutes))


def business_seconds_between(
    calendar: BusinessCalendar | None, start: datetime, end: datetime
) -> float:
    """:func:`business_time_between` in seconds (a float: instants carry microseconds)."""
    return business_time_between(calendar, start, end).total_seconds()


def is_business_time(calendar: BusinessCalendar | None, instant: datetime) -> bool:
    """Whether ``instant`` lies inside a business interval (start inclusive, end exclusive)."""
    instant = _utc(instant)
    return add_business_time(calendar, instant, timedelta(0)) == instant


def next_business_instant(calendar: BusinessCalendar | None, instant: datetime) -> datetime:
    """``instant`` itself when it is business time, else the next opening."""
    return add_business_time(calendar, instant, timedelta(0))
