"""The portal's SLA display rules (desk/portal/sla_display.py): pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desk.portal import sla_display as d
from desk.sla.contracts import ClockReport, Metric, MetricReport, MetricState, SlaStatus

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (59.9, "59s"),
        (60, "1m"),
        (35 * 60 + 59, "35m"),
        (3600, "1h"),
        (2 * 3600 + 5 * 60 + 30, "2h 5m"),
        (86400, "1d"),
        (86400 + 4 * 3600 + 59 * 60, "1d 4h"),
        (40 * 86400, "40d"),
        (-35 * 60, "-35m"),
        (-(86400 + 3600), "-1d 1h"),
        (-0.4, "0s"),
    ],
)
def test_at_most_two_units(seconds, text):
    assert d.format_span(seconds) == text


def metric(
    state: MetricState,
    *,
    due_in: float | None = 3600,
    warn_in: float | None = None,
    met: bool = False,
    paused: bool = False,
    which: Metric = Metric.RESOLUTION,
) -> MetricReport:
    due = NOW + timedelta(seconds=due_in) if due_in is not None else None
    return MetricReport(
        metric=which,
        state=state,
        paused=paused,
        target_seconds=None,
        elapsed_seconds=None,
        remaining_seconds=None,
        due_at=due,
        warn_at=NOW + timedelta(seconds=warn_in) if warn_in is not None else None,
        met_at=NOW - timedelta(minutes=1) if met else None,
        breached_at=due if state is MetricState.BREACHED else None,
    )


def test_running_counts_down_in_green():
    view = d.metric_view(metric(MetricState.RUNNING, due_in=4 * 3600 + 61), NOW, None)
    assert (view.tone, view.text, view.symbol, view.ticking) == (d.OK, "4h 1m", "", True)
    assert view.label == "Resolution"
    assert view.title == "Resolution due 2026-12-01 16:01:01 UTC"


def test_amber_inside_the_warning_threshold():
    view = d.metric_view(metric(MetricState.RUNNING, due_in=600, warn_in=-1), NOW, None)
    assert (view.tone, view.text) == (d.WARNING, "10m")


def test_past_due_but_not_yet_breached_is_never_negative_nor_red():
    view = d.metric_view(metric(MetricState.RUNNING, due_in=-0.5), NOW, None)
    assert (view.tone, view.text) == (d.WARNING, "0s")


def test_breached_is_negative_red_with_a_cross():
    view = d.metric_view(metric(MetricState.BREACHED, due_in=-35 * 60), NOW, None)
    assert (view.tone, view.text, view.symbol, view.ticking) == (d.BREACHED, "-35m", "\u2717", True)


def test_breached_then_met_stops_at_the_meeting():
    view = d.metric_view(metric(MetricState.BREACHED, due_in=-600, met=True), NOW, None)
    assert (view.text, view.ticking) == ("-9m", False)


def test_met_shows_a_tick():
    view = d.metric_view(metric(MetricState.MET, met=True), NOW, None)
    assert (view.tone, view.symbol, view.text) == (d.MET, "\u2713", "met")


def test_paused_shows_the_time_left_when_it_paused():
    paused_at = NOW - timedelta(hours=1)
    view = d.metric_view(metric(MetricState.PAUSED, due_in=3600, paused=True), NOW, paused_at)
    assert (view.tone, view.symbol, view.text, view.ticking) == (d.PAUSED, "\u23f8", "2h", False)


def test_a_metric_without_target_is_not_shown():
    assert d.metric_view(metric(MetricState.UNTRACKED, due_in=None), NOW, None) is None


def clock(*reports: MetricReport) -> ClockReport:
    by_metric = {r.metric: r for r in reports}
    idle = {m: metric(MetricState.NOT_STARTED, due_in=None, which=m) for m in Metric}
    merged = {**idle, **by_metric}
    return ClockReport(
        now=NOW,
        sla_state=SlaStatus.RUNNING,
        policy_id=None,
        started_at=NOW,
        paused_at=None,
        paused_seconds=0,
        accept=merged[Metric.ACCEPT],
        first_response=merged[Metric.FIRST_RESPONSE],
        resolution=merged[Metric.RESOLUTION],
    )


def test_every_metric_on_its_own_and_warnings_from_the_policy_for_stored_rows():
    views = d.clock_views(
        clock(
            metric(MetricState.MET, which=Metric.ACCEPT, met=True),
            metric(MetricState.RUNNING, which=Metric.FIRST_RESPONSE, due_in=300),
            metric(MetricState.RUNNING, which=Metric.RESOLUTION, due_in=3 * 3600),
        ),
        NOW,
        targets={Metric.FIRST_RESPONSE: 3600.0, Metric.RESOLUTION: 8 * 3600.0},
        warn_percent=80,
    )
    assert [(v.label, v.tone) for v in views] == [
        ("Accept", d.MET),
        ("First response", d.WARNING),  # 5 min left of 60: inside the last 20 %
        ("Resolution", d.OK),  # 3 h left of 8
    ]


@pytest.mark.parametrize(
    ("tones", "word"),
    [
        ({d.OK}, d.ON_TRACK),
        ({d.PAUSED, d.MET}, d.ON_TRACK),
        ({d.OK, d.WARNING}, d.AT_RISK),
        ({d.WARNING, d.BREACHED, d.MET}, d.OVERDUE),
        ({d.MET}, None),
        (set(), None),
    ],
)
def test_customers_see_one_word(tones, word):
    views = [
        d.MetricView("m", "M", tone, "", "", None, None, ticking=False) for tone in sorted(tones)
    ]
    assert d.customer_status(views) == word
