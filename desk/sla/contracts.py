"""Plain data of the SLA engine: targets, per-ticket clock state, events and live reports.

Dataclasses of primitives and aware datetimes only, so they travel unchanged through
Temporal's default JSON data converter (workflow state, queries, continue-as-new). No
pydantic, no SQLAlchemy; the behaviour lives in :mod:`desk.sla.tracker`.

No ``from __future__ import annotations`` here, on purpose: Temporal's converter resolves
field types with ``typing.get_type_hints``, and inside the workflow sandbox string annotations
can only be resolved if this module was imported there by name. Real annotations always work.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from desk.sla.clock import BusinessCalendar, cached_calendar


class Metric(StrEnum):
    ACCEPT = "accept"
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"

    @property
    def label(self) -> str:
        """Human wording, as in timer names (``SLA first response due``) and notifications."""
        return {"accept": "acceptance", "first_response": "first response"}.get(
            self.value, self.value
        )


class EventKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"


class MetricState(StrEnum):
    """What one metric's clock is doing (reported per metric by the live clock)."""

    UNTRACKED = "untracked"  # the policy sets no target for it (acceptance only)
    NOT_STARTED = "not_started"
    RUNNING = "running"
    PAUSED = "paused"  # ticket WAITING_CUSTOMER
    STOPPED = "stopped"  # ticket RESOLVED or CLOSED before the metric was met
    MET = "met"
    BREACHED = "breached"  # permanent, whatever happens next


class SlaStatus(StrEnum):
    """The ticket-level summary exposed as ``sla_state``."""

    NOT_STARTED = "not_started"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    BREACHED = "breached"


@dataclass(frozen=True)
class CalendarSpec:
    """A business calendar as stored (see :meth:`BusinessCalendar.from_spec`)."""

    timezone: str
    weekly_hours: dict[str, list[list[str]]]
    holidays: list[str] = field(default_factory=list)

    def to_calendar(self) -> BusinessCalendar:
        """The clock calendar (validated, memoized); raises ``InvalidCalendar``."""
        return cached_calendar(self.timezone, self.weekly_hours, self.holidays)


@dataclass(frozen=True)
class SlaTargets:
    """What the ticket's matching policy demands. ``calendar=None`` means 24x7."""

    policy_id: str | None
    first_response_seconds: float
    resolution_seconds: float
    accept_seconds: float | None = None
    warn_at_percent: int = 80
    calendar: CalendarSpec | None = None

    def __post_init__(self) -> None:
        for name in ("first_response_seconds", "resolution_seconds", "accept_seconds"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if not 1 <= self.warn_at_percent <= 100:
            raise ValueError(f"warn_at_percent must be 1..100, got {self.warn_at_percent}")
        if self.calendar is not None:
            self.calendar.to_calendar()  # refuse a broken calendar here, not in a timer

    @classmethod
    def from_minutes(
        cls,
        policy_id: str | None,
        *,
        first_response_minutes: float,
        resolution_minutes: float,
        accept_minutes: float | None = None,
        warn_at_percent: int = 80,
        calendar: CalendarSpec | None = None,
    ) -> Self:
        """Targets from a policy row (policies state minutes)."""
        return cls(
            policy_id=policy_id,
            first_response_seconds=first_response_minutes * 60,
            resolution_seconds=resolution_minutes * 60,
            accept_seconds=None if accept_minutes is None else accept_minutes * 60,
            warn_at_percent=warn_at_percent,
            calendar=calendar,
        )

    @classmethod
    def from_policy_snapshot(cls, snapshot: Mapping[str, Any]) -> Self:
        """Targets from ``desk.sla.service.policy_snapshot``'s plain JSON shape (extra keys
        such as names and ids are ignored; ``calendar: None`` means 24x7)."""
        calendar = snapshot.get("calendar")
        return cls.from_minutes(
            snapshot.get("policy_id"),
            first_response_minutes=snapshot["first_response_minutes"],
            resolution_minutes=snapshot["resolution_minutes"],
            accept_minutes=snapshot.get("accept_minutes"),
            warn_at_percent=snapshot.get("warn_at_percent", 80),
            calendar=None
            if calendar is None
            else CalendarSpec(
                timezone=calendar["timezone"],
                weekly_hours=calendar["weekly_hours"],
                holidays=list(calendar.get("holidays", [])),
            ),
        )

    def business_calendar(self) -> BusinessCalendar | None:
        return None if self.calendar is None else self.calendar.to_calendar()

    def target_for(self, metric: Metric) -> float | None:
        return {
            Metric.ACCEPT: self.accept_seconds,
            Metric.FIRST_RESPONSE: self.first_response_seconds,
            Metric.RESOLUTION: self.resolution_seconds,
        }[metric]


@dataclass
class MetricClock:
    """One metric's clock. Business seconds are banked in ``elapsed_seconds`` whenever the
    clock stops; while it runs, the live elapsed time adds business time since
    ``running_since``."""

    target_seconds: float | None = None
    started_at: datetime | None = None
    elapsed_seconds: float = 0.0
    running_since: datetime | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    met_at: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    warning_cycle: int = 0  # bumped when a target change re-arms an already sent warning
    # Facts for the reports (``tracker.facts``): the target a breach broke (a later
    # priority change moves ``target_seconds``, not the promise that was missed), and the
    # wall-clock time this metric spent paused: banked pauses, plus the one in progress
    # since ``paused_since`` (set while the ticket waits and this metric would run).
    breached_target_seconds: float | None = None
    paused_seconds: float = 0.0
    paused_since: datetime | None = None


@dataclass
class SlaState:
    """A ticket's SLA clock (all instants UTC). Create empty, then ``tracker.on_created``."""

    targets: SlaTargets | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None  # = accepted_at (sla_started_at)
    paused_at: datetime | None = None  # set while WAITING_CUSTOMER (sla_paused_at)
    paused_seconds: float = 0.0  # wall-clock time of finished pauses (sla_paused_duration)
    stopped_at: datetime | None = None  # set while RESOLVED
    closed_at: datetime | None = None  # CLOSED: every clock stopped for good
    accept: MetricClock = field(default_factory=MetricClock)
    first_response: MetricClock = field(default_factory=MetricClock)
    resolution: MetricClock = field(default_factory=MetricClock)

    def clock(self, metric: Metric) -> MetricClock:
        return getattr(self, metric.value)


@dataclass(frozen=True)
class SlaEvent:
    """A warning or breach that just happened; the workflow notifies once per ``key``.

    ``key`` (``"{metric}:{kind}:{cycle}"``) is unique per ticket: prefix it with the ticket
    id for the notifications' idempotency constraint.
    """

    metric: Metric
    kind: EventKind
    at: datetime  # the instant the threshold was crossed (= breached_at / warning instant)
    due_at: datetime
    target_seconds: float
    cycle: int
    key: str


@dataclass(frozen=True)
class Deadline:
    """The next instant the workflow must wake up for (then call ``tracker.fire_due``)."""

    at: datetime
    metric: Metric
    kind: EventKind

    @property
    def timer_name(self) -> str:
        """E.g. ``SLA resolution due``, ``SLA first response warning``."""
        word = "due" if self.kind is EventKind.BREACH else "warning"
        return f"SLA {self.metric.label} {word}"


@dataclass(frozen=True)
class MetricReport:
    """One metric of the live clock (``GET /tickets/{id}/sla``)."""

    metric: Metric
    state: MetricState
    paused: bool
    target_seconds: float | None
    elapsed_seconds: float
    remaining_seconds: float | None  # target - elapsed; negative once overdue
    due_at: datetime | None
    warn_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None


@dataclass(frozen=True)
class ClockReport:
    """The live SLA clock of a ticket at ``now``."""

    now: datetime
    sla_state: SlaStatus
    policy_id: str | None
    started_at: datetime | None
    paused_at: datetime | None
    paused_seconds: float  # includes the pause in progress, up to now
    accept: MetricReport
    first_response: MetricReport
    resolution: MetricReport

    def metrics(self) -> list[MetricReport]:
        return [self.accept, self.first_response, self.resolution]
