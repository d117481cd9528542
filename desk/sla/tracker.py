"""The per-ticket SLA state machine: pure, deterministic, serializable.

The ticket workflow owns one :class:`SlaState` and feeds it every event with ``workflow.now()``;
nothing here reads a clock or does I/O. Every transition mutates the state in place and returns
the :class:`SlaEvent` s (warnings, breaches) that became due up to ``now``, oldest first: the
workflow sends one notification per event (idempotency key: ticket id + ``event.key``), writes
:func:`projection`, and sleeps until :func:`next_deadline`, calling :func:`fire_due` when that
timer fires.

Metrics (business time in the current policy's calendar; ``None`` calendar = 24x7):

- ``accept``: from creation until acceptance; has a target only if the policy sets
  ``accept_minutes`` (otherwise it is measured but ``untracked``).
- ``first_response``: from acceptance until the first public staff comment.
- ``resolution``: from acceptance until RESOLVED.

Clock rules:

- WAITING_CUSTOMER pauses every running metric (:func:`on_paused` / :func:`on_resumed`);
  ``paused_seconds`` adds each finished pause's wall-clock length (``sla_paused_duration``).
- RESOLVED stops first response and resolution (``resolution.met_at`` = the resolve instant);
  :func:`on_reopened` resumes both where they stopped (nothing is reset; only the resolution's
  ``met_at`` is cleared, since the ticket is unresolved again). CLOSED stops everything for good.
- Due dates: when a metric (re)starts at ``t`` with business time ``e`` already elapsed,
  ``due_at = add_business_time(t, target - e)``. While a metric is paused or stopped its stored
  ``due_at``/``warn_at`` keep their last values and arm no timer; on resume they are recomputed,
  i.e. moved later by exactly the business time the pause lasted.
- A target change (:func:`on_targets_changed`, e.g. priority change) keeps the elapsed business
  time (banked under the old calendar), applies the new targets and calendar to unmet metrics
  and recomputes their due dates; if a new target is already reached the breach is due ``now``
  and fires within that same call. A warning already sent is re-armed (next ``cycle``) only if
  the new warning threshold lies ahead.
- A breach is a permanent fact: ``breached_at`` (= the due instant) and the due date it was
  measured against never change afterwards. A warning fires only if it is due strictly before
  the breach (no warning together with an immediate breach). Each fires exactly once: its
  ``warned_at``/``breached_at`` is set when it is returned.
- Before applying any event, a transition fires what was already due at ``now`` (a timer and an
  update may race): a first response or a resolve at or after the due instant is late.

Report facts (:func:`facts`, one :class:`MetricFact` per started metric; the projection
writes them to ``sla_facts`` with the ticket row, and the SLA reports read nothing else):

- ``started_at``: when the metric's clock started, which decides the reporting period a fact
  counts in: creation for ``accept`` (so a ticket not yet accepted counts for acceptance from
  the day it was filed), acceptance (``sla_started_at``) for ``first_response`` and
  ``resolution``. A metric that has not started has no fact.
- ``outcome``: :func:`metric_state` of the metric, first match wins: ``breached`` (a target
  was missed, whatever happened next: met late counts as breached), ``untracked`` (the
  policy sets no target, acceptance only), ``met`` (in time), ``stopped`` (the clock stopped
  before it was met: a first response on a ticket resolved or closed without a public staff
  reply, an acceptance on a ticket closed while NEW), ``paused`` (the ticket waits on the
  customer), ``running``.
- ``business_seconds``: the business time the metric's clock ran (paused time excluded, in
  the calendars of the policies in force), from its start until it was met or stopped;
  ``None`` while it can still run (running, paused, or a resolution reopened). Banked by
  the transition that met or stopped it, so exact to the microsecond, never recomputed.
- ``paused_seconds``: the wall-clock time the metric's clock spent paused so far (pauses
  after it was met or stopped do not count; a pause in progress counts from the next
  transition on). Final once ``business_seconds`` is set.
- ``target_seconds``: the target a breach broke (``breached_target_seconds``), else the
  current one; ``None`` when untracked. A breached metric's lateness is ``business_seconds -
  target_seconds``, known once it was met or stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from desk.enums import TicketStatus
from desk.sla.clock import BusinessCalendar, add_business_time, business_time_between
from desk.sla.contracts import (
    CalendarSpec,
    ClockReport,
    Deadline,
    EventKind,
    Metric,
    MetricClock,
    MetricReport,
    MetricState,
    SlaEvent,
    SlaState,
    SlaStatus,
    SlaTargets,
)

__all__ = [
    "BREACHED_COLUMNS",
    "CalendarSpec",
    "ClockReport",
    "Deadline",
    "EventKind",
    "Metric",
    "MetricClock",
    "MetricFact",
    "MetricReport",
    "MetricState",
    "SlaEvent",
    "SlaState",
    "SlaStatus",
    "SlaTargets",
    "clock_report",
    "facts",
    "fire_due",
    "is_breached",
    "metric_state",
    "next_deadline",
    "on_accepted",
    "on_closed",
    "on_created",
    "on_paused",
    "on_public_staff_comment",
    "on_reopened",
    "on_resolved",
    "on_resumed",
    "on_status",
    "on_targets_changed",
    "projection",
    "sla_state",
    "sla_status",
    "stored_sla_status",
]

METRICS = (Metric.ACCEPT, Metric.FIRST_RESPONSE, Metric.RESOLUTION)
_ZERO = timedelta(0)


# --- transitions ------------------------------------------------------------------------------


def on_created(state: SlaState, now: datetime, targets: SlaTargets | None) -> list[SlaEvent]:
    """The ticket exists (status NEW): the acceptance clock starts. Ignored if repeated."""

    def change(now: datetime) -> None:
        state.created_at = now
        state.targets = targets
        state.accept.started_at = now
        state.accept.target_seconds = None if targets is None else targets.accept_seconds

    return _transition(state, now, change, when=state.created_at is None)


def on_accepted(
    state: SlaState, now: datetime, targets: SlaTargets | None = None
) -> list[SlaEvent]:
    """NEW -> ACCEPTED: acceptance is met, first response and resolution start.

    ``targets`` are the policy matched at acceptance (default: the current ones). Ignored if
    already accepted or closed.
    """
    targets = targets or state.targets
    if targets is None:
        raise ValueError("an SLA cannot start without targets")

    def change(now: datetime) -> None:
        state.targets = targets
        state.started_at = now
        if state.accept.started_at is not None:
            state.accept.met_at = now
        for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
            clock = state.clock(metric)
            clock.started_at = now
            clock.target_seconds = targets.target_for(metric)

    return _transition(
        state, now, change, when=state.started_at is None and state.closed_at is None
    )


def on_paused(state: SlaState, now: datetime) -> list[SlaEvent]:
    """Entered WAITING_CUSTOMER: every running clock pauses. Ignored if already paused."""

    def change(now: datetime) -> None:
        state.paused_at = now

    return _transition(state, now, change, when=state.paused_at is None and state.closed_at is None)


def on_resumed(state: SlaState, now: datetime) -> list[SlaEvent]:
    """Left WAITING_CUSTOMER: the pause is counted and due dates move later. Ignored if not
    paused."""
    return _transition(
        state, now, lambda now: _end_pause(state, now), when=state.paused_at is not None
    )


def on_public_staff_comment(state: SlaState, now: datetime) -> list[SlaEvent]:
    """A public comment by staff: the first one after acceptance meets first response.

    Call it for every public staff comment; the others are ignored.
    """
    clock = state.first_response

    def change(now: datetime) -> None:
        clock.met_at = now

    return _transition(
        state,
        now,
        change,
        when=clock.started_at is not None and clock.met_at is None and state.closed_at is None,
    )


def on_resolved(state: SlaState, now: datetime) -> list[SlaEvent]:
    """Entered RESOLVED: the resolution is met, every clock stops (a pause ends here)."""

    def change(now: datetime) -> None:
        _end_pause(state, now)
        state.stopped_at = now
        if state.resolution.started_at is not None:
            state.resolution.met_at = now

    return _transition(
        state, now, change, when=state.stopped_at is None and state.closed_at is None
    )


def on_reopened(state: SlaState, now: datetime) -> list[SlaEvent]:
    """RESOLVED -> reopened: the clocks resume where they stopped. Ignored unless resolved."""

    def change(now: datetime) -> None:
        state.stopped_at = None
        state.resolution.met_at = None

    return _transition(
        state, now, change, when=state.stopped_at is not None and state.closed_at is None
    )


def on_closed(state: SlaState, now: datetime) -> list[SlaEvent]:
    """CLOSED: every clock stops for good (a pause ends here). Breach facts stay."""

    def change(now: datetime) -> None:
        _end_pause(state, now)
        state.closed_at = now

    return _transition(state, now, change, when=state.closed_at is None)


def on_targets_changed(state: SlaState, now: datetime, targets: SlaTargets) -> list[SlaEvent]:
    """New policy (priority change): elapsed time kept, new targets and due dates for every
    metric not yet met (and for a resolved ticket's resolution, used if it is reopened); a
    target already exceeded breaches now (returned). Ignored once closed."""

    def change(now: datetime) -> None:
        state.targets = targets
        for metric in METRICS:
            clock = state.clock(metric)
            # A resolution is met only until a reopen: a resolved ticket takes the new target.
            met_for_good = clock.met_at is not None and metric is not Metric.RESOLUTION
            if clock.started_at is None or met_for_good:
                continue
            clock.target_seconds = targets.target_for(metric)
            if clock.warned_at is not None and clock.breached_at is None:
                threshold = _warn_threshold(clock.target_seconds, targets.warn_at_percent)
                if threshold is not None and threshold > _banked(clock):
                    clock.warned_at = None
                    clock.warning_cycle += 1

    return _transition(state, now, change, when=state.closed_at is None)


def on_status(state: SlaState, now: datetime, status: str) -> list[SlaEvent]:
    """Apply the ticket's new lifecycle status (after NEW -> ACCEPTED, which needs
    :func:`on_accepted`): pause, resume, resolve, reopen or close as the status implies."""
    status = TicketStatus(status)
    if status is TicketStatus.CLOSED:
        return on_closed(state, now)
    if status is TicketStatus.RESOLVED:
        return on_resolved(state, now)
    events = on_reopened(state, now) if state.stopped_at is not None else []
    if status is TicketStatus.WAITING_CUSTOMER:
        return events + on_paused(state, now)
    return events + on_resumed(state, now)


def fire_due(state: SlaState, now: datetime) -> list[SlaEvent]:
    """Mark and return the warnings and breaches due at or before ``now``, oldest first.

    Only running clocks can fire, each warning/breach once: a second call returns nothing.
    """
    now = _utc(now)
    events: list[SlaEvent] = []
    for deadline in _pending(state):
        if deadline.at > now:
            continue
        clock = state.clock(deadline.metric)
        if deadline.kind is EventKind.WARNING:
            clock.warned_at = deadline.at
        else:
            clock.breached_at = deadline.at
            clock.breached_target_seconds = clock.target_seconds
        events.append(_event(deadline.metric, clock, deadline.kind, deadline.at))
    return events


# --- reading the state ------------------------------------------------------------------------


def next_deadline(state: SlaState) -> Deadline | None:
    """The earliest pending warning or breach of a running clock: sleep until ``at``."""
    return next(iter(_pending(state)), None)


def is_breached(state: SlaState) -> bool:
    """The one definition of a breached ticket: any of its metrics (acceptance included)
    missed its target. Permanent. On the stored row it reads "any of
    :data:`BREACHED_COLUMNS` is set"; the ``SlaBreached`` search attribute, ``sla_state``
    and the ``breached`` list filter all follow it."""
    return any(state.clock(m).breached_at is not None for m in METRICS)


def sla_status(*, started: bool, paused: bool, stopped: bool, breached: bool) -> SlaStatus:
    """The ticket-level ``sla_state`` from four facts, so the API can compute it from the
    projection alone: ``started`` = sla_started_at set, ``paused`` = sla_paused_at set,
    ``stopped`` = RESOLVED or CLOSED, ``breached`` = any of :data:`BREACHED_COLUMNS` set."""
    if breached:
        return SlaStatus.BREACHED
    if not started:
        return SlaStatus.NOT_STARTED
    if stopped:
        return SlaStatus.STOPPED
    if paused:
        return SlaStatus.PAUSED
    return SlaStatus.RUNNING


def stored_sla_status(row: Any) -> SlaStatus:
    """:func:`sla_state` of a stored ticket (an object with the columns of
    :func:`projection` and ``status``), so a read needs no workflow."""
    return sla_status(
        started=row.sla_started_at is not None,
        paused=row.sla_paused_at is not None,
        stopped=row.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED),
        breached=any(getattr(row, column) is not None for column in BREACHED_COLUMNS),
    )


def sla_state(state: SlaState) -> SlaStatus:
    """The ticket-level summary: breached > not_started > stopped > paused > running."""
    return sla_status(
        started=state.started_at is not None,
        paused=state.paused_at is not None,
        stopped=state.stopped_at is not None or state.closed_at is not None,
        breached=is_breached(state),
    )


def metric_state(
    *, started: bool, tracked: bool, met: bool, breached: bool, stopped: bool, paused: bool
) -> MetricState:
    """What one metric's clock is doing, from facts the stored row also knows (so a ticket
    whose workflow is gone reports the same): ``tracked`` = the policy sets a target,
    ``stopped`` = RESOLVED or CLOSED, ``paused`` = WAITING_CUSTOMER."""
    if breached:
        return MetricState.BREACHED
    if started and not tracked:
        return MetricState.UNTRACKED
    if met:
        return MetricState.MET
    if not started:
        return MetricState.NOT_STARTED
    if stopped:
        return MetricState.STOPPED
    if paused:
        return MetricState.PAUSED
    return MetricState.RUNNING


def clock_report(state: SlaState, now: datetime) -> ClockReport:
    """The live clock (answer of the workflow query behind ``GET /tickets/{id}/sla``).

    A paused metric reports its last due date (it moves when the pause ends) and
    ``paused=True``; ``remaining_seconds`` is exact in every state.
    """
    now = _utc(now)
    paused_seconds = timedelta(seconds=state.paused_seconds)
    if state.paused_at is not None:
        paused_seconds += max(now - state.paused_at, _ZERO)
    reports = {metric: _metric_report(state, metric, now) for metric in METRICS}
    return ClockReport(
        now=now,
        sla_state=sla_state(state),
        policy_id=None if state.targets is None else state.targets.policy_id,
        started_at=state.started_at,
        paused_at=state.paused_at,
        paused_seconds=_seconds(paused_seconds),
        accept=reports[Metric.ACCEPT],
        first_response=reports[Metric.FIRST_RESPONSE],
        resolution=reports[Metric.RESOLUTION],
    )


# The row columns of :func:`projection` that hold the breach instants, one per metric.
BREACHED_COLUMNS = ("accept_breached_at", "first_response_breached_at", "sla_breached_at")


def projection(state: SlaState) -> dict[str, Any]:
    """The ticket columns the SLA owns, keyed by column name (``sla_policy_id`` is the
    policy id string; the projection writer turns it into a UUID)."""
    return {
        "sla_policy_id": None if state.targets is None else state.targets.policy_id,
        "sla_started_at": state.started_at,
        "sla_accept_due_at": state.accept.due_at,
        "sla_first_response_due_at": state.first_response.due_at,
        "sla_due_at": state.resolution.due_at,
        "sla_paused_at": state.paused_at,
        "sla_paused_duration": round(state.paused_seconds),
        "first_responded_at": state.first_response.met_at,
        "accept_breached_at": state.accept.breached_at,
        "first_response_breached_at": state.first_response.breached_at,
        "sla_breached_at": state.resolution.breached_at,
    }


@dataclass(frozen=True)
class MetricFact:
    """What the reports know of one metric of one ticket (see the module docstring)."""

    metric: Metric
    outcome: MetricState
    started_at: datetime
    target_seconds: float | None
    due_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None
    business_seconds: float | None
    paused_seconds: float


def facts(state: SlaState) -> list[MetricFact]:
    """The report facts of every started metric, in :data:`METRICS` order."""
    found = []
    for metric in METRICS:
        clock = state.clock(metric)
        if clock.started_at is None:
            continue
        ended = not _would_run_unpaused(state, clock)  # met, or stopped by RESOLVED/CLOSED
        # (A breach carried from before its target was recorded reads the current target.)
        broken = clock.breached_target_seconds
        found.append(
            MetricFact(
                metric=metric,
                outcome=_metric_state(state, clock),
                started_at=clock.started_at,
                target_seconds=clock.target_seconds if broken is None else broken,
                due_at=clock.due_at,
                met_at=clock.met_at,
                breached_at=clock.breached_at,
                business_seconds=clock.elapsed_seconds if ended else None,
                paused_seconds=clock.paused_seconds,
            )
        )
    return found


# --- internals --------------------------------------------------------------------------------


def _transition(
    state: SlaState, now: datetime, change: Callable[[datetime], None], *, when: bool
) -> list[SlaEvent]:
    """Fire what is due, stop the clocks, apply ``change`` (if ``when``), restart the clocks
    that should run (recomputing their due dates) and fire what the change made due."""
    now = _utc(now)
    events = fire_due(state, now)
    if not when:
        return events
    _bank(state, now)
    change(now)
    _rearm(state, now)
    return events + fire_due(state, now)


def _pending(state: SlaState) -> list[Deadline]:
    """Warnings and breaches still to fire, in firing order (paused/stopped clocks arm none)."""
    pending: list[Deadline] = []
    for metric in METRICS:
        clock = state.clock(metric)
        if clock.running_since is None or clock.breached_at is not None:
            continue
        if clock.target_seconds is None or clock.due_at is None:
            continue
        if clock.warned_at is None and clock.warn_at is not None and clock.warn_at < clock.due_at:
            pending.append(Deadline(clock.warn_at, metric, EventKind.WARNING))
        pending.append(Deadline(clock.due_at, metric, EventKind.BREACH))
    pending.sort(key=lambda d: (d.at, METRICS.index(d.metric), d.kind is EventKind.BREACH))
    return pending


def _calendar(state: SlaState) -> BusinessCalendar | None:
    return None if state.targets is None else state.targets.business_calendar()


def _should_run(state: SlaState, clock: MetricClock) -> bool:
    return (
        clock.started_at is not None
        and clock.met_at is None
        and state.paused_at is None
        and state.stopped_at is None
        and state.closed_at is None
    )


def _banked(clock: MetricClock) -> timedelta:
    return timedelta(seconds=clock.elapsed_seconds)


def _elapsed(state: SlaState, clock: MetricClock, now: datetime) -> timedelta:
    elapsed = _banked(clock)
    if clock.running_since is not None:
        elapsed += business_time_between(_calendar(state), clock.running_since, now)
    return elapsed


def _bank(state: SlaState, now: datetime) -> None:
    for metric in METRICS:
        clock = state.clock(metric)
        if clock.running_since is not None:
            clock.elapsed_seconds = _seconds(_elapsed(state, clock, now))
            clock.running_since = None
        paused_since = clock.paused_since
        if paused_since is None and state.paused_at is not None:
            # A state carried from before ``paused_since`` was recorded: no metric starts
            # during a pause, so one that would run has been paused since the pause began.
            paused_since = state.paused_at if _would_run_unpaused(state, clock) else None
        if paused_since is not None:
            paused = timedelta(seconds=clock.paused_seconds) + max(now - paused_since, _ZERO)
            clock.paused_seconds = _seconds(paused)
            clock.paused_since = None


def _rearm(state: SlaState, now: datetime) -> None:
    calendar = _calendar(state)
    percent = 100 if state.targets is None else state.targets.warn_at_percent
    for metric in METRICS:
        clock = state.clock(metric)
        if not _should_run(state, clock):
            if state.paused_at is not None and _would_run_unpaused(state, clock):
                clock.paused_since = now
            continue
        clock.running_since = now
        if clock.target_seconds is None:
            clock.due_at = clock.warn_at = None
            continue
        if clock.breached_at is not None:
            continue  # the due date a breach was measured against is part of the fact
        elapsed = _banked(clock)
        clock.due_at = _instant_after(
            calendar, now, timedelta(seconds=clock.target_seconds), elapsed
        )
        if clock.warned_at is None:
            threshold = _warn_threshold(clock.target_seconds, percent)
            clock.warn_at = (
                None if threshold is None else _instant_after(calendar, now, threshold, elapsed)
            )


def _instant_after(
    calendar: BusinessCalendar | None, now: datetime, threshold: timedelta, elapsed: timedelta
) -> datetime:
    """When a clock running from ``now`` with ``elapsed`` banked reaches ``threshold``."""
    if threshold <= elapsed:
        return now
    return add_business_time(calendar, now, threshold - elapsed)


def _warn_threshold(target_seconds: float | None, percent: int) -> timedelta | None:
    if target_seconds is None or percent >= 100:
        return None
    return timedelta(seconds=target_seconds * percent / 100)


def _end_pause(state: SlaState, now: datetime) -> None:
    if state.paused_at is not None:
        paused = timedelta(seconds=state.paused_seconds) + max(now - state.paused_at, _ZERO)
        state.paused_seconds = _seconds(paused)
        state.paused_at = None


def _event(metric: Metric, clock: MetricClock, kind: EventKind, at: datetime) -> SlaEvent:
    assert clock.due_at is not None and clock.target_seconds is not None
    cycle = clock.warning_cycle if kind is EventKind.WARNING else 0
    return SlaEvent(
        metric=metric,
        kind=kind,
        at=at,
        due_at=clock.due_at,
        target_seconds=clock.target_seconds,
        cycle=cycle,
        key=f"{metric.value}:{kind.value}:{cycle}",
    )


def _metric_report(state: SlaState, metric: Metric, now: datetime) -> MetricReport:
    clock = state.clock(metric)
    elapsed = _elapsed(state, clock, now)
    target = clock.target_seconds
    return MetricReport(
        metric=metric,
        state=_metric_state(state, clock),
        paused=state.paused_at is not None and _would_run_unpaused(state, clock),
        target_seconds=target,
        elapsed_seconds=_seconds(elapsed),
        remaining_seconds=None if target is None else _seconds(timedelta(seconds=target) - elapsed),
        due_at=clock.due_at,
        warn_at=clock.warn_at,
        met_at=clock.met_at,
        breached_at=clock.breached_at,
    )


def _metric_state(state: SlaState, clock: MetricClock) -> MetricState:
    return metric_state(
        started=clock.started_at is not None,
        tracked=clock.target_seconds is not None,
        met=clock.met_at is not None,
        breached=clock.breached_at is not None,
        stopped=state.stopped_at is not None or state.closed_at is not None,
        paused=state.paused_at is not None,
    )


def _would_run_unpaused(state: SlaState, clock: MetricClock) -> bool:
    return (
        clock.started_at is not None
        and clock.met_at is None
        and state.stopped_at is None
        and state.closed_at is None
    )


def _seconds(amount: timedelta) -> float:
    return amount.total_seconds()


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant.isoformat()}: an aware instant is required")
    return instant.astimezone(UTC)
