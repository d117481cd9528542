"""The application's only door to the ticket workflows: start one, send it updates, ask its
live SLA clock, each bounded in time, and every way such a call can fail turned into one
domain error (the only place that mapping lives). Only the use cases
(``desk.tickets.service``) call it."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from desk.errors import (
    DeskError,
    Forbidden,
    InvalidTransition,
    ServiceUnavailable,
    TicketClosed,
    Unprocessable,
)
from desk.settings import Settings
from desk.sla.contracts import ClockReport, SlaTargets
from desk.temporal import TemporalConnection
from desk.tickets.contracts import (
    AcceptRequest,
    AssignRequest,
    CommentRequest,
    PriorityRequest,
    StatusRequest,
    TicketInput,
    TicketState,
)
from desk.tickets.search_index import ticket_index, ticket_workflow_id, workflow_summary
from workflows.ticket import (
    ERROR_FORBIDDEN,
    ERROR_INVALID_TRANSITION,
    ERROR_TICKET_CLOSED,
    TicketWorkflow,
)

log = logging.getLogger("desk.tickets")

T = TypeVar("T")

# Temporal admits at most 10 updates in flight on one workflow (the server's
# history.maxInFlightUpdates); past that it answers RESOURCE_EXHAUSTED, and under a burst it
# also aborts admitted updates (UNAVAILABLE, "update was aborted") when it drops a workflow
# task. Both are transient and the update id makes a resend safe, so this process keeps a
# few updates in flight per ticket, queues the rest, and resends on those two answers until
# the update deadline. Several API processes can still exceed the server's cap together:
# the resend covers that.
UPDATES_IN_FLIGHT_PER_TICKET = 8
RESEND_FIRST_DELAY_S = 0.05
RESEND_MAX_DELAY_S = 1.0


def _transient(exc: BaseException) -> bool:
    """A refusal that a resend of the same update may get past."""
    if not isinstance(exc, RPCError):
        return False
    if exc.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return True
    return exc.status == RPCStatusCode.UNAVAILABLE and "update was aborted" in exc.message


class _PerKeyLimit:
    """At most ``limit`` holders per key; a key's semaphore lives while someone holds or
    waits for it (so a process that touches many tickets keeps no entry per ticket)."""

    def __init__(self, limit: int):
        self._limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.get(key) or (asyncio.Semaphore(self._limit), 0)
        self._slots[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[key]
            if users == 1:
                del self._slots[key]
            else:
                self._slots[key] = (semaphore, users - 1)

    def __len__(self) -> int:
        return len(self._slots)


class WorkflowGone(TicketClosed):
    """Temporal has no running workflow for the ticket: complete (closed) or gone from
    retention, which the caller sees as a closed ticket; or never started."""


def map_workflow_error(exc: BaseException) -> DeskError:
    """One HTTP answer for every way a workflow call fails."""
    if isinstance(exc, WorkflowUpdateFailedError):
        cause = exc.cause
        if isinstance(cause, ApplicationError):
            details = cause.details[0] if cause.details else {}
            if cause.type == ERROR_INVALID_TRANSITION:
                return InvalidTransition(
                    cause.message,
                    current_status=details.get("current_status", ""),
                    allowed=list(details.get("allowed", [])),
                )
            if cause.type == ERROR_TICKET_CLOSED:
                return TicketClosed()
            if cause.type == ERROR_FORBIDDEN:
                return Forbidden(cause.message, code="transition_forbidden")
            return Unprocessable(cause.message, code="rejected")
        log.error("ticket update failed: %s", exc)
        return ServiceUnavailable("the ticket change failed; retry", code="update_failed")
    if isinstance(exc, WorkflowQueryFailedError):
        log.error("ticket query failed: %s", exc)
        return ServiceUnavailable("the ticket's workflow could not answer", code="query_failed")
    if isinstance(exc, TimeoutError | WorkflowUpdateRPCTimeoutOrCancelledError):
        return ServiceUnavailable(
            "the change is accepted but not yet applied; retry with the same Idempotency-Key "
            "to get its result",
            code="update_pending",
        )
    if isinstance(exc, RPCError):
        if exc.status == RPCStatusCode.NOT_FOUND:
            return WorkflowGone()
        log.warning("Temporal call failed: %s (%s)", exc.message, exc.status)
        return ServiceUnavailable("workflow engine unavailable", code="workflow_engine_unavailable")
    if isinstance(exc, OSError | RuntimeError):
        log.warning("Temporal unreachable: %s", exc)
        return ServiceUnavailable("workflow engine unavailable", code="workflow_engine_unavailable")
    raise exc


class TicketGateway:
    """Starts ticket workflows, sends them updates and queries, bounded in time."""

    def __init__(self, temporal: TemporalConnection, settings: Settings):
        self._temporal = temporal
        self._timeout = settings.update_timeout_seconds
        self._task_queue = settings.temporal_task_queue
        self._in_flight = _PerKeyLimit(UPDATES_IN_FLIGHT_PER_TICKET)

    async def _bounded(self, call: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(call, timeout=self._timeout)
        except DeskError:
            raise
        except Exception as exc:
            raise map_workflow_error(exc) from exc

    async def start(self, state: TicketState, sla_targets: SlaTargets | None) -> None:
        """Start the workflow of a ticket whose first row is written (``state``, version 1).

        Returns once Temporal has recorded the start: no workflow task is awaited, so a
        create costs one Temporal call. USE_EXISTING: a retried start of the same ticket
        attaches to its running workflow instead of starting a second one.
        """
        client = await self._temporal.get()
        await self._bounded(
            client.start_workflow(
                TicketWorkflow.run,
                TicketInput(state=state, sla_targets=sla_targets),
                id=ticket_workflow_id(state.ticket_id),
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=workflow_summary(state.number, state.subject, state.priority),
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(k, v) for k, v in ticket_index(state) if v is not None]
                ),
                rpc_timeout=timedelta(seconds=self._timeout),
            )
        )

    async def workflow_exists(self, ticket_id: uuid.UUID) -> bool | None:
        """Whether the ticket has a workflow; None when Temporal cannot say."""
        try:
            client = await self._temporal.get()
            handle = client.get_workflow_handle(ticket_workflow_id(ticket_id))
            await asyncio.wait_for(handle.describe(), self._timeout)
        except RPCError as exc:
            return False if exc.status == RPCStatusCode.NOT_FOUND else None
        except Exception:
            return None
        return True

    async def accept(
        self, ticket_id: uuid.UUID, request: AcceptRequest, *, update_id: str | None
    ) -> TicketState:
        return await self._update(ticket_id, TicketWorkflow.accept, request, update_id)

    async def assign(
        self, ticket_id: uuid.UUID, request: AssignRequest, *, update_id: str | None
    ) -> TicketState:
        return await self._update(ticket_id, TicketWorkflow.assign, request, update_id)

    async def set_status(
        self, ticket_id: uuid.UUID, request: StatusRequest, *, update_id: str | None
    ) -> TicketState:
        return await self._update(ticket_id, TicketWorkflow.set_status, request, update_id)

    async def close(
        self, ticket_id: uuid.UUID, request: StatusRequest, *, update_id: str | None
    ) -> TicketState:
        return await self._update(ticket_id, TicketWorkflow.close, request, update_id)

    async def set_priority(
        self, ticket_id: uuid.UUID, request: PriorityRequest, *, update_id: str | None
    ) -> TicketState:
        return await self._update(ticket_id, TicketWorkflow.set_priority, request, update_id)

    async def add_comment(
        self, ticket_id: uuid.UUID, request: CommentRequest, *, update_id: str | None
    ) -> TicketState:
        return await self._update(ticket_id, TicketWorkflow.add_comment, request, update_id)

    async def _update(
        self, ticket_id: uuid.UUID, update: Any, request: Any, update_id: str | None
    ) -> TicketState:
        """Send one update and wait for its answer: the ticket once projected. Queued
        behind this process's other updates of the ticket, resent while Temporal refuses
        it for a transient reason (same update id: applied at most once)."""
        client = await self._temporal.get()
        workflow_id = ticket_workflow_id(ticket_id)
        handle = client.get_workflow_handle(workflow_id)
        update_id = update_id or str(uuid.uuid4())

        async def send() -> TicketState:
            delay = RESEND_FIRST_DELAY_S
            async with self._in_flight.hold(workflow_id):
                while True:
                    try:
                        return await handle.execute_update(
                            update,
                            request,
                            id=update_id,
                            rpc_timeout=timedelta(seconds=self._timeout),
                        )
                    except RPCError as exc:
                        if not _transient(exc):
                            raise
                        log.info("ticket update %s resent: %s", update_id, exc.message)
                    await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311
                    delay = min(delay * 2, RESEND_MAX_DELAY_S)

        return await self._bounded(send())

    async def sla_clock(self, ticket_id: uuid.UUID, now: datetime) -> ClockReport | None:
        """The live SLA clock from the ticket's workflow; None once the workflow is gone
        from Temporal's retention."""
        client = await self._temporal.get()
        handle = client.get_workflow_handle(ticket_workflow_id(ticket_id))
        try:
            return await self._bounded(handle.query(TicketWorkflow.sla_clock, now.isoformat()))
        except WorkflowGone:
            return None
