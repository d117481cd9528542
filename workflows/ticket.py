"""TicketWorkflow: the single writer of a ticket's status, assignee, priority and SLA clock.

Requests arrive as Workflow Updates. A validator (the pure rules of
``desk.tickets.lifecycle``) rejects what may not happen, so a rejected request never enters
history. An accepted update changes the state at once and then waits until the projector
loop in ``run`` has written that state (and the audit lines and comments that came with it)
to the database in one transaction; only then does the caller get its answer.

The projector coalesces: whatever accumulated while a write was in flight goes out in the
next write. If the database is down the write is retried with backoff for as long as it
takes; nothing accepted is lost.

Nothing reaches the database before history holds it. A workflow task that accepts an
update can still be lost (its worker killed, its timeout passed), and then the update never
happened; so a change an update made is written by a regular activity, which the server
dispatches only once that task is recorded. Changes the timers alone decided are written by
a local activity inside their task: a retried task decides them again, the same, because an
update first applies whatever had fallen due (``_apply``), so they always come first.

The SLA clock (``desk.sla.tracker``) lives in the state and is fed every event. The loop
sleeps on one durable timer, named in the UI, until the earliest of the next SLA warning or
due instant and the auto-close instant; any change re-arms it. A warning or breach becomes
an audit line and the in-app notifications, written by the projection in one transaction
(the breach is never visible without its notices), plus one activity per remote channel
(email, webhooks), so a failing one never holds up the other or the ticket.

The search attributes ops query in the Web UI (``desk.tickets.search_index``) follow the
state: the loop upserts whichever changed, once per projected change.

Replay guard: the histories under ``tests/histories`` must keep replaying. A change that
would record different commands for them goes behind ``workflow.patched`` (README,
"Changing the workflow").
"""

from __future__ import annotations

import asyncio
import copy
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from desk.enums import Priority, Role, TicketStatus
    from desk.notifications.contracts import SlaNotice
    from desk.sla import tracker
    from desk.sla.contracts import ClockReport, EventKind, SlaEvent, SlaTargets
    from desk.tickets import lifecycle
    from desk.tickets.contracts import (
        AcceptRequest,
        ActorRef,
        AssignRequest,
        AuditItem,
        CommentItem,
        CommentRequest,
        PriorityRequest,
        ProjectionBatch,
        StatusRequest,
        TicketInput,
        TicketState,
    )
    from desk.tickets.search_index import ticket_index

# Continue-as-new well before Temporal's per-run cap of 2,000 updates.
MAX_UPDATES_PER_RUN = 1_000
# How many applied update ids travel across continue-as-new for idempotent retries.
RECENT_UPDATES_KEPT = 500

PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,  # forever: an accepted change must reach the database
)

# ApplicationError types the gateway maps to domain errors (desk.tickets.gateway).
ERROR_INVALID_TRANSITION = "InvalidTransition"
ERROR_FORBIDDEN = "Forbidden"
ERROR_TICKET_CLOSED = "TicketClosed"
ERROR_MISSING_SLA_TARGETS = "MissingSlaTargets"

AUTO_CLOSE_TIMER = "Auto-close resolved ticket"

# Histories recorded before it projected updates inside their accepting task.
PATCH_PROJECT_AFTER_HISTORY = "project-updates-after-history"
# A projection is one short transaction; a worker lost mid-write hands it on after this.
PROJECTION_TIMEOUT = timedelta(seconds=15)

# Each remote channel of an SLA announcement is its own activity with its own patience:
# email and webhooks give up after an hour. (The in-app rows must land: they go with the
# projection, retried forever.)
REMOTE_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
REMOTE_CHANNELS = ("notify_email", "notify_webhooks")
REMOTE_GIVE_UP = timedelta(hours=1)


def _actor(ref: ActorRef) -> lifecycle.Actor:
    return lifecycle.Actor(id=ref.id, role=Role(ref.role))


@workflow.defn
class TicketWorkflow:
    @workflow.init
    def __init__(self, input: TicketInput) -> None:
        self._state: TicketState = input.state
        self._recent: deque[str] = deque(input.recent_update_ids, maxlen=RECENT_UPDATES_KEPT)
        self._audit: list[AuditItem] = []
        self._comments: list[CommentItem] = []
        # The state the workflow starts with is already in the database (the API wrote the
        # filed ticket, or the previous run wrote the carried state) and in the search
        # attributes (the API started the workflow with them; continue-as-new keeps them).
        self._projected = copy.deepcopy(input.state)
        self._updates_this_run = 0
        self._index_search_attributes = input.index_search_attributes
        self._indexed = dict(ticket_index(input.state))
        # SLA announcements still being delivered (carried over on continue-as-new), and
        # those whose in-app notifications the next projection writes.
        self._notices: list[SlaNotice] = []
        self._in_app: list[SlaNotice] = []
        # An update changed the state since the last projection began: the next one must
        # wait until the task that accepted it is in history.
        self._update_unprojected = False

    # --- the main loop: project, fire timers, continue-as-new, complete -----------------

    @workflow.run
    async def run(self, input: TicketInput) -> str:
        for notice in input.pending_notices:
            self._deliver_remotely(notice)
        while True:
            if self._needs_projection():
                self._upsert_search_attributes()
                await self._project()
                continue
            if self._finished() and workflow.all_handlers_finished() and not self._notices:
                return self._state.status
            if self._should_continue_as_new() and workflow.all_handlers_finished():
                workflow.continue_as_new(
                    TicketInput(
                        state=self._state,
                        recent_update_ids=list(self._recent),
                        index_search_attributes=self._index_search_attributes,
                        pending_notices=list(self._notices),
                    )
                )
            await self._wait_for_work_or_timer()

    def _needs_projection(self) -> bool:
        return self._state.version > self._projected.version or bool(self._in_app)

    def _finished(self) -> bool:
        return self._state.status == TicketStatus.CLOSED

    def _should_continue_as_new(self) -> bool:
        return (
            workflow.info().is_continue_as_new_suggested()
            or self._updates_this_run >= MAX_UPDATES_PER_RUN
        )

    async def _wait_for_work_or_timer(self) -> None:
        def ready() -> bool:
            if self._needs_projection():
                return True
            if not workflow.all_handlers_finished():
                return False
            return (self._finished() and not self._notices) or self._should_continue_as_new()

        deadline = self._next_deadline()
        if deadline is None:
            await workflow.wait_condition(ready)
            return
        instant, name = deadline
        seconds = (instant - workflow.now()).total_seconds()
        if seconds > 0:
            try:
                await workflow.wait_condition(ready, timeout=seconds, timeout_summary=name)
                return
            except TimeoutError:
                pass
        self._fire_timers()

    def _next_deadline(self) -> tuple[datetime, str] | None:
        """The earliest instant the loop must wake up for, and the timer's name."""
        deadlines: list[tuple[datetime, str]] = []
        if self._state.status == TicketStatus.RESOLVED and self._state.resolved_at:
            deadlines.append((self._auto_close_at(), AUTO_CLOSE_TIMER))
        if (sla := tracker.next_deadline(self._state.sla)) is not None:
            deadlines.append((sla.at, sla.timer_name))
        return min(deadlines, default=None)

    def _auto_close_at(self) -> datetime:
        assert self._state.resolved_at is not None
        return self._state.resolved_at + timedelta(days=self._state.auto_close_days)

    def _fire_timers(self) -> None:
        now = workflow.now()
        state = self._state
        self._sla(tracker.fire_due(state.sla, now))
        if state.status == TicketStatus.RESOLVED and now >= self._auto_close_at():
            self._set_status(TicketStatus.CLOSED, actor_id=None, action="auto_closed")

    # --- SLA ----------------------------------------------------------------------------

    def _sla(self, events: list[SlaEvent]) -> None:
        """Record and announce the warnings and breaches an SLA step produced."""
        state = self._state
        for event in events:
            breach = event.kind is EventKind.BREACH
            self._change(
                "sla_breached" if breach else "sla_warning",
                None,
                to_value=event.metric.value,
                is_internal=True,
                details={
                    "metric": event.metric.value,
                    "due_at": event.due_at.isoformat(),
                    "key": event.key,
                },
            )
            self._announce(
                SlaNotice(
                    ticket_id=state.ticket_id,
                    organization_id=state.organization_id,
                    ticket_number=state.number,
                    ticket_subject=state.subject,
                    priority=state.priority,
                    assignee_id=state.assigned_to,
                    metric=event.metric.value,
                    kind=event.kind.value,
                    at=event.at,
                    due_at=event.due_at,
                    target_seconds=event.target_seconds,
                    dedupe_key=f"{state.ticket_id}:{event.key}",
                )
            )

    def _announce(self, notice: SlaNotice) -> None:
        self._in_app.append(notice)  # written by the next projection, idempotently
        self._deliver_remotely(notice)

    def _deliver_remotely(self, notice: SlaNotice) -> None:
        self._notices.append(notice)
        asyncio.create_task(self._deliver(notice))  # noqa: RUF006 - tracked in _notices

    async def _deliver(self, notice: SlaNotice) -> None:
        """Every remote channel at once; one failing (after its retries) never stops the
        others."""
        summary = f"{notice.kind} {notice.metric}"
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    name,
                    notice,
                    start_to_close_timeout=timedelta(seconds=60),
                    schedule_to_close_timeout=REMOTE_GIVE_UP,
                    retry_policy=REMOTE_RETRY,
                    summary=summary,
                )
                for name in REMOTE_CHANNELS
            ),
            return_exceptions=True,
        )
        for name, result in zip(REMOTE_CHANNELS, results, strict=True):
            if isinstance(result, ActivityError):
                workflow.logger.warning("%s gave up on %s: %s", name, notice.dedupe_key, result)
            elif isinstance(result, BaseException):
                raise result
        self._notices.remove(notice)

    @workflow.query
    def sla_clock(self, now: str) -> ClockReport:
        """The live SLA clock at ``now`` (ISO-8601, the caller's clock: a query cannot read
        one; a string because the sandbox's datetime does not decode as an argument)."""
        return tracker.clock_report(self._state.sla, datetime.fromisoformat(now))

    async def _project(self) -> None:
        # A copy: it is what update answers show once written, whatever changes meanwhile.
        snapshot = copy.deepcopy(self._state)
        batch = ProjectionBatch(
            state=snapshot, audit=self._audit, comments=self._comments, notices=self._in_app
        )
        self._audit, self._comments, self._in_app = [], [], []
        summary = f"Project v{snapshot.version}"
        if self._update_unprojected:
            self._update_unprojected = False
            # Scheduled by this task, run only once the server has recorded it (and the
            # update it accepts).
            await workflow.execute_activity(
                "project_ticket",
                batch,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
                summary=summary,
            )
        else:
            # Timers alone decided it: run inside this task, no dispatch through the server
            # and no second workflow task; a retried task writes the same again.
            await workflow.execute_local_activity(
                "project_ticket",
                batch,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=PROJECTION_RETRY,
                summary=summary,
            )
        self._projected = snapshot

    # --- state changes (synchronous: no await between decision and mutation) ------------

    def _change(
        self,
        action: str,
        actor_id: str | None,
        *,
        from_value: str | None = None,
        to_value: str | None = None,
        is_internal: bool = False,
        details: dict | None = None,
    ) -> None:
        """Bump the version and record the audit line of one change."""
        self._state.version += 1
        self._state.updated_at = workflow.now()
        self._audit.append(
            AuditItem(
                action=action,
                actor_id=actor_id,
                at=workflow.now(),
                version=self._state.version,
                from_value=from_value,
                to_value=to_value,
                is_internal=is_internal,
                details=details or {},
            )
        )

    def _set_status(
        self,
        target: TicketStatus,
        *,
        actor_id: str | None,
        action: str = "status_changed",
        reason: str | None = None,
        sla_targets: SlaTargets | None = None,
    ) -> None:
        state = self._state
        previous = state.status
        now = workflow.now()
        state.status, state.status_changed_at = target, now
        if target == TicketStatus.ACCEPTED:
            state.accepted_by, state.accepted_at = actor_id, now
            action = "accepted"
        elif target == TicketStatus.RESOLVED:
            state.resolved_at = now
        elif target == TicketStatus.CLOSED:
            state.closed_at = now
        if previous == TicketStatus.RESOLVED and target == TicketStatus.IN_PROGRESS:
            state.resolved_at = None  # reopened; the auto-close timer is disarmed
        details = {"reason": reason} if reason else {}
        self._change(action, actor_id, from_value=previous, to_value=target, details=details)
        if target == TicketStatus.ACCEPTED:
            self._sla(tracker.on_accepted(state.sla, now, sla_targets))
        else:
            self._sla(tracker.on_status(state.sla, now, target))

    def _upsert_search_attributes(self) -> None:
        """Upsert the search attributes the state changed since the last upsert (the one
        place they are written; called before each projection)."""
        if not self._index_search_attributes:
            return
        changed = [(k, v) for k, v in ticket_index(self._state) if self._indexed.get(k) != v]
        if not changed:
            return
        workflow.upsert_search_attributes(
            [
                key.value_set(value) if value is not None else key.value_unset()
                for key, value in changed
            ]
        )
        self._indexed.update(changed)

    # --- validation shared by validators and handlers -----------------------------------

    def _facts(self) -> lifecycle.TicketFacts:
        return lifecycle.TicketFacts(
            status=TicketStatus(self._state.status),
            requester_id=self._state.requester_id,
            assigned_to=self._state.assigned_to,
        )

    def _already_applied(self) -> bool:
        info = workflow.current_update_info()
        return info is not None and info.id in self._recent

    def _check(self, decision: lifecycle.Decision) -> None:
        """Raise the rejection a decision calls for; ``OK`` and ``NOOP`` pass."""
        if decision.outcome is lifecycle.Outcome.INVALID:
            if self._finished():
                raise ApplicationError(
                    "ticket is closed",
                    {"current_status": self._state.status, "allowed": []},
                    type=ERROR_TICKET_CLOSED,
                    non_retryable=True,
                )
            raise ApplicationError(
                decision.reason,
                {"current_status": self._state.status, "allowed": list(decision.allowed)},
                type=ERROR_INVALID_TRANSITION,
                non_retryable=True,
            )
        if decision.outcome is lifecycle.Outcome.FORBIDDEN:
            raise ApplicationError(decision.reason, type=ERROR_FORBIDDEN, non_retryable=True)

    def _validate(self, decide: Callable[[], lifecycle.Decision]) -> None:
        if not self._already_applied():
            self._check(decide())

    async def _apply(
        self, decide: Callable[[], lifecycle.Decision], mutate: Callable[[], None]
    ) -> TicketState:
        """Decide again (the state may have moved since validation), mutate, remember the
        update id, and answer once the projection shows the change."""
        info = workflow.current_update_info()
        update_id = info.id if info else None
        if update_id is None or update_id not in self._recent:
            after_history = workflow.patched(PATCH_PROJECT_AFTER_HISTORY)
            if after_history:
                # What fell due before this request is decided before it, as a retry of
                # this task without the request would decide it.
                self._fire_timers()
            decision = decide()
            self._check(decision)
            if decision.applies:
                mutate()
                self._update_unprojected = after_history
            self._updates_this_run += 1
            if update_id is not None:
                self._recent.append(update_id)
        version = self._state.version
        await workflow.wait_condition(lambda: self._projected.version >= version)
        # The ticket as the database holds it: this change, and any written with it.
        return self._projected

    # --- updates ----------------------------------------------------------------------

    @workflow.update
    async def accept(self, request: AcceptRequest) -> TicketState:
        return await self._apply(
            lambda: self._decide_accept(request),
            lambda: self._set_status(
                TicketStatus.ACCEPTED, actor_id=request.actor.id, sla_targets=request.sla_targets
            ),
        )

    @accept.validator
    def _validate_accept(self, request: AcceptRequest) -> None:
        self._validate(lambda: self._decide_accept(request))

    def _decide_accept(self, request: AcceptRequest) -> lifecycle.Decision:
        decision = lifecycle.decide_accept(self._facts(), _actor(request.actor))
        if decision.applies and request.sla_targets is None and self._state.sla.targets is None:
            # The SLA starts here: without targets it could not, so refuse the request
            # rather than fail the workflow task.
            raise ApplicationError(
                "accept needs the SLA targets of the ticket's policy",
                type=ERROR_MISSING_SLA_TARGETS,
                non_retryable=True,
            )
        return decision

    @workflow.update
    async def set_status(self, request: StatusRequest) -> TicketState:
        return await self._apply(
            lambda: self._decide_status(request),
            lambda: self._set_status(
                TicketStatus(request.status), actor_id=request.actor.id, reason=request.reason
            ),
        )

    @set_status.validator
    def _validate_set_status(self, request: StatusRequest) -> None:
        self._validate(lambda: self._decide_status(request))

    def _decide_status(self, request: StatusRequest) -> lifecycle.Decision:
        return lifecycle.decide_status(
            self._facts(), _actor(request.actor), TicketStatus(request.status)
        )

    @workflow.update
    async def close(self, request: StatusRequest) -> TicketState:
        """``set_status`` to CLOSED (reject, withdraw or close), whatever ``status`` says."""
        return await self.set_status(replace(request, status=TicketStatus.CLOSED))

    @close.validator
    def _validate_close(self, request: StatusRequest) -> None:
        self._validate_set_status(replace(request, status=TicketStatus.CLOSED))

    @workflow.update
    async def assign(self, request: AssignRequest) -> TicketState:
        def mutate() -> None:
            previous = self._state.assigned_to
            self._state.assigned_to = request.assignee_id
            self._change(
                "assigned", request.actor.id, from_value=previous, to_value=request.assignee_id
            )

        return await self._apply(lambda: self._decide_assign(request), mutate)

    @assign.validator
    def _validate_assign(self, request: AssignRequest) -> None:
        self._validate(lambda: self._decide_assign(request))

    def _decide_assign(self, request: AssignRequest) -> lifecycle.Decision:
        return lifecycle.decide_assign(self._facts(), _actor(request.actor), request.assignee_id)

    @workflow.update
    async def set_priority(self, request: PriorityRequest) -> TicketState:
        def mutate() -> None:
            previous = self._state.priority
            self._state.priority = request.priority
            self._change(
                "priority_changed",
                request.actor.id,
                from_value=previous,
                to_value=request.priority,
            )
            if request.sla_targets is not None:
                now = workflow.now()
                self._sla(tracker.on_targets_changed(self._state.sla, now, request.sla_targets))

        return await self._apply(lambda: self._decide_priority(request), mutate)

    @set_priority.validator
    def _validate_set_priority(self, request: PriorityRequest) -> None:
        self._validate(lambda: self._decide_priority(request))

    def _decide_priority(self, request: PriorityRequest) -> lifecycle.Decision:
        return lifecycle.decide_priority(
            self._facts(),
            _actor(request.actor),
            Priority(self._state.priority),
            Priority(request.priority),
        )

    @workflow.update
    async def add_comment(self, request: CommentRequest) -> TicketState:
        """A comment and its effect on the ticket are one change, written in one
        transaction: a requester's public reply reopens or resumes the ticket."""

        def mutate() -> None:
            actor = _actor(request.actor)
            moves_to = lifecycle.comment_moves_to(
                self._facts(), actor, is_internal=request.is_internal
            )
            now = workflow.now()
            self._comments.append(
                CommentItem(
                    comment_id=request.comment_id,
                    author_id=actor.id,
                    content=request.content,
                    is_internal=request.is_internal,
                    at=now,
                )
            )
            self._change(
                "comment_added",
                actor.id,
                is_internal=request.is_internal,
                details={"comment_id": request.comment_id},
            )
            accepted = self._state.accepted_at is not None
            if lifecycle.is_first_response(
                actor, is_internal=request.is_internal, accepted=accepted
            ):
                self._sla(tracker.on_public_staff_comment(self._state.sla, now))
            if moves_to is not None:
                # Its own version (so the timeline orders it after the comment), written
                # in the same projection transaction as the comment.
                self._set_status(moves_to, actor_id=actor.id, action="customer_replied")

        return await self._apply(lambda: self._decide_comment(request), mutate)

    @add_comment.validator
    def _validate_add_comment(self, request: CommentRequest) -> None:
        self._validate(lambda: self._decide_comment(request))

    def _decide_comment(self, request: CommentRequest) -> lifecycle.Decision:
        return lifecycle.decide_comment(
            self._facts(), _actor(request.actor), is_internal=request.is_internal
        )

    # --- queries ------------------------------------------------------------------------

    @workflow.query
    def state(self) -> TicketState:
        return self._state
