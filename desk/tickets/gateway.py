"""The application's only door to the ticket workflows: start one, send it updates, ask its
live SLA clock, each bounded in time, and every way such a call can fail turned into one
domain error (the only place that mapping lives). Only the use cases
(``desk.tickets.service``) call it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable
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
        """Send one update and wait for its answer: the ticket once projected."""
        client = await self._temporal.get()
        handle = client.get_workflow_handle(ticket_workflow_id(ticket_id))
        return await self._bounded(
            handle.execute_update(
                update,
                request,
                id=update_id or str(uuid.uuid4()),
                rpc_timeout=timedelta(seconds=self._timeout),
            )
        )

    async def sla_clock(self, ticket_id: uuid.UUID, now: datetime) -> ClockReport | None:
        """The live SLA clock from the ticket's workflow; None once the workflow is gone
        from Temporal's retention."""
        client = await self._temporal.get()
        handle = client.get_workflow_handle(ticket_workflow_id(ticket_id))
        try:
            return await self._bounded(handle.query(TicketWorkflow.sla_clock, now.isoformat()))
        except WorkflowGone:
            return None
