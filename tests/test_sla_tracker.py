"""The per-ticket SLA state machine: targets, pauses, stops, priority changes, firing, JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.converter import DataConverter

from desk.sla import tracker
from desk.sla.tracker import (
    CalendarSpec,
    ClockReport,
    Deadline,
    EventKind,
    Metric,
    MetricState,
    SlaEvent,
    SlaState,
    SlaStatus,
    SlaTargets,
)

H = 3600
BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = CalendarSpec(
    timezone="Europe/Berlin",
    weekly_hours={day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    holidays=["2026-12-25"],
)
URGENT = SlaTargets.from_minutes("urgent", first_response_minutes=15, resolution_minutes=4 * 60)
HIGH = SlaTargets.from_minutes("high", first_response_minutes=60, resolution_minutes=8 * 60)
MEDIUM = SlaTargets.from_minutes(
    "medium", first_response_minutes=4 * 60, resolution_minutes=24 * 60
)
LOW = SlaTargets.from_minutes("low", first_response_minutes=8 * 60, resolution_minutes=40 * 60)
MEDIUM_OFFICE = SlaTargets.from_minutes(
    "medium-office", first_response_minutes=4 * 60, resolution_minutes=3 * 8 * 60, calendar=OFFICE
)


def at(hour: int, minute: int = 0, day: int = 15) -> datetime:
    """An instant on Monday 2026-06-15 (or another June day), UTC."""
    return datetime(2026, 6, day, hour, minute, tzinfo=UTC)


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def accepted(targets: SlaTargets, when: datetime, created: datetime | None = None) -> SlaState:
    state = SlaState()
    assert tracker.on_created(state, created or when, targets) == []
    assert tracker.on_accepted(state, when) == []
    return state


def kinds(events: list[SlaEvent]) -> list[tuple[str, str, datetime]]:
    return [(event.metric.value, event.kind.value, event.at) for event in events]


# --- starting the clock -----------------------------------------------------------------------


def test_a_high_ticket_accepted_at_10_is_due_at_18_and_breaches_then():
    state = accepted(HIGH, at(10), created=at(9, 40))
    assert state.started_at == at(10)
    assert state.first_response.due_at == at(11)
    assert state.resolution.due_at == at(18)
    assert state.resolution.warn_at == at(16, 24)  # 80 % of 8 h
    projected = tracker.projection(state)
    assert projected["sla_started_at"] == at(10)
    assert projected["sla_first_response_due_at"] == at(11)
    assert projected["sla_due_at"] == at(18)
    assert projected["sla_policy_id"] == "high"
    assert tracker.sla_state(state) is SlaStatus.RUNNING

    tracker.on_public_staff_comment(state, at(10, 30))
    just_before = at(18) - timedelta(seconds=1)
    assert kinds(tracker.fire_due(state, just_before)) == [("resolution", "warning", at(16, 24))]
    assert tracker.next_deadline(state) == Deadline(at(18), Metric.RESOLUTION, EventKind.BREACH)
    assert tracker.fire_due(state, just_before) == []
    (breach,) = tracker.fire_due(state, at(18))
    assert (breach.metric, breach.kind, breach.at, breach.key) == (
        Metric.RESOLUTION,
        EventKind.BREACH,
        at(18),
        "resolution:breach:0",
    )
    assert state.resolution.breached_at == at(18)
    assert tracker.projection(state)["sla_breached_at"] == at(18)
    assert tracker.sla_state(state) is SlaStatus.BREACHED
    assert tracker.next_deadline(state) is None


def test_a_new_ticket_has_not_started_and_only_an_acceptance_clock():
    state = SlaState()
    tracker.on_created(state, at(9), HIGH)
    assert tracker.sla_state(state) is SlaStatus.NOT_STARTED
    assert tracker.next_deadline(state) is None  # HIGH sets no accept target
    report = tracker.clock_report(state, at(9, 30))
    assert report.accept.state is MetricState.UNTRACKED
    assert report.accept.elapsed_seconds == 30 * 60
    assert report.resolution.state is MetricState.NOT_STARTED
    assert tracker.projection(state)["sla_started_at"] is None


def test_acceptance_target_met_in_time():
    targets = SlaTargets.from_minutes(
        "p", first_response_minutes=60, resolution_minutes=480, accept_minutes=30
    )
    state = SlaState()
    tracker.on_created(state, at(9), targets)
    assert state.accept.due_at == at(9, 30)
    assert tracker.next_deadline(state) == Deadline(at(9, 24), Metric.ACCEPT, EventKind.WARNING)
    assert tracker.on_accepted(state, at(9, 20)) == []
    assert state.accept.met_at == at(9, 20)
    assert tracker.fire_due(state, at(9, 45)) == []
    assert tracker.clock_report(state, at(9, 45)).accept.state is MetricState.MET


def test_acceptance_target_breached_while_new():
    targets = SlaTargets.from_minutes(
        "p", first_response_minutes=60, resolution_minutes=480, accept_minutes=30
    )
    state = SlaState()
    tracker.on_created(state, at(9), targets)
    assert kinds(tracker.fire_due(state, at(9, 31))) == [
        ("accept", "warning", at(9, 24)),
        ("accept", "breach", at(9, 30)),
    ]
    assert tracker.projection(state)["accept_breached_at"] == at(9, 30)
    assert tracker.sla_state(state) is SlaStatus.BREACHED
    tracker.on_accepted(state, at(10))
    assert state.accept.breached_at == at(9, 30)
    assert state.resolution.due_at == at(18)


def test_accepting_needs_targets():
    with pytest.raises(ValueError, match="without targets"):
        tracker.on_accepted(SlaState(), at(10))


# --- pauses -----------------------------------------------------------------------------------


def test_a_three_hour_pause_moves_the_due_date_by_three_hours():
    state = accepted(HIGH, at(10))
    tracker.on_public_staff_comment(state, at(10, 5))
    assert tracker.on_paused(state, at(12)) == []
    assert tracker.projection(state)["sla_paused_at"] == at(12)
    assert tracker.sla_state(state) is SlaStatus.PAUSED
    assert tracker.next_deadline(state) is None  # timers disarmed
    assert state.resolution.due_at == at(18)  # the last value is kept while paused
    report = tracker.clock_report(state, at(14))
    assert report.resolution.state is MetricState.PAUSED and report.resolution.paused
    assert report.resolution.elapsed_seconds == 2 * H
    assert report.resolution.remaining_seconds == 6 * H
    assert report.paused_seconds == 2 * H

    assert tracker.on_resumed(state, at(15)) == []
    assert state.resolution.due_at == at(21)
    assert state.resolution.warn_at == at(19, 24)
    assert state.paused_seconds == 10800
    projected = tracker.projection(state)
    assert projected["sla_paused_duration"] == 10800
    assert projected["sla_paused_at"] is None
    assert projected["sla_due_at"] == at(21)
    assert tracker.sla_state(state) is SlaStatus.RUNNING


def test_pauses_add_up_and_repeated_pause_events_are_ignored():
    state = accepted(HIGH, at(10))
    tracker.on_paused(state, at(10, 30))
    tracker.on_paused(state, at(10, 45))  # already paused: the pause began at 10:30
    tracker.on_resumed(state, at(11))
    tracker.on_resumed(state, at(11, 10))  # not paused: nothing
    tracker.on_paused(state, at(11, 20))
    tracker.on_resumed(state, at(11, 35))
    assert state.paused_seconds == 45 * 60
    assert state.first_response.due_at == at(11, 45)
    assert state.resolution.due_at == at(18, 45)


def test_with_business_hours_a_pause_over_the_night_moves_only_by_its_business_part():
    monday_10 = berlin(15, 10)
    state = accepted(MEDIUM_OFFICE, monday_10)
    # 24 business hours from Monday 10:00 (09:00-17:00) end on Thursday at 10:00.
    assert state.resolution.due_at == berlin(18, 10)
    assert state.first_response.due_at == berlin(15, 14)
    tracker.on_public_staff_comment(state, berlin(15, 11))
    tracker.on_paused(state, berlin(15, 16))
    tracker.on_resumed(state, berlin(16, 10))  # 18 h paused, 2 of them business hours
    assert state.paused_seconds == 18 * H
    assert state.resolution.due_at == berlin(18, 12)
    report = tracker.clock_report(state, berlin(16, 11))
    assert report.resolution.elapsed_seconds == 7 * H  # Monday 10-16, Tuesday 10-11


def test_a_breach_never_fires_during_a_pause():
    state = accepted(HIGH, at(10))
    tracker.on_public_staff_comment(state, at(10, 5))
    tracker.fire_due(state, at(16, 24))  # the warning
    tracker.on_paused(state, at(17))
    assert tracker.fire_due(state, at(18)) == []
    assert tracker.fire_due(state, at(21, 59)) == []
    assert state.resolution.breached_at is None
    assert tracker.on_resumed(state, at(22)) == []
    assert tracker.next_deadline(state) == Deadline(at(23), Metric.RESOLUTION, EventKind.BREACH)
    assert kinds(tracker.fire_due(state, at(23))) == [("resolution", "breach", at(23))]


# --- stop, reopen, close ----------------------------------------------------------------------


def test_a_reopened_ticket_resumes_where_it_stopped():
    state = accepted(HIGH, at(10))
    tracker.on_public_staff_comment(state, at(10, 30))
    assert tracker.on_resolved(state, at(14)) == []
    assert state.resolution.met_at == at(14)
    assert tracker.sla_state(state) is SlaStatus.STOPPED
    assert tracker.next_deadline(state) is None
    assert tracker.fire_due(state, at(20)) == []  # long past 18:00, but stopped at 4 h
    report = tracker.clock_report(state, at(20))
    assert report.resolution.state is MetricState.MET
    assert report.resolution.elapsed_seconds == 4 * H

    assert tracker.on_reopened(state, at(22)) == []
    assert state.resolution.met_at is None
    assert state.first_response.met_at == at(10, 30)  # nothing is erased
    assert state.resolution.due_at == at(2, day=16)  # the remaining 4 h
    assert tracker.clock_report(state, at(23)).resolution.elapsed_seconds == 5 * H
    assert kinds(tracker.fire_due(state, at(2, day=16))) == [
        ("resolution", "warning", at(0, 24, day=16)),
        ("resolution", "breach", at(2, day=16)),
    ]


def test_resolving_stops_an_unanswered_first_response_and_ends_a_pause():
    state = accepted(HIGH, at(10))
    tracker.on_paused(state, at(10, 30))
    tracker.on_resolved(state, at(11, 30))
    assert state.paused_at is None and state.paused_seconds == H
    report = tracker.clock_report(state, at(15))
    assert report.first_response.state is MetricState.STOPPED
    assert report.first_response.elapsed_seconds == 30 * 60
    assert tracker.fire_due(state, at(15)) == []


def test_breach_facts_survive_resolve_reopen_and_close():
    state = accepted(URGENT, at(10))
    tracker.fire_due(state, at(10, 20))
    assert state.first_response.breached_at == at(10, 15)
    tracker.on_public_staff_comment(state, at(10, 30))
    tracker.on_resolved(state, at(11))
    tracker.on_reopened(state, at(12))
    tracker.on_closed(state, at(13))
    assert state.first_response.breached_at == at(10, 15)
    assert tracker.projection(state)["first_response_breached_at"] == at(10, 15)
    assert tracker.sla_state(state) is SlaStatus.BREACHED
    report = tracker.clock_report(state, at(20))
    assert report.first_response.state is MetricState.BREACHED
    assert report.resolution.state is MetricState.STOPPED  # closed without a resolve
    assert tracker.fire_due(state, at(20)) == []
    assert tracker.on_reopened(state, at(21)) == []  # closed is final
    assert tracker.next_deadline(state) is None


def test_on_status_maps_the_lifecycle():
    state = accepted(HIGH, at(10))
    tracker.on_status(state, at(11), "IN_PROGRESS")
    tracker.on_status(state, at(12), "WAITING_CUSTOMER")
    assert state.paused_at == at(12)
    tracker.on_status(state, at(13), "IN_PROGRESS")
    assert state.paused_seconds == H and state.resolution.due_at == at(19)
    tracker.on_status(state, at(14), "RESOLVED")
    assert state.stopped_at == at(14)
    tracker.on_status(state, at(15), "IN_PROGRESS")
    assert state.stopped_at is None and state.resolution.due_at == at(20)
    tracker.on_status(state, at(16), "CLOSED")
    assert state.closed_at == at(16) and tracker.next_deadline(state) is None
    with pytest.raises(ValueError):
        tracker.on_status(state, at(17), "LOST")


# --- first response ---------------------------------------------------------------------------


def test_first_response_is_met_by_the_first_public_staff_comment():
    state = SlaState()
    tracker.on_created(state, at(9), HIGH)
    tracker.on_public_staff_comment(state, at(9, 30))  # before acceptance: not a response
    assert state.first_response.met_at is None
    tracker.on_accepted(state, at(10))
    assert tracker.next_deadline(state) == Deadline(
        at(10, 48), Metric.FIRST_RESPONSE, EventKind.WARNING
    )
    assert tracker.next_deadline(state).timer_name == "SLA first response warning"
    tracker.on_public_staff_comment(state, at(10, 20))
    tracker.on_public_staff_comment(state, at(10, 40))
    assert state.first_response.met_at == at(10, 20)
    assert tracker.projection(state)["first_responded_at"] == at(10, 20)
    assert tracker.clock_report(state, at(11)).first_response.state is MetricState.MET
    deadline = tracker.next_deadline(state)
    assert deadline == Deadline(at(16, 24), Metric.RESOLUTION, EventKind.WARNING)
    assert deadline.timer_name == "SLA resolution warning"
    assert tracker.fire_due(state, at(11, 30)) == []


def test_a_late_first_response_still_records_the_breach_it_raced():
    state = accepted(HIGH, at(10))
    # The 11:00 timer and the comment race; the comment is handled first.
    events = tracker.on_public_staff_comment(state, at(11))
    assert kinds(events) == [
        ("first_response", "warning", at(10, 48)),
        ("first_response", "breach", at(11)),
    ]
    assert state.first_response.met_at == at(11)


# --- priority changes -------------------------------------------------------------------------


def test_a_priority_raise_keeps_elapsed_time_and_breaches_at_once_when_over():
    state = accepted(MEDIUM, at(10))
    assert state.resolution.due_at == at(10, day=16)
    events = tracker.on_targets_changed(state, at(13), HIGH)
    # First response: 3 h elapsed > 1 h: breached now, with no warning alongside.
    assert kinds(events) == [("first_response", "breach", at(13))]
    assert state.first_response.breached_at == at(13)
    assert state.resolution.due_at == at(18)  # 3 h elapsed of 8 h
    assert state.resolution.warn_at == at(16, 24)
    assert tracker.projection(state)["sla_policy_id"] == "high"

    assert kinds(tracker.on_targets_changed(state, at(14), URGENT)) == [
        ("resolution", "breach", at(14))
    ]
    assert state.resolution.due_at == at(14)
    assert state.first_response.breached_at == at(13)  # unchanged
    assert tracker.next_deadline(state) is None


def test_a_priority_raise_past_the_warning_threshold_warns_now():
    state = accepted(LOW, at(10))  # 40 h
    tracker.on_public_staff_comment(state, at(10, 10))
    events = tracker.on_targets_changed(state, at(17), HIGH)  # 7 h of 8 h: over 80 %
    assert kinds(events) == [("resolution", "warning", at(17))]
    assert state.resolution.due_at == at(18)


def test_lowering_the_priority_re_arms_a_sent_warning_in_a_new_cycle():
    state = accepted(HIGH, at(10))
    tracker.on_public_staff_comment(state, at(10, 10))
    (warning,) = tracker.fire_due(state, at(16, 30))
    assert warning.key == "resolution:warning:0"
    tracker.on_targets_changed(state, at(17), LOW)  # 7 h of 40 h
    assert state.resolution.warned_at is None
    assert state.resolution.due_at == at(17) + timedelta(hours=33)
    (warning,) = tracker.fire_due(state, at(17) + timedelta(hours=25))
    assert warning.key == "resolution:warning:1"
    assert warning.at == at(17) + timedelta(hours=25)  # 32 h of 40 h
    # Raising it again past the threshold does not re-arm: already warned this cycle.
    assert tracker.on_targets_changed(state, at(17) + timedelta(hours=26), HIGH)[0].kind is (
        EventKind.BREACH
    )


def test_a_met_metric_keeps_its_target_and_due_date_on_priority_change():
    state = accepted(HIGH, at(10))
    tracker.on_public_staff_comment(state, at(10, 30))
    tracker.on_targets_changed(state, at(11), URGENT)
    assert state.first_response.target_seconds == H
    assert state.first_response.due_at == at(11)
    assert state.first_response.breached_at is None
    assert state.resolution.target_seconds == 4 * H


def test_a_priority_change_while_resolved_applies_on_reopen():
    state = accepted(HIGH, at(10))
    tracker.on_public_staff_comment(state, at(10, 5))
    tracker.on_resolved(state, at(12))
    assert tracker.on_targets_changed(state, at(13), URGENT) == []
    assert state.resolution.met_at == at(12)
    tracker.on_reopened(state, at(14))
    assert state.resolution.due_at == at(16)  # 2 h elapsed of URGENT's 4 h
    assert state.first_response.target_seconds == H  # met: keeps HIGH's target


def test_a_calendar_change_banks_elapsed_time_under_the_old_calendar():
    state = accepted(HIGH, berlin(15, 6))  # 24x7
    tracker.on_public_staff_comment(state, berlin(15, 6, 10))
    assert tracker.on_targets_changed(state, berlin(15, 10), MEDIUM_OFFICE) == []
    # 4 h elapsed (24x7, before opening time too) of 24 business hours: 20 left,
    # Monday 10:00 to Wednesday 14:00.
    assert state.resolution.due_at == berlin(17, 14)
    report = tracker.clock_report(state, berlin(15, 20))
    assert report.resolution.elapsed_seconds == 11 * H  # 4 h banked + 10:00-17:00


# --- firing -----------------------------------------------------------------------------------


def test_warning_then_breach_each_exactly_once():
    state = accepted(HIGH, at(10))
    tracker.on_public_staff_comment(state, at(10, 1))
    assert tracker.fire_due(state, at(16, 23)) == []
    (warning,) = tracker.fire_due(state, at(16, 24))
    assert (warning.kind, warning.at, warning.due_at, warning.target_seconds) == (
        EventKind.WARNING,
        at(16, 24),
        at(18),
        8 * H,
    )
    assert tracker.fire_due(state, at(16, 24)) == []
    assert tracker.fire_due(state, at(17)) == []
    assert tracker.next_deadline(state).timer_name == "SLA resolution due"
    (breach,) = tracker.fire_due(state, at(18))
    assert breach.kind is EventKind.BREACH
    assert tracker.fire_due(state, at(18)) == []
    assert tracker.fire_due(state, at(23)) == []


def test_a_late_wake_up_fires_everything_due_in_order():
    state = accepted(HIGH, at(10))
    events = tracker.fire_due(state, at(20))
    assert kinds(events) == [
        ("first_response", "warning", at(10, 48)),
        ("first_response", "breach", at(11)),
        ("resolution", "warning", at(16, 24)),
        ("resolution", "breach", at(18)),
    ]
    assert len({event.key for event in events}) == 4


def test_naive_instants_are_refused():
    state = SlaState()
    with pytest.raises(ValueError, match="aware"):
        tracker.on_created(state, datetime(2026, 6, 15, 9), HIGH)


def test_targets_are_validated():
    with pytest.raises(ValueError, match="resolution_seconds must be positive"):
        SlaTargets("p", first_response_seconds=60, resolution_seconds=0)
    with pytest.raises(ValueError, match="warn_at_percent"):
        SlaTargets("p", first_response_seconds=60, resolution_seconds=60, warn_at_percent=0)
    with pytest.raises(ValueError, match="unknown time zone"):
        SlaTargets(
            "p", 60, 60, calendar=CalendarSpec("Nowhere/Land", {"mon": [["09:00", "17:00"]]})
        )


def test_targets_from_a_policy_snapshot():
    snapshot = {
        "policy_id": "6f1c",
        "name": "Default MEDIUM",
        "priority": "MEDIUM",
        "service_id": None,
        "accept_minutes": None,
        "first_response_minutes": 240,
        "resolution_minutes": 1440,
        "warn_at_percent": 75,
        "calendar": {
            "calendar_id": "c1",
            "name": "Office",
            "timezone": "Europe/Berlin",
            "weekly_hours": OFFICE.weekly_hours,
            "holidays": ["2026-12-25"],
        },
    }
    targets = SlaTargets.from_policy_snapshot(snapshot)
    assert targets == SlaTargets(
        "6f1c",
        first_response_seconds=4 * H,
        resolution_seconds=24 * H,
        warn_at_percent=75,
        calendar=OFFICE,
    )
    assert SlaTargets.from_policy_snapshot(snapshot | {"calendar": None}).calendar is None


def test_a_warning_at_100_percent_never_fires():
    targets = SlaTargets(
        "p", first_response_seconds=60, resolution_seconds=600, warn_at_percent=100
    )
    state = accepted(targets, at(10))
    assert kinds(tracker.fire_due(state, at(11))) == [
        ("first_response", "breach", at(10, 1)),
        ("resolution", "breach", at(10, 10)),
    ]


def test_sla_status_from_projection_facts():
    assert tracker.sla_status(started=False, paused=False, stopped=False, breached=False) is (
        SlaStatus.NOT_STARTED
    )
    assert tracker.sla_status(started=True, paused=True, stopped=False, breached=False) is (
        SlaStatus.PAUSED
    )
    assert tracker.sla_status(started=True, paused=False, stopped=True, breached=False) is (
        SlaStatus.STOPPED
    )
    assert tracker.sla_status(started=True, paused=True, stopped=False, breached=True) is (
        SlaStatus.BREACHED
    )


# --- report facts -----------------------------------------------------------------------------


def fact(state: SlaState, metric: Metric) -> tracker.MetricFact:
    (found,) = [f for f in tracker.facts(state) if f.metric is metric]
    return found


def test_facts_of_a_ticket_met_in_time():
    state = accepted(HIGH, at(10), created=at(9, 40))
    tracker.on_public_staff_comment(state, at(10, 30))
    tracker.on_resolved(state, at(14))
    accept, first, resolution = tracker.facts(state)
    # No accept target: measured (20 min), but no promise to keep.
    assert (accept.outcome, accept.started_at, accept.business_seconds) == (
        MetricState.UNTRACKED,
        at(9, 40),
        20 * 60,
    )
    assert (first.outcome, first.started_at, first.met_at) == (MetricState.MET, at(10), at(10, 30))
    assert (first.business_seconds, first.target_seconds, first.due_at) == (30 * 60, H, at(11))
    assert (resolution.outcome, resolution.business_seconds, resolution.paused_seconds) == (
        MetricState.MET,
        4 * H,
        0,
    )


def test_a_new_ticket_has_only_its_acceptance_fact():
    state = SlaState()
    tracker.on_created(state, at(9), HIGH)
    (accept,) = tracker.facts(state)
    assert (accept.metric, accept.outcome, accept.business_seconds) == (
        Metric.ACCEPT,
        MetricState.UNTRACKED,
        None,  # still running
    )
    assert tracker.facts(SlaState()) == []


def test_a_breach_is_a_fact_at_once_and_its_lateness_once_met():
    state = accepted(HIGH, at(10))
    tracker.fire_due(state, at(11, 30))
    first = fact(state, Metric.FIRST_RESPONSE)
    assert (first.outcome, first.breached_at, first.met_at, first.business_seconds) == (
        MetricState.BREACHED,
        at(11),
        None,
        None,  # lateness unknown while the clock runs
    )
    tracker.on_public_staff_comment(state, at(12))
    first = fact(state, Metric.FIRST_RESPONSE)
    assert (first.outcome, first.met_at, first.business_seconds) == (
        MetricState.BREACHED,  # met late counts as breached
        at(12),
        2 * H,
    )
    assert first.business_seconds - first.target_seconds == H  # late by one hour


def test_pauses_are_excluded_from_business_time_and_counted_per_metric():
    state = accepted(HIGH, at(10))
    tracker.on_public_staff_comment(state, at(10, 10))
    tracker.on_paused(state, at(11))
    assert fact(state, Metric.RESOLUTION).outcome is MetricState.PAUSED
    tracker.on_resumed(state, at(14))
    tracker.on_resolved(state, at(15))
    first, resolution = fact(state, Metric.FIRST_RESPONSE), fact(state, Metric.RESOLUTION)
    assert (first.business_seconds, first.paused_seconds) == (10 * 60, 0)  # met before
    assert (resolution.business_seconds, resolution.paused_seconds) == (2 * H, 3 * H)


def test_a_first_response_during_a_pause_counts_the_pause_until_then():
    state = accepted(HIGH, at(10))
    tracker.on_paused(state, at(10, 30))
    tracker.on_public_staff_comment(state, at(11))  # a staff reply while waiting
    tracker.on_resumed(state, at(12))
    tracker.on_resolved(state, at(13))
    first, resolution = fact(state, Metric.FIRST_RESPONSE), fact(state, Metric.RESOLUTION)
    assert (first.outcome, first.business_seconds, first.paused_seconds) == (
        MetricState.MET,
        30 * 60,
        30 * 60,
    )
    assert (resolution.business_seconds, resolution.paused_seconds) == (90 * 60, 90 * 60)


def test_a_pause_carried_from_before_paused_since_counts_from_the_pause_start():
    state = accepted(HIGH, at(10))
    tracker.on_public_staff_comment(state, at(10, 10))
    tracker.on_paused(state, at(11))
    state.resolution.paused_since = None  # as in a state recorded before the field existed
    tracker.on_resumed(state, at(13))
    assert state.resolution.paused_seconds == 2 * H
    assert state.first_response.paused_seconds == 0


def test_a_reopen_takes_back_the_resolution_and_the_next_resolve_settles_it():
    state = accepted(URGENT, at(10))
    tracker.on_public_staff_comment(state, at(10, 5))
    tracker.on_resolved(state, at(11))
    assert fact(state, Metric.RESOLUTION).business_seconds == H
    tracker.on_reopened(state, at(13))  # two hours resolved: not counted
    reopened = fact(state, Metric.RESOLUTION)
    assert (reopened.outcome, reopened.met_at, reopened.business_seconds) == (
        MetricState.RUNNING,
        None,
        None,
    )
    tracker.on_resolved(state, at(14))
    resolution = fact(state, Metric.RESOLUTION)
    assert (resolution.outcome, resolution.met_at, resolution.business_seconds) == (
        MetricState.MET,
        at(14),
        2 * H,
    )


def test_a_breach_keeps_the_target_it_broke_across_priority_changes():
    state = accepted(MEDIUM, at(10))
    tracker.on_targets_changed(state, at(13), HIGH)  # 3 h elapsed: first response breached
    tracker.on_targets_changed(state, at(14), LOW)
    first = fact(state, Metric.FIRST_RESPONSE)
    assert (first.outcome, first.breached_at, first.target_seconds) == (
        MetricState.BREACHED,
        at(13),
        H,  # HIGH's, not LOW's eight hours
    )
    assert state.first_response.target_seconds == 8 * H
    tracker.on_public_staff_comment(state, at(15))
    first = fact(state, Metric.FIRST_RESPONSE)
    assert first.business_seconds - first.target_seconds == 4 * H
    resolution = fact(state, Metric.RESOLUTION)
    assert (resolution.outcome, resolution.target_seconds) == (MetricState.RUNNING, 40 * H)


def test_business_seconds_skip_the_weekend_in_the_policy_calendar():
    friday_15 = berlin(12, 15)
    state = accepted(MEDIUM_OFFICE, friday_15)
    tracker.on_public_staff_comment(state, berlin(15, 10))  # Monday
    tracker.on_resolved(state, berlin(16, 12))  # Tuesday
    first, resolution = fact(state, Metric.FIRST_RESPONSE), fact(state, Metric.RESOLUTION)
    assert (first.outcome, first.business_seconds) == (MetricState.MET, 3 * H)  # 2 h + 1 h
    assert (resolution.outcome, resolution.business_seconds) == (MetricState.MET, 13 * H)
    assert resolution.met_at - resolution.started_at == timedelta(days=3, hours=21)


def test_a_metric_stopped_before_it_was_met_is_settled_unmet():
    state = accepted(HIGH, at(10))
    tracker.on_resolved(state, at(10, 40))  # resolved without a public reply
    first = fact(state, Metric.FIRST_RESPONSE)
    assert (first.outcome, first.met_at, first.business_seconds) == (
        MetricState.STOPPED,
        None,
        40 * 60,
    )
    tracker.on_closed(state, at(12))
    assert fact(state, Metric.FIRST_RESPONSE).business_seconds == 40 * 60

    targets = SlaTargets.from_minutes(
        "p", first_response_minutes=60, resolution_minutes=480, accept_minutes=30
    )
    rejected = SlaState()
    tracker.on_created(rejected, at(9), targets)
    tracker.on_closed(rejected, at(9, 10))  # rejected while NEW, in time
    (accept,) = tracker.facts(rejected)
    assert (accept.outcome, accept.business_seconds, accept.target_seconds) == (
        MetricState.STOPPED,
        10 * 60,
        30 * 60,
    )


# --- serialization ----------------------------------------------------------------------------


async def round_trip(value, type_hint):
    converter = DataConverter.default
    payloads = await converter.encode([value])
    (decoded,) = await converter.decode(payloads, [type_hint])
    return decoded


async def test_the_state_survives_temporal_json_round_trips():
    state = accepted(MEDIUM_OFFICE, berlin(15, 10))
    tracker.on_public_staff_comment(state, berlin(15, 11))
    tracker.on_paused(state, berlin(15, 12, 30))
    tracker.on_resumed(state, berlin(15, 16, 45))
    tracker.on_paused(state, berlin(16, 9, 15))
    # Fractional seconds, a breach fact and a pause in progress all travel.
    state.accept.elapsed_seconds = 0.123456

    restored = await round_trip(state, SlaState)
    assert restored == state
    assert isinstance(restored.targets.calendar, CalendarSpec)
    assert restored.first_response.met_at.tzinfo is not None
    # The restored state behaves identically.
    now = berlin(17, 9)
    assert tracker.clock_report(restored, now) == tracker.clock_report(state, now)
    assert tracker.on_resumed(restored, now) == tracker.on_resumed(state, now)
    assert restored == state
    assert tracker.next_deadline(restored) == tracker.next_deadline(state)

    payloads = DataConverter.default.payload_converter.to_payloads([state])
    (again,) = DataConverter.default.payload_converter.from_payloads(payloads, [SlaState])
    assert again == state


def test_contract_annotations_are_real_types_so_the_workflow_sandbox_can_decode_them():
    # Inside the sandbox, get_type_hints cannot resolve string annotations of a module the
    # workflow did not import by name (NameError while decoding the workflow input).
    from dataclasses import fields, is_dataclass

    from desk.sla import contracts

    classes = [
        c
        for c in vars(contracts).values()
        if is_dataclass(c) and c.__module__ == contracts.__name__
    ]
    assert len(classes) == 8
    for cls in classes:
        for field in fields(cls):
            assert not isinstance(field.type, str), f"{cls.__name__}.{field.name}"


async def test_events_and_reports_survive_temporal_json_round_trips():
    state = accepted(URGENT, at(10))
    events = tracker.fire_due(state, at(11))
    assert await round_trip(events, list[SlaEvent]) == events
    report = tracker.clock_report(state, at(11))
    restored = await round_trip(report, ClockReport)
    assert restored == report
    assert restored.resolution.state is MetricState.RUNNING
    assert restored.first_response.state is MetricState.BREACHED
