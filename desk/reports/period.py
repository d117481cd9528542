"""A report's period: whole days in the organization's reporting time zone, as UTC instants,
and the ISO weeks (Monday first) that cut it. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from desk.errors import Unprocessable

MAX_DAYS = 366


@dataclass(frozen=True)
class Bucket:
    """A slice of the period: facts whose clock started in ``[start, end)``."""

    key: str
    label: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Period:
    """``first_day`` to ``last_day`` inclusive, local days of ``zone``."""

    first_day: date
    last_day: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.zone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.last_day + timedelta(days=1), self.zone)

    def weeks(self) -> list[Bucket]:
        """Every ISO week the period touches, clipped to it (the first and last may be
        partial); keyed by the week's Monday, labelled ``2026-W23``."""
        monday = self.first_day - timedelta(days=self.first_day.weekday())
        buckets = []
        while monday <= self.last_day:
            following = monday + timedelta(days=7)
            year, week, _ = monday.isocalendar()
            buckets.append(
                Bucket(
                    key=monday.isoformat(),
                    label=f"{year}-W{week:02d}",
                    start=max(self.start, local_midnight(monday, self.zone)),
                    end=min(self.end, local_midnight(following, self.zone)),
                )
            )
            monday = following
        return buckets


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day, in UTC. Where a DST change skips midnight, the
    local reading of midnight with the offset before the change is that first instant."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def period(first_day: date, last_day: date, zone: ZoneInfo) -> Period:
    """The period from ``first_day`` to ``last_day`` inclusive; 422 if reversed or longer
    than :data:`MAX_DAYS` days."""
    if last_day < first_day:
        raise Unprocessable("`to` is before `from`", code="invalid_period")
    days = (last_day - first_day).days + 1
    if days > MAX_DAYS:
        raise Unprocessable(
            f"the period spans {days} days; at most {MAX_DAYS}", code="period_too_long"
        )
    return Period(first_day, last_day, zone)
