"""Business-time arithmetic: properties (hypothesis) and exact DST, holiday, weekend examples."""

from __future__ import annotations

import time as wall_clock
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desk.sla.clock import (
    ALWAYS,
    WEEKDAYS,
    BusinessCalendar,
    InvalidCalendar,
    add_business_minutes,
    add_business_seconds,
    add_business_time,
    business_intervals,
    business_seconds_between,
    business_time_between,
    cached_calendar,
    is_business_time,
    next_business_instant,
)

H = 3600
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = {day: [["09:00", "17:00"]] for day in WEEKDAYS[:5]}
SPLIT = {day: [["09:00", "12:00"], ["13:00", "17:00"]] for day in WEEKDAYS[:5]}
ALL_DAY = {day: [["00:00", "24:00"]] for day in WEEKDAYS}
NIGHT = {day: [["01:00", "04:00"]] for day in WEEKDAYS}
# DST days of 2026 (all Sundays).
DST_DAYS = {
    "Europe/Berlin": (date(2026, 3, 29), date(2026, 10, 25)),
    "America/New_York": (date(2026, 3, 8), date(2026, 11, 1)),
}

SLA = settings(max_examples=200, deadline=None)


def local(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone, fold=fold)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- strategies -------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST shifts
    "America/Santiago",  # DST changes at midnight: 24:00 and 00:00 can fall in a gap
    "Asia/Kolkata",
]
TRANSITIONS = [
    utc(2026, 3, 29, 1),
    utc(2026, 10, 25, 1),
    utc(2026, 3, 8, 7),
    utc(2026, 11, 1, 6),
    utc(2026, 4, 4, 16),
    utc(2026, 10, 3, 16),
    utc(2026, 4, 5, 3),
    utc(2026, 9, 6, 4),
]


def q(quarter_hours: int) -> int:
    return quarter_hours * 900


# Day shapes: office hours, split days, whole days, nights across midnight, odd quarter hours
# and intervals touching the hours DST moves (01:00-03:00 local in the zones above).
DAY_SHAPES = [
    (),
    ((q(36), q(68)),),
    ((q(36), q(48)), (q(52), q(68))),
    ((0, q(96)),),
    ((0, q(24)), (q(88), q(96))),
    ((q(4), q(16)),),
    ((q(8), q(10)), (q(10), q(14))),
    ((q(9), q(11)),),
    ((0, q(1)), (q(47), q(53)), (q(95), q(96))),
    ((q(23), q(61)),),
]


def pair_up(points: set[int]) -> tuple[tuple[int, int], ...]:
    """Intervals from distinct quarter-hour points (96 = 24:00): sorted pairs never overlap."""
    ordered = sorted(points)
    return tuple((q(ordered[i]), q(ordered[i + 1])) for i in range(0, len(ordered) - 1, 2))


random_days = st.sets(st.integers(0, 96), max_size=6).map(pair_up)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    days = draw(st.lists(st.sampled_from(DAY_SHAPES) | random_days, min_size=7, max_size=7))
    if not any(days):
        days[0] = DAY_SHAPES[1]
    first_holiday = draw(st.dates(date(2025, 1, 1), date(2028, 6, 30)))
    holidays = {
        first_holiday + timedelta(days=n) for n in draw(st.sets(st.integers(0, 60), max_size=8))
    }
    return BusinessCalendar(draw(st.sampled_from(ZONES)), tuple(days), frozenset(holidays))


named_calendars = st.sampled_from(
    [
        BusinessCalendar.from_spec(zone, hours, holidays)
        for zone in ("Europe/Berlin", "America/New_York")
        for hours in (OFFICE, SPLIT, ALL_DAY, NIGHT)
        for holidays in ([], ["2026-12-24", "2026-12-25", "2027-01-01"])
    ]
)
any_calendar = st.one_of(calendars(), named_calendars)
instants = st.one_of(
    st.datetimes(datetime(2025, 1, 1), datetime(2028, 6, 30), timezones=st.just(UTC)),
    st.builds(
        lambda at, shift: at + timedelta(seconds=shift),
        st.sampled_from(TRANSITIONS),
        st.integers(-3 * 86400, 3 * 86400),
    ),
)
amounts = st.one_of(
    st.timedeltas(timedelta(0), timedelta(days=10)),
    st.integers(0, 40 * H).map(lambda s: timedelta(seconds=s)),
)
# SLA spans are days or weeks, not years: a second instant within 45 days of the first.
spreads = st.timedeltas(timedelta(0), timedelta(days=45))


def landed_in_business_hours(
    calendar: BusinessCalendar, instant: datetime, *, end_ok: bool
) -> bool:
    day = instant.astimezone(calendar.zone).date()
    spans = [
        span
        for d in (day - timedelta(days=1), day, day + timedelta(days=1))
        for span in business_intervals(calendar, d)
    ]
    if end_ok:
        return any(opens < instant <= closes for opens, closes in spans)
    return any(opens <= instant < closes for opens, closes in spans)


# --- properties -------------------------------------------------------------------------------


@SLA
@given(any_calendar, instants, amounts)
def test_adding_then_measuring_round_trips(calendar, start, amount):
    end = add_business_time(calendar, start, amount)
    assert end >= start
    assert end.tzinfo is UTC
    assert business_time_between(calendar, start, end) == amount


@SLA
@given(any_calendar, instants, amounts)
def test_the_result_never_lands_outside_business_hours(calendar, start, amount):
    end = add_business_time(calendar, start, amount)
    assert landed_in_business_hours(calendar, end, end_ok=amount > timedelta(0))


@SLA
@given(any_calendar, instants, amounts, amounts)
def test_adding_is_monotonic_in_the_amount(calendar, start, first, second):
    small, large = sorted((first, second))
    assert add_business_time(calendar, start, small) <= add_business_time(calendar, start, large)
    if small < large:
        assert add_business_time(calendar, start, small) < add_business_time(calendar, start, large)


@SLA
@given(any_calendar, instants, spreads, amounts)
def test_adding_is_monotonic_in_the_start(calendar, early, spread, amount):
    late = early + spread
    assert add_business_time(calendar, early, amount) <= add_business_time(calendar, late, amount)


@SLA
@given(any_calendar, instants, spreads, spreads)
def test_measuring_is_additive_and_bounded_by_wall_time(calendar, a, first, second):
    b, c = a + min(first, second), a + max(first, second)
    ab, bc = business_time_between(calendar, a, b), business_time_between(calendar, b, c)
    assert business_time_between(calendar, a, c) == ab + bc
    assert timedelta(0) <= ab <= b - a
    assert business_time_between(calendar, b, a) == (timedelta(0) if a < b else ab)


@SLA
@given(any_calendar, instants, spreads)
def test_adding_the_measured_time_reaches_no_later_than_the_end(calendar, start, spread):
    end = start + spread
    measured = business_time_between(calendar, start, end)
    reached = add_business_time(calendar, start, measured)
    if measured:
        assert reached <= end
        if is_business_time(calendar, end):
            assert reached == end


@SLA
@given(instants, amounts, instants)
def test_24x7_is_wall_clock_arithmetic(start, amount, end):
    assert add_business_time(ALWAYS, start, amount) == start + amount
    assert business_time_between(ALWAYS, start, end) == max(end - start, timedelta(0))
    assert is_business_time(ALWAYS, start)


@SLA
@given(st.sampled_from(ZONES), instants, amounts, spreads)
def test_an_all_day_calendar_in_any_zone_is_wall_clock_time(zone, start, amount, spread):
    end = start + spread
    calendar = BusinessCalendar.from_spec(zone, ALL_DAY)
    assert add_business_time(calendar, start, amount) == start + amount
    assert business_time_between(calendar, start, end) == max(end - start, timedelta(0))


@SLA
@given(any_calendar, instants)
def test_adding_zero_is_the_next_business_instant(calendar, start):
    reached = add_business_time(calendar, start, timedelta(0))
    assert reached >= start
    assert (reached == start) == is_business_time(calendar, start)
    assert landed_in_business_hours(calendar, reached, end_ok=False)
    assert business_time_between(calendar, start, reached) == timedelta(0)


# --- DST days ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Europe/Berlin", date(2026, 10, 25), 25),
        ("America/New_York", date(2026, 3, 8), 23),
        ("America/New_York", date(2026, 11, 1), 25),
        ("Europe/Berlin", date(2026, 3, 30), 24),
    ],
)
def test_a_whole_dst_day_measures_its_real_length(zone, day, hours):
    calendar = BusinessCalendar.from_spec(zone, ALL_DAY)
    tz = ZoneInfo(zone)
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    next_midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    assert business_seconds_between(calendar, midnight, next_midnight) == hours * H
    assert add_business_seconds(calendar, midnight, hours * H) == next_midnight
    (span,) = business_intervals(calendar, day)
    assert span == (midnight.astimezone(UTC), next_midnight.astimezone(UTC))


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        # 01:00-04:00 lose the skipped hour in spring and keep the repeated one in autumn.
        ("Europe/Berlin", date(2026, 3, 29), 2),
        ("Europe/Berlin", date(2026, 10, 25), 4),
        ("America/New_York", date(2026, 3, 8), 2),
        ("America/New_York", date(2026, 11, 1), 4),
        ("Europe/Berlin", date(2026, 3, 28), 3),
    ],
)
def test_an_interval_across_the_dst_shift_measures_elapsed_time(zone, day, hours):
    calendar = BusinessCalendar.from_spec(zone, NIGHT)
    tz = ZoneInfo(zone)
    opens = datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(hours=1)
    assert sum((e - s for s, e in business_intervals(calendar, day)), timedelta(0)) == timedelta(
        hours=hours
    )
    assert (
        business_seconds_between(calendar, opens - timedelta(hours=1), opens + timedelta(hours=6))
        == hours * H
    )


def test_berlin_spring_forward_interval_ends_at_the_real_0400():
    calendar = BusinessCalendar.from_spec("Europe/Berlin", NIGHT)
    opens = local(BERLIN, 2026, 3, 29, 1)
    assert opens.astimezone(UTC) == utc(2026, 3, 29, 0)
    # 2 h of business time end at 04:00 CEST = 02:00 UTC; one more second is the next night.
    assert add_business_seconds(calendar, opens, 2 * H) == utc(2026, 3, 29, 2)
    assert add_business_seconds(calendar, opens, 2 * H + 1) == local(
        BERLIN, 2026, 3, 30, 1, 0, 1
    ).astimezone(UTC)


def test_berlin_fall_back_counts_the_repeated_hour_twice():
    calendar = BusinessCalendar.from_spec("Europe/Berlin", NIGHT)
    first_0230 = local(BERLIN, 2026, 10, 25, 2, 30, fold=0)
    second_0230 = local(BERLIN, 2026, 10, 25, 2, 30, fold=1)
    assert business_seconds_between(calendar, first_0230, second_0230) == H
    assert add_business_seconds(calendar, local(BERLIN, 2026, 10, 25, 1), 3 * H) == (
        local(BERLIN, 2026, 10, 25, 3).astimezone(UTC)
    )
    assert is_business_time(calendar, second_0230)


def test_new_york_spring_forward_moves_a_skipped_opening_to_the_end_of_the_gap():
    # 02:30 does not exist on 2026-03-08: the interval opens at 03:00 EDT (07:00 UTC).
    calendar = BusinessCalendar.from_spec(
        "America/New_York", {"sun": [["02:30", "05:00"]], "mon": [["09:00", "17:00"]]}
    )
    assert business_intervals(calendar, date(2026, 3, 8)) == (
        (utc(2026, 3, 8, 7), utc(2026, 3, 8, 9)),
    )
    assert next_business_instant(calendar, local(NEW_YORK, 2026, 3, 8, 1)) == utc(2026, 3, 8, 7)


def test_an_interval_wholly_inside_the_gap_is_closed_that_day():
    calendar = BusinessCalendar.from_spec(
        "Europe/Berlin", {"sun": [["02:00", "02:30"], ["02:30", "03:00"]]}
    )
    assert business_intervals(calendar, date(2026, 3, 29)) == ()
    assert business_intervals(calendar, date(2026, 3, 22)) == (
        (utc(2026, 3, 22, 1), utc(2026, 3, 22, 1, 30)),
        (utc(2026, 3, 22, 1, 30), utc(2026, 3, 22, 2)),
    )


def test_office_hours_on_dst_days_are_still_eight_hours():
    calendar = BusinessCalendar.from_spec(
        "America/New_York", ALL_DAY | {"sun": [["09:00", "17:00"]]}
    )
    for day in DST_DAYS["America/New_York"]:
        (span,) = business_intervals(calendar, day)
        assert span[1] - span[0] == timedelta(hours=8)


# --- holidays, multi-interval days, weekends --------------------------------------------------


def test_weekends_are_skipped():
    calendar = BusinessCalendar.from_spec("Europe/Berlin", OFFICE)
    friday_4pm = local(BERLIN, 2026, 6, 12, 16)
    assert add_business_minutes(calendar, friday_4pm, 120) == local(
        BERLIN, 2026, 6, 15, 10
    ).astimezone(UTC)
    assert business_seconds_between(calendar, friday_4pm, local(BERLIN, 2026, 6, 15, 10)) == 2 * H


def test_holidays_are_skipped():
    calendar = BusinessCalendar.from_spec("Europe/Berlin", OFFICE, ["2026-12-24", "2026-12-25"])
    wednesday_5pm = local(BERLIN, 2026, 12, 23, 17)
    # Thursday and Friday are holidays: 8 business hours end on Monday at 17:00.
    monday_5pm = local(BERLIN, 2026, 12, 28, 17).astimezone(UTC)
    assert add_business_minutes(calendar, wednesday_5pm, 8 * 60) == monday_5pm
    assert business_seconds_between(calendar, wednesday_5pm, monday_5pm) == 8 * H
    assert not is_business_time(calendar, local(BERLIN, 2026, 12, 24, 10))


def test_a_day_with_several_intervals():
    calendar = BusinessCalendar.from_spec("Europe/Berlin", SPLIT)
    monday = date(2026, 6, 15)
    assert add_business_minutes(calendar, local(BERLIN, 2026, 6, 15, 11, 30), 60) == local(
        BERLIN, 2026, 6, 15, 13, 30
    ).astimezone(UTC)
    assert (
        business_seconds_between(
            calendar, local(BERLIN, 2026, 6, 15, 11), local(BERLIN, 2026, 6, 15, 14)
        )
        == 2 * H
    )
    assert [
        (s.astimezone(BERLIN).hour, e.astimezone(BERLIN).hour)
        for s, e in business_intervals(calendar, monday)
    ] == [(9, 12), (13, 17)]


def test_adding_zero_outside_hours_moves_to_the_next_opening():
    calendar = BusinessCalendar.from_spec("Europe/Berlin", SPLIT)
    inside = local(BERLIN, 2026, 6, 15, 10).astimezone(UTC)
    assert add_business_seconds(calendar, inside, 0) == inside
    assert add_business_seconds(calendar, local(BERLIN, 2026, 6, 15, 12), 0) == local(
        BERLIN, 2026, 6, 15, 13
    ).astimezone(UTC)
    # An interval's end is not business time; the next opening is the next morning.
    assert next_business_instant(calendar, local(BERLIN, 2026, 6, 15, 17)) == local(
        BERLIN, 2026, 6, 16, 9
    ).astimezone(UTC)
    # With a positive amount the result may be exactly an interval's end.
    assert add_business_minutes(calendar, local(BERLIN, 2026, 6, 15, 16), 60) == local(
        BERLIN, 2026, 6, 15, 17
    ).astimezone(UTC)


def test_hours_across_midnight_are_contiguous():
    calendar = BusinessCalendar.from_spec(
        "Europe/Berlin", {"mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]}
    )
    monday_11pm = local(BERLIN, 2026, 6, 15, 23)
    assert add_business_minutes(calendar, monday_11pm, 120) == local(
        BERLIN, 2026, 6, 16, 1
    ).astimezone(UTC)
    assert add_business_minutes(calendar, monday_11pm, 60) == local(
        BERLIN, 2026, 6, 16, 0
    ).astimezone(UTC)


def test_long_additions_step_by_day_not_by_minute():
    calendar = BusinessCalendar.from_spec("America/New_York", OFFICE)
    start = local(NEW_YORK, 2026, 1, 5, 9)
    began = wall_clock.perf_counter()
    ten_days = add_business_minutes(calendar, start, 10 * 8 * 60)
    two_years = add_business_minutes(calendar, start, 500 * 8 * 60)
    assert wall_clock.perf_counter() - began < 1.0
    assert ten_days == local(NEW_YORK, 2026, 1, 16, 17).astimezone(UTC)
    assert two_years == local(NEW_YORK, 2027, 12, 3, 17).astimezone(UTC)
    assert business_seconds_between(calendar, start, two_years) == 500 * 8 * H


# --- construction and validation --------------------------------------------------------------


def test_spec_round_trip_and_cache():
    spec = {
        "timezone": "Europe/Berlin",
        "weekly_hours": {
            "mon": [["13:00", "17:00"], ["09:00", "12:00"]],
            "sat": [["10:00", "24:00"]],
        },
        "holidays": ["2026-12-25"],
    }
    calendar = BusinessCalendar.from_spec(**spec)
    assert calendar.weekly_hours[0] == ((9 * H, 12 * H), (13 * H, 17 * H))
    assert calendar.to_spec() == {
        "timezone": "Europe/Berlin",
        "weekly_hours": {
            "mon": [["09:00", "12:00"], ["13:00", "17:00"]],
            "sat": [["10:00", "24:00"]],
        },
        "holidays": ["2026-12-25"],
    }
    assert BusinessCalendar.from_spec(**calendar.to_spec()) == calendar
    assert cached_calendar(**spec) is cached_calendar(**spec)
    assert cached_calendar(**spec) == calendar


@pytest.mark.parametrize(
    ("timezone", "weekly_hours", "holidays", "message"),
    [
        ("Mars/Olympus", OFFICE, [], "unknown time zone 'Mars/Olympus'"),
        ("", OFFICE, [], "unknown time zone"),
        ("../etc/passwd", OFFICE, [], "unknown time zone"),
        ("America", OFFICE, [], "unknown time zone"),
        ("localtime", OFFICE, [], "unknown time zone"),
        (None, OFFICE, [], "unknown time zone"),
        ("UTC", {"monday": [["09:00", "17:00"]]}, [], "unknown weekday 'monday'"),
        (
            "UTC",
            {"mon": [["17:00", "09:00"]]},
            [],
            "mon: interval 17:00-09:00 ends before it starts",
        ),
        ("UTC", {"mon": [["09:00", "09:00"]]}, [], "ends before it starts"),
        (
            "UTC",
            {"tue": [["09:00", "12:00"], ["11:30", "17:00"]]},
            [],
            "tue: intervals 09:00-12:00 and 11:30-17:00 overlap",
        ),
        ("UTC", {"mon": [["9:00", "17:00"]]}, [], "'9:00' is not a valid time of day"),
        ("UTC", {"mon": [["09:00", "24:30"]]}, [], "'24:30' is not a valid time of day"),
        ("UTC", {"mon": [["24:00", "24:00"]]}, [], "'24:00' is not a valid time of day"),
        ("UTC", {"mon": [["09:60", "17:00"]]}, [], "'09:60' is not a valid time of day"),
        ("UTC", {"mon": [[9, 17]]}, [], "9 is not a valid time of day"),
        ("UTC", {"mon": [["09:00"]]}, [], "mon: interval 1 must be a [start, end] pair"),
        ("UTC", {"mon": "09:00-17:00"}, [], "mon: expected a list"),
        ("UTC", [["09:00", "17:00"]], [], "weekly hours must map weekdays"),
        ("UTC", {}, [], "no business hours"),
        ("UTC", {"sat": []}, [], "no business hours"),
        ("UTC", OFFICE, ["2026-13-01"], "'2026-13-01' is not a valid holiday date"),
        ("UTC", OFFICE, "2026-12-25", "holidays must be a list"),
    ],
)
def test_invalid_calendars_are_refused_with_a_clear_message(
    timezone, weekly_hours, holidays, message
):
    with pytest.raises(InvalidCalendar) as raised:
        BusinessCalendar.from_spec(timezone, weekly_hours, holidays)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_bad_arguments_are_refused():
    calendar = BusinessCalendar.from_spec("UTC", OFFICE)
    with pytest.raises(ValueError, match="aware instant"):
        add_business_seconds(calendar, datetime(2026, 1, 5, 9), 60)
    with pytest.raises(ValueError, match="aware instant"):
        business_seconds_between(ALWAYS, datetime(2026, 1, 5), utc(2026, 1, 6))
    with pytest.raises(ValueError, match="negative"):
        add_business_seconds(calendar, utc(2026, 1, 5, 9), -1)


def test_a_calendar_without_reachable_business_time_fails_instead_of_looping():
    mondays = [(date(2026, 1, 5) + timedelta(weeks=n)).isoformat() for n in range(11 * 53)]
    calendar = BusinessCalendar.from_spec("UTC", {"mon": [["09:00", "17:00"]]}, mondays)
    with pytest.raises(InvalidCalendar, match="no business time"):
        add_business_seconds(calendar, utc(2026, 1, 1), 60)
