"""Every ticket use case, in one application service.

REST routes, portal pages and the CLI call :class:`TicketService` with the authenticated
caller and plain inputs; it checks who may do what (``desk.tickets.lifecycle``), reads the
projection, and asks the ticket's workflow for every change (``desk.tickets.gateway``, the
only module that talks to Temporal). It answers with domain objects (``Ticket``,
``Comment``, ``AuditLog`` rows) or raises the domain errors of ``desk.errors``.

A change never holds a database transaction while it waits on the workflow: the workflow's
projection writes the same database (and on SQLite a transaction holds the write lock).
Read-your-writes: a change answers with the ticket as the workflow projected it, and a
create once the ticket is listed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.admin.models import Service
from desk.auth.models import Organization, User
from desk.auth.principal import Principal
from desk.db.types import utcnow
from desk.enums import STAFF_ROLES, TRIAGE_ROLES, Priority, Role, TicketStatus
from desk.errors import DeskError, Forbidden, NotFound, TicketClosed, Unprocessable
from desk.sla import tracker
from desk.sla.contracts import ClockReport, Metric, MetricReport, SlaTargets
from desk.sla.service import sla_targets_for
from desk.tickets import lifecycle, queries
from desk.tickets.access import actor, get_visible_ticket_or_404
from desk.tickets.contracts import (
    AcceptRequest,
    ActorRef,
    AssignRequest,
    CommentRequest,
    PriorityRequest,
    ProjectionBatch,
    StatusRequest,
    TicketState,
)
from desk.tickets.creation import record_creation
from desk.tickets.gateway import TicketGateway, WorkflowGone
from desk.tickets.models import AuditLog, Comment, Ticket
from desk.tickets.projection import ticket_row, write_projection
from desk.tickets.queries import TicketFilters

log = logging.getLogger("desk.tickets")

# Ticket ids derived from an Idempotency-Key live in their own UUID namespace.
IDEMPOTENT_TICKET_NAMESPACE = uuid.UUID("6f1d3c5e-2b1a-4f0e-9d7c-8a4b2e1f0c3d")


@dataclass(frozen=True)
class TicketDraft:
    """What a caller files."""

    subject: str
    description: str = ""
    priority: Priority = Priority.MEDIUM
    service_id: uuid.UUID | None = None
    requester_id: uuid.UUID | None = None  # staff filing for a customer


@dataclass(frozen=True)
class SlaClock:
    """The live SLA clock, and where it came from: ``workflow`` (exact) or ``projection``
    (the workflow is gone from Temporal's retention; elapsed and remaining unknown)."""

    report: ClockReport
    source: str


@dataclass
class Filing:
    """A filed ticket: what to answer, and what its workflow starts with."""

    ticket: Ticket
    # The workflow's first state (version 1), or None when the ticket has changed since,
    # which only its running workflow can have done: nothing left to start.
    first_state: TicketState | None
    sla_targets: SlaTargets | None
    is_new: bool  # False: filed earlier (a create retried with its Idempotency-Key)


ChangeFn = Callable[[], Awaitable[TicketState]]
PrepareFn = Callable[[AsyncSession, Ticket], Awaitable[None]]


class TicketService:
    """The ticket use cases. Built once per app from a session factory and the gateway."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], gateway: TicketGateway):
        self._sessionmaker = sessionmaker
        self._gateway = gateway

    # --- reads ----------------------------------------------------------------------------

    async def get(self, who: Principal, ticket_id: uuid.UUID) -> Ticket:
        """One ticket the caller may see (404 otherwise, whatever the reason)."""
        async with self._sessionmaker() as session:
            return await get_visible_ticket_or_404(session, ticket_id, who)

    async def list(
        self,
        who: Principal,
        filters: TicketFilters,
        *,
        limit: int,
        cursor: str | None = None,
        oldest_first: bool = False,
    ) -> tuple[list[Ticket], str | None]:
        """A page of the caller's tickets (staff: the organization's), newest first, and
        the cursor of the next page."""
        async with self._sessionmaker() as session:
            return await queries.list_tickets(
                session, who, filters, limit=limit, cursor=cursor, oldest_first=oldest_first
            )

    async def inbox(
        self, who: Principal, *, limit: int, cursor: str | None = None
    ) -> tuple[list[Ticket], str | None]:
        """The triage inbox: NEW tickets, oldest first (managers and admins)."""
        _require(lifecycle.is_triage(actor(who)), TRIAGE_ROLES)
        return await self.list(
            who,
            TicketFilters(status=TicketStatus.NEW),
            limit=limit,
            cursor=cursor,
            oldest_first=True,
        )

    async def comments(
        self, who: Principal, ticket_id: uuid.UUID, *, limit: int, offset: int = 0
    ) -> list[Comment]:
        """The ticket's comments, oldest first; customers never see internal ones."""
        async with self._sessionmaker() as session:
            ticket = await get_visible_ticket_or_404(session, ticket_id, who)
            return await queries.list_comments(session, ticket, who, limit=limit, offset=offset)

    async def timeline(
        self, who: Principal, ticket_id: uuid.UUID, *, limit: int, offset: int = 0
    ) -> list[AuditLog]:
        """Who did what, when, oldest first; customers do not see internal events."""
        async with self._sessionmaker() as session:
            ticket = await get_visible_ticket_or_404(session, ticket_id, who)
            return await queries.list_events(session, ticket, who, limit=limit, offset=offset)

    async def sla_clock(self, who: Principal, ticket_id: uuid.UUID) -> SlaClock:
        """The live SLA clock, asked of the ticket's workflow (the stored row cannot know
        how much time is left right now); from the row once the workflow is gone."""
        ticket = await self.get(who, ticket_id)
        now = utcnow()
        report = await self._gateway.sla_clock(ticket_id, now)
        if report is None:
            return SlaClock(_clock_from_row(ticket, now), source="projection")
        return SlaClock(report, source="workflow")

    async def worklist(
        self,
        who: Principal,
        filters: TicketFilters,
        *,
        open_only: bool = False,
        by_deadline: bool = False,
        limit: int,
        offset: int = 0,
    ) -> list[Ticket]:
        """The caller's tickets (staff: the organization's) matching ``filters``, by next
        SLA deadline or newest activity first; ``open_only`` leaves CLOSED ones out."""
        async with self._sessionmaker() as session:
            return await queries.worklist(
                session,
                who,
                filters,
                open_only=open_only,
                by_deadline=by_deadline,
                limit=limit,
                offset=offset,
            )

    async def queue(self, who: Principal, *, limit: int, offset: int = 0) -> list[Ticket]:
        """Staff's own queue: open tickets assigned to them, next SLA deadline first."""
        _require(lifecycle.is_staff(actor(who)), STAFF_ROLES)
        filters = TicketFilters(assigned_to=who.id)
        return await self.worklist(
            who, filters, open_only=True, by_deadline=True, limit=limit, offset=offset
        )

    async def at_risk(self, who: Principal, within: timedelta, *, limit: int) -> list[Ticket]:
        """Open, not yet breached tickets whose next SLA deadline is within ``within``
        (managers and admins)."""
        _require(lifecycle.is_triage(actor(who)), TRIAGE_ROLES)
        async with self._sessionmaker() as session:
            return await queries.at_risk(session, who, utcnow() + within, limit=limit)

    async def breached_open(self, who: Principal, *, limit: int) -> list[Ticket]:
        """Tickets that breached an SLA target and are not closed (managers and admins)."""
        _require(lifecycle.is_triage(actor(who)), TRIAGE_ROLES)
        async with self._sessionmaker() as session:
            return await queries.breached_open(session, who, limit=limit)

    async def people(
        self, who: Principal, ids: Iterable[uuid.UUID | None]
    ) -> dict[uuid.UUID, User]:
        """Users of the caller's organization by id, to name requesters, assignees and
        authors."""
        async with self._sessionmaker() as session:
            return await queries.people(session, who.organization_id, ids)

    async def assignees(self, who: Principal) -> list[User]:
        """Whom a ticket may be assigned to (asked by managers and admins)."""
        _require(lifecycle.is_triage(actor(who)), TRIAGE_ROLES)
        async with self._sessionmaker() as session:
            return await queries.staff_members(session, who.organization_id)

    def actions(self, who: Principal, ticket: Ticket) -> lifecycle.Actions:
        """What the caller may do to ``ticket`` as it stands: the controls a page offers
        (the workflow still decides each change)."""
        facts = lifecycle.TicketFacts(
            status=TicketStatus(ticket.status),
            requester_id=str(ticket.requester_id),
            assigned_to=str(ticket.assigned_to) if ticket.assigned_to else None,
        )
        return lifecycle.actions_for(facts, actor(who))

    # --- changes --------------------------------------------------------------------------

    async def file(
        self, who: Principal, draft: TicketDraft, *, idempotency_key: str | None = None
    ) -> Ticket:
        """File a ticket (status NEW, SLA not started); answers once it is listed. With an
        ``idempotency_key``, a retried request answers with the same ticket."""
        ticket_id = (
            idempotent_ticket_id(who.organization_id, who.id, idempotency_key)
            if idempotency_key
            else uuid.uuid4()
        )
        async with self._sessionmaker() as session:
            filing = await write_filed_ticket(
                session, who, ticket_id, draft, may_exist=idempotency_key is not None
            )
        if filing.first_state is not None:
            await self._start_filed(filing)
        return filing.ticket

    async def accept(
        self, who: Principal, ticket_id: uuid.UUID, *, idempotency_key: str | None = None
    ) -> Ticket:
        """NEW -> ACCEPTED (managers and admins): records who accepted and when, and starts
        the SLA clock with the policy that matches the ticket now."""
        _require(lifecycle.is_triage(actor(who)), TRIAGE_ROLES)
        return await self._accept(who, ticket_id, _update_id(who, "accept", idempotency_key))

    async def _accept(self, who: Principal, ticket_id: uuid.UUID, update_id: str | None) -> Ticket:
        """The one code path of ``accept`` and ``set_status(ACCEPTED)``."""
        request = AcceptRequest(actor=_actor_ref(who))

        async def match_policy(session: AsyncSession, ticket: Ticket) -> None:
            request.sla_targets = await sla_targets_for(
                session, ticket.organization_id, ticket.priority, ticket.service_id
            )

        return await self._change(
            who,
            ticket_id,
            lambda: self._gateway.accept(ticket_id, request, update_id=update_id),
            prepare=match_policy,
        )

    async def assign(
        self,
        who: Principal,
        ticket_id: uuid.UUID,
        assignee_id: uuid.UUID | None,
        *,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """Assign to an active agent, manager or admin of the organization (else 422);
        ``None`` unassigns."""
        _require(lifecycle.is_triage(actor(who)), TRIAGE_ROLES)

        async def check(session: AsyncSession, ticket: Ticket) -> None:
            await _check_assignee(session, who.organization_id, assignee_id)

        request = AssignRequest(
            actor=_actor_ref(who), assignee_id=str(assignee_id) if assignee_id else None
        )
        update_id = _update_id(who, "assign", idempotency_key)
        return await self._change(
            who,
            ticket_id,
            lambda: self._gateway.assign(ticket_id, request, update_id=update_id),
            prepare=check,
        )

    async def set_status(
        self,
        who: Principal,
        ticket_id: uuid.UUID,
        status: TicketStatus,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """Move the ticket per the lifecycle table (staff); a move that is not allowed from
        the current status is 409 with the allowed ones."""
        _require(lifecycle.is_staff(actor(who)), STAFF_ROLES)
        update_id = _update_id(who, f"status:{status}", idempotency_key)
        if status == TicketStatus.ACCEPTED:
            return await self._accept(who, ticket_id, update_id)
        request = StatusRequest(actor=_actor_ref(who), status=status, reason=reason)
        return await self._change(
            who,
            ticket_id,
            lambda: self._gateway.set_status(ticket_id, request, update_id=update_id),
        )

    async def close(
        self,
        who: Principal,
        ticket_id: uuid.UUID,
        *,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """Close: the requester withdraws a NEW ticket, a manager rejects one, staff close a
        RESOLVED one."""
        request = StatusRequest(actor=_actor_ref(who), status=TicketStatus.CLOSED, reason=reason)
        update_id = _update_id(who, "close", idempotency_key)
        return await self._change(
            who, ticket_id, lambda: self._gateway.close(ticket_id, request, update_id=update_id)
        )

    async def set_priority(
        self,
        who: Principal,
        ticket_id: uuid.UUID,
        priority: Priority,
        *,
        idempotency_key: str | None = None,
    ) -> Ticket:
        """Change the priority. The SLA follows: the new priority's policy (as it is now)
        applies, the business time already elapsed carries over, due dates are recomputed,
        and a target already exceeded breaches at once."""
        _require(lifecycle.is_staff(actor(who)), STAFF_ROLES)
        request = PriorityRequest(actor=_actor_ref(who), priority=priority)

        async def match_policy(session: AsyncSession, ticket: Ticket) -> None:
            request.sla_targets = await sla_targets_for(
                session, ticket.organization_id, priority, ticket.service_id
            )

        update_id = _update_id(who, "priority", idempotency_key)
        return await self._change(
            who,
            ticket_id,
            lambda: self._gateway.set_priority(ticket_id, request, update_id=update_id),
            prepare=match_policy,
        )

    async def comment(
        self,
        who: Principal,
        ticket_id: uuid.UUID,
        content: str,
        *,
        is_internal: bool = False,
        idempotency_key: str | None = None,
    ) -> Comment:
        """Comment on a ticket. A requester's public reply moves a WAITING_CUSTOMER or
        RESOLVED ticket back to IN_PROGRESS, in the same step as the comment."""
        comment_id = (
            uuid.uuid5(uuid.NAMESPACE_URL, f"comment:{ticket_id}:{who.id}:{idempotency_key}")
            if idempotency_key
            else uuid.uuid4()
        )
        request = CommentRequest(
            actor=_actor_ref(who),
            comment_id=str(comment_id),
            content=content,
            is_internal=is_internal,
        )
        update_id = _update_id(who, "comment", idempotency_key)
        await self._change(
            who,
            ticket_id,
            lambda: self._gateway.add_comment(ticket_id, request, update_id=update_id),
        )
        async with self._sessionmaker() as session:
            return await queries.get_comment(session, comment_id)

    async def _change(
        self,
        who: Principal,
        ticket_id: uuid.UUID,
        send: ChangeFn,
        *,
        prepare: PrepareFn | None = None,
    ) -> Ticket:
        """Check visibility (404) and that the ticket is open, let ``prepare`` complete the
        request from the database, ask the workflow, and answer with the ticket it wrote."""
        async with self._sessionmaker() as session:
            ticket = await get_visible_ticket_or_404(session, ticket_id, who)
            if ticket.status == TicketStatus.CLOSED:
                raise TicketClosed()
            if prepare is not None:
                await prepare(session, ticket)
        try:
            state = await send()
        except WorkflowGone:
            if ticket.version != 1:
                raise
            async with self._sessionmaker() as session:
                filing = await _filed_before(session, await queries.get_ticket(session, ticket_id))
            await self._start_filed(filing)
            state = await send()
        return Ticket(**ticket_row(state))

    # --- filing: the one exception to "one writer per ticket" -----------------------------

    async def _start_filed(self, filing: Filing) -> None:
        """Start the workflow of a filed ticket.

        Filing writes the ticket's first row and its ``created`` audit line (version 1) in
        the API, so the ticket is listed before anything else happens; the workflow then
        starts with that state and writes every later change. A start can fail after the
        row is written:

        - Temporal refuses it: a ticket this request wrote is removed again (503; nothing
          is listed that no workflow would ever move).
        - Temporal cannot say whether it landed: the row stays (logged). The ticket gets its
          workflow here again, from its row, when the create is retried with the same
          Idempotency-Key (``file``) or when the ticket's first change finds no workflow
          (``_change``).
        """
        assert filing.first_state is not None
        try:
            await self._gateway.start(filing.first_state, filing.sla_targets)
        except DeskError:
            ticket_id = filing.ticket.id
            started = await self._gateway.workflow_exists(ticket_id)
            if started:
                return  # the start landed; only its answer was lost
            if started is None:
                log.error("ticket %s is stored; whether its workflow started is unknown", ticket_id)
            elif filing.is_new:
                async with self._sessionmaker() as session:
                    await _forget_unstarted_ticket(session, ticket_id)
            raise


def idempotent_ticket_id(organization_id: uuid.UUID, caller_id: uuid.UUID, key: str) -> uuid.UUID:
    """The same (caller, key) always names the same ticket, so a retried create finds it."""
    return uuid.uuid5(IDEMPOTENT_TICKET_NAMESPACE, f"{organization_id}:{caller_id}:{key}")


def _require(allowed: bool, roles: frozenset[Role]) -> None:
    if not allowed:
        raise Forbidden(f"requires role {' or '.join(sorted(roles))}", code="insufficient_role")


def _actor_ref(who: Principal) -> ActorRef:
    return ActorRef(id=str(who.id), role=str(who.role))


def _update_id(who: Principal, action: str, key: str | None) -> str | None:
    return f"{who.id}:{action}:{key}" if key else None


async def write_filed_ticket(
    session: AsyncSession,
    who: Principal,
    ticket_id: uuid.UUID,
    draft: TicketDraft,
    *,
    may_exist: bool,
) -> Filing:
    """Write a new ticket's row and ``created`` audit line (version 1) and commit.

    If the ticket exists already (the same Idempotency-Key, possibly in a request running
    right now) nothing is written and the existing ticket is returned. ``may_exist=False``
    (a fresh random id) skips looking for it first.
    """
    org_id = who.organization_id
    if may_exist and (existing := await session.get(Ticket, ticket_id)) is not None:
        return await _filed_before(session, existing)
    requester = await _resolve_requester(session, who, draft.requester_id)
    await _check_service(session, org_id, draft.service_id)
    sla_targets = await sla_targets_for(session, org_id, draft.priority, draft.service_id)
    number, close_days = await claim_ticket_number(session, org_id)
    filed = Ticket(
        id=ticket_id,
        organization_id=org_id,
        number=number,
        subject=draft.subject,
        description=draft.description,
        priority=draft.priority,
        requester_id=requester,
        created_by_id=who.id,
        created_at=utcnow(),
        service_id=draft.service_id,
    )
    state = _first_state(filed, close_days)
    audit = record_creation(state, sla_targets)
    if not await write_projection(session, ProjectionBatch(state=state, audit=audit)):
        await session.rollback()  # the other request won; its number stays the only one
        return await _filed_before(session, await queries.get_ticket(session, ticket_id))
    await session.commit()
    return Filing(Ticket(**ticket_row(state)), state, sla_targets, is_new=True)


async def _filed_before(session: AsyncSession, ticket: Ticket) -> Filing:
    """A ticket filed by an earlier request. Unchanged since (version 1), its workflow may
    not have started (that request failed right after writing it): rebuild its first state."""
    if ticket.version != 1:
        return Filing(ticket, None, None, is_new=False)
    org = await session.get(Organization, ticket.organization_id)
    assert org is not None  # the ticket's row references it
    targets = await sla_targets_for(session, org.id, ticket.priority, ticket.service_id)
    state = _first_state(ticket, org.auto_close_days)
    record_creation(state, targets)
    return Filing(ticket, state, targets, is_new=False)


def _first_state(ticket: Ticket, auto_close_days: int) -> TicketState:
    """The workflow state of ``ticket`` as filed (status NEW, version 0: before
    :func:`record_creation`)."""
    return TicketState(
        ticket_id=str(ticket.id),
        organization_id=str(ticket.organization_id),
        number=ticket.number,
        subject=ticket.subject,
        description=ticket.description,
        priority=ticket.priority,
        status=TicketStatus.NEW,
        requester_id=str(ticket.requester_id),
        created_by_id=str(ticket.created_by_id),
        created_at=ticket.created_at,
        service_id=str(ticket.service_id) if ticket.service_id else None,
        auto_close_days=auto_close_days,
    )


async def claim_ticket_number(session: AsyncSession, organization_id: uuid.UUID) -> tuple[int, int]:
    """The organization's next human ticket number (#42), claimed atomically, and its
    auto-close days (read in the same statement)."""
    result = await session.execute(
        update(Organization)
        .where(Organization.id == organization_id)
        .values(next_ticket_number=Organization.next_ticket_number + 1)
        .returning(Organization.next_ticket_number, Organization.auto_close_days)
    )
    next_number, close_days = result.one()
    return next_number - 1, close_days


async def _forget_unstarted_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """Remove a ticket whose workflow never started (Temporal refused the start). Only
    version 1 (unchanged) goes; its audit line goes with it (ON DELETE CASCADE)."""
    await session.execute(delete(Ticket).where(Ticket.id == ticket_id, Ticket.version == 1))
    await session.commit()


async def _resolve_requester(
    session: AsyncSession, who: Principal, requester_id: uuid.UUID | None
) -> uuid.UUID:
    """Customers file for themselves; staff may file for an active customer of theirs."""
    if requester_id is None or requester_id == who.id:
        return who.id
    if not lifecycle.is_staff(actor(who)):
        raise Forbidden("customers file tickets for themselves only", code="requester_forbidden")
    requester = await session.get(User, requester_id)
    if requester is None or requester.organization_id != who.organization_id:
        raise NotFound("no such customer in your organization", code="requester_not_found")
    if requester.role != Role.CUSTOMER or not requester.is_active:
        raise Unprocessable(
            "requester_id must be an active customer of your organization",
            code="invalid_requester",
        )
    return requester.id


async def _check_service(
    session: AsyncSession, organization_id: uuid.UUID, service_id: uuid.UUID | None
) -> None:
    if service_id is None:
        return
    service = await session.get(Service, service_id)
    if service is None or service.organization_id != organization_id:
        raise NotFound("no such service in your organization", code="service_not_found")
    if not service.is_active:
        raise Unprocessable(
            "service_id must be an active service of your organization", code="invalid_service"
        )


async def _check_assignee(
    session: AsyncSession, organization_id: uuid.UUID, assignee_id: uuid.UUID | None
) -> None:
    """An assignee is an active agent, manager or admin of the same organization."""
    if assignee_id is None:
        return
    assignee = await session.get(User, assignee_id)
    if assignee is None or assignee.organization_id != organization_id:
        raise NotFound("no such user in your organization", code="assignee_not_found")
    if assignee.role not in STAFF_ROLES or not assignee.is_active:
        raise Unprocessable(
            "assigned_to must be an active agent, manager or admin of your organization",
            code="invalid_assignee",
        )


def stored_clock(ticket: Ticket, now: datetime) -> ClockReport:
    """The SLA clock as far as the stored row knows it (lists show many tickets: no
    workflow query per row)."""
    return _clock_from_row(ticket, now)


def _clock_from_row(ticket: Ticket, now: datetime) -> ClockReport:
    """The live-clock shape from what the stored row knows (due dates, met and breach
    instants); elapsed and remaining business time are unknown."""
    started = ticket.sla_started_at is not None
    stopped = ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    paused = ticket.sla_paused_at is not None

    def metric(
        name: Metric,
        *,
        started: bool,
        tracked: bool,
        due: datetime | None,
        met: datetime | None,
        breached: datetime | None,
    ) -> MetricReport:
        state = tracker.metric_state(
            started=started,
            tracked=tracked,
            met=met is not None,
            breached=breached is not None,
            stopped=stopped,
            paused=paused,
        )
        return MetricReport(
            metric=name,
            state=state,
            paused=state is tracker.MetricState.PAUSED,
            target_seconds=None,
            elapsed_seconds=None,
            remaining_seconds=None,
            due_at=due,
            warn_at=None,
            met_at=met,
            breached_at=breached,
        )

    accept_tracked = ticket.sla_accept_due_at is not None
    return ClockReport(
        now=now,
        sla_state=tracker.stored_sla_status(ticket),
        policy_id=str(ticket.sla_policy_id) if ticket.sla_policy_id else None,
        started_at=ticket.sla_started_at,
        paused_at=ticket.sla_paused_at,
        paused_seconds=float(ticket.sla_paused_duration),
        accept=metric(
            Metric.ACCEPT,
            started=True,
            tracked=accept_tracked,
            due=ticket.sla_accept_due_at,
            met=ticket.accepted_at if accept_tracked else None,
            breached=ticket.accept_breached_at,
        ),
        first_response=metric(
            Metric.FIRST_RESPONSE,
            started=started,
            tracked=started,
            due=ticket.sla_first_response_due_at,
            met=ticket.first_responded_at,
            breached=ticket.first_response_breached_at,
        ),
        resolution=metric(
            Metric.RESOLUTION,
            started=started,
            tracked=started,
            due=ticket.sla_due_at,
            met=ticket.resolved_at,
            breached=ticket.sla_breached_at,
        ),
    )
