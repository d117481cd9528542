"""How the portal shows an SLA clock: pure formatting rules, no I/O.

Each metric on its own (acceptance, first response, resolution). Time left in at most two
units (``1d 4h``, ``35m``); negative and red only once the metric actually breached;
amber inside the warning threshold; a pause symbol while the ticket waits on the customer;
a tick or a cross once met or breached. Customers see one word instead: on track, at risk
or overdue. The page's script repeats :func:`format_span` and the tone rules to tick.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from desk.sla.contracts import ClockReport, Metric, MetricReport, MetricState

LABELS = {
    Metric.ACCEPT: "Accept",
    Metric.FIRST_RESPONSE: "First response",
    Metric.RESOLUTION: "Resolution",
}

# Tones: the colour and meaning of a metric on the page (CSS classes ``sla-<tone>``).
OK, WARNING, BREACHED, MET, PAUSED, IDLE = "ok", "warning", "breached", "met", "paused", "idle"
SYMBOLS = {MET: "\u2713", BREACHED: "\u2717", PAUSED: "\u23f8"}

ON_TRACK, AT_RISK, OVERDUE = "On track", "At risk", "Overdue"


def format_span(seconds: float) -> str:
    """A duration in at most two units, the larger first: ``1d 4h``, ``2h 5m``, ``35m``,
    ``45s``; negative with a leading minus. Whole units only (rounded down)."""
    whole = int(abs(seconds))
    sign = "-" if seconds < 0 and whole else ""
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [f"{days}d", f"{hours}h" if hours else ""]
    elif hours:
        parts = [f"{hours}h", f"{minutes}m" if minutes else ""]
    elif minutes:
        parts = [f"{minutes}m"]
    else:
        parts = [f"{secs}s"]
    return sign + " ".join(p for p in parts if p)


def format_instant(instant: datetime) -> str:
    """The exact instant, in UTC (the page's script rewrites it in the viewer's zone)."""
    return instant.strftime("%Y-%m-%d %H:%M:%S UTC")


def warn_instant(
    due_at: datetime | None, target_seconds: float | None, percent: int
) -> datetime | None:
    """When a metric due at ``due_at`` enters its warning threshold (``percent`` of the
    target elapsed), counting wall-clock time: what a list knows without the live clock."""
    if due_at is None or target_seconds is None or percent >= 100:
        return None
    return due_at - timedelta(seconds=target_seconds * (100 - percent) / 100)


@dataclass(frozen=True)
class MetricView:
    """One metric as the page shows it."""

    metric: str
    label: str
    tone: str
    symbol: str
    text: str
    due_at: datetime | None
    warn_at: datetime | None
    ticking: bool  # the script counts it down each second

    @property
    def title(self) -> str:
        return f"{self.label} due {format_instant(self.due_at)}" if self.due_at else self.label

    @property
    def due_iso(self) -> str:
        return self.due_at.isoformat() if self.due_at else ""

    @property
    def warn_iso(self) -> str:
        return self.warn_at.isoformat() if self.warn_at else ""


def metric_view(
    report: MetricReport, now: datetime, paused_at: datetime | None
) -> MetricView | None:
    """The view of one metric at ``now``; None for a metric without a target."""
    state = report.state
    if state is MetricState.UNTRACKED:
        return None
    due, warn = report.due_at, report.warn_at
    tone, text, ticking = IDLE, "", False
    if state is MetricState.BREACHED:
        tone = BREACHED
        until = report.met_at or now
        text = format_span(-(until - due).total_seconds()) if due else "breached"
        ticking = report.met_at is None and not report.paused
    elif state is MetricState.MET:
        tone, text = MET, "met"
    elif state is MetricState.PAUSED:
        tone = PAUSED
        remaining = report.remaining_seconds
        if remaining is None and due is not None:
            remaining = (due - (paused_at or now)).total_seconds()
        text = "paused" if remaining is None else format_span(max(remaining, 0))
    elif state is MetricState.RUNNING and due is not None:
        left = (due - now).total_seconds()
        # Not breached yet (its timer fires within a second): never negative before then.
        text = format_span(max(left, 0))
        tone = WARNING if left <= 0 or (warn is not None and now >= warn) else OK
        ticking = True
    elif state is MetricState.NOT_STARTED:
        text = "not started"
    elif state is MetricState.STOPPED:
        text = "stopped"
    return MetricView(
        metric=report.metric.value,
        label=LABELS[report.metric],
        tone=tone,
        symbol=SYMBOLS.get(tone, ""),
        text=text,
        due_at=due,
        warn_at=warn,
        ticking=ticking,
    )


def clock_views(
    clock: ClockReport,
    now: datetime,
    *,
    targets: dict[Metric, float | None] | None = None,
    warn_percent: int | None = None,
) -> list[MetricView]:
    """Every metric with a target, in order. A clock read from the stored row has no
    warning instants: ``targets`` and ``warn_percent`` (the policy's) supply them."""
    views = []
    for report in clock.metrics():
        if report.warn_at is None and targets and warn_percent is not None:
            warn = warn_instant(report.due_at, targets.get(report.metric), warn_percent)
            report = _with_warn(report, warn)
        view = metric_view(report, now, clock.paused_at)
        if view is not None:
            views.append(view)
    return views


def customer_status(views: list[MetricView]) -> str | None:
    """The one word a customer sees: overdue once any metric breached, at risk inside a
    warning threshold, on track while a clock runs or waits; None when nothing runs."""
    tones = {view.tone for view in views}
    if BREACHED in tones:
        return OVERDUE
    if WARNING in tones:
        return AT_RISK
    if tones & {OK, PAUSED}:
        return ON_TRACK
    return None


def _with_warn(report: MetricReport, warn_at: datetime | None) -> MetricReport:
    return replace(report, warn_at=warn_at)
