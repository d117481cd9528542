"""Who may do what to a ticket: DESIGN.md's lifecycle table and roles as plain functions.

No I/O. The ticket workflow's update validators and handlers decide every change with the
``decide_*`` functions (so a change is judged against the state it applies to); the
application service (``desk.tickets.service``) asks the ``may_*`` and ``is_*`` questions
before it reads or forwards anything (who may see a ticket, triage, act as staff, file for
someone else). No other module decides who may do what.

Every ``decide_*`` function returns a :class:`Decision`: ``OK`` (apply it), ``NOOP`` (already
in effect: answer with the ticket, change nothing), ``INVALID`` (409: not a move from this
status; ``allowed`` lists the moves that are) or ``FORBIDDEN`` (403: a move, but not this
actor's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from desk.enums import STAFF_ROLES, TRIAGE_ROLES, Priority, Role, TicketStatus

S = TicketStatus


class Who(StrEnum):
    """The parties of the lifecycle table."""

    TRIAGE = "manager/admin"
    STAFF = "staff"  # the assignee (an AGENT) or any MANAGER/ADMIN
    REQUESTER = "requester"


# DESIGN.md's table: from -> to -> who may make the move by hand.
TRANSITIONS: dict[TicketStatus, dict[TicketStatus, frozenset[Who]]] = {
    S.NEW: {
        S.ACCEPTED: frozenset({Who.TRIAGE}),
        S.CLOSED: frozenset({Who.TRIAGE, Who.REQUESTER}),  # reject, or withdraw
    },
    S.ACCEPTED: {
        S.IN_PROGRESS: frozenset({Who.STAFF}),
        S.WAITING_CUSTOMER: frozenset({Who.STAFF}),
        S.RESOLVED: frozenset({Who.STAFF}),
    },
    S.IN_PROGRESS: {
        S.WAITING_CUSTOMER: frozenset({Who.STAFF}),
        S.RESOLVED: frozenset({Who.STAFF}),
    },
    S.WAITING_CUSTOMER: {
        S.IN_PROGRESS: frozenset({Who.STAFF}),
        S.RESOLVED: frozenset({Who.STAFF}),
    },
    S.RESOLVED: {
        S.IN_PROGRESS: frozenset({Who.STAFF}),  # reopen
        S.CLOSED: frozenset({Who.STAFF}),
    },
    S.CLOSED: {},
}

# A public comment from the requester moves these statuses on its own.
CUSTOMER_REPLY_MOVES: dict[TicketStatus, TicketStatus] = {
    S.WAITING_CUSTOMER: S.IN_PROGRESS,
    S.RESOLVED: S.IN_PROGRESS,
}


class Outcome(StrEnum):
    OK = "ok"
    NOOP = "noop"
    INVALID = "invalid"
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class Actor:
    id: str
    role: Role


@dataclass(frozen=True)
class TicketFacts:
    """What the rules need to know about a ticket."""

    status: TicketStatus
    requester_id: str
    assigned_to: str | None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reason: str = ""
    allowed: tuple[TicketStatus, ...] = field(default_factory=tuple)

    @property
    def applies(self) -> bool:
        return self.outcome is Outcome.OK


OK = Decision(Outcome.OK)


def allowed_targets(status: TicketStatus) -> tuple[TicketStatus, ...]:
    """Every status reachable by hand from ``status`` (by someone)."""
    return tuple(TRANSITIONS[status])


def is_triage(actor: Actor) -> bool:
    """A MANAGER or ADMIN: accepts, rejects and assigns tickets, and sees the NEW inbox."""
    return actor.role in TRIAGE_ROLES


def is_staff(actor: Actor) -> bool:
    """An AGENT, MANAGER or ADMIN: sees every ticket of the organization, internal notes
    included, and may file a ticket for a customer."""
    return actor.role in STAFF_ROLES


def may_view(actor: Actor, requester_id: str) -> bool:
    """Within the organization: staff see every ticket, a customer those they requested."""
    return is_staff(actor) or actor.id == requester_id


def is_staff_of(actor: Actor, ticket: TicketFacts) -> bool:
    """ "Staff" in the table's sense: a MANAGER/ADMIN, or the AGENT assigned to the ticket."""
    return is_triage(actor) or (actor.role == Role.AGENT and actor.id == ticket.assigned_to)


def _acts_as(actor: Actor, ticket: TicketFacts) -> set[Who]:
    parties: set[Who] = set()
    if is_triage(actor):
        parties.add(Who.TRIAGE)
    if is_staff_of(actor, ticket):
        parties.add(Who.STAFF)
    if actor.id == ticket.requester_id:
        parties.add(Who.REQUESTER)
    return parties


def _closed(ticket: TicketFacts) -> Decision | None:
    if ticket.status == S.CLOSED:
        return Decision(Outcome.INVALID, "ticket is closed")
    return None


def decide_status(ticket: TicketFacts, actor: Actor, target: TicketStatus) -> Decision:
    """A move by hand to ``target`` (``accept`` and ``close`` are this with a fixed target)."""
    if target == ticket.status:
        return Decision(Outcome.NOOP, f"ticket is already {target}")
    if closed := _closed(ticket):
        return closed
    allowed = allowed_targets(ticket.status)
    who = TRANSITIONS[ticket.status].get(target)
    if who is None:
        return Decision(
            Outcome.INVALID, f"cannot move a {ticket.status} ticket to {target}", allowed
        )
    if not who & _acts_as(actor, ticket):
        parties = " or ".join(sorted(w.value for w in who))
        return Decision(
            Outcome.FORBIDDEN, f"only the {parties} may move a {ticket.status} ticket to {target}"
        )
    return OK


def decide_accept(ticket: TicketFacts, actor: Actor) -> Decision:
    return decide_status(ticket, actor, S.ACCEPTED)


def decide_assign(ticket: TicketFacts, actor: Actor, assignee_id: str | None) -> Decision:
    """Managers and admins (un)assign; the assignee's eligibility (an active staff member of
    the organization) is checked by the API, which can read the database."""
    if closed := _closed(ticket):
        return closed
    if not is_triage(actor):
        return Decision(Outcome.FORBIDDEN, "only a manager or admin may assign tickets")
    if assignee_id == ticket.assigned_to:
        return Decision(Outcome.NOOP, "ticket already has this assignee")
    return OK


def decide_priority(
    ticket: TicketFacts, actor: Actor, current: Priority, priority: Priority
) -> Decision:
    if closed := _closed(ticket):
        return closed
    if not is_staff_of(actor, ticket):
        return Decision(
            Outcome.FORBIDDEN, "only the assignee or a manager/admin may change the priority"
        )
    if priority == current:
        return Decision(Outcome.NOOP, f"priority is already {priority}")
    return OK


def decide_comment(ticket: TicketFacts, actor: Actor, *, is_internal: bool) -> Decision:
    """The requester and the organization's staff may comment; only staff write internal
    notes."""
    if closed := _closed(ticket):
        return closed
    staff = is_staff(actor)
    if not staff and actor.id != ticket.requester_id:
        return Decision(Outcome.FORBIDDEN, "only the requester and staff may comment")
    if is_internal and not staff:
        return Decision(Outcome.FORBIDDEN, "customers cannot post internal comments")
    return OK


def comment_moves_to(ticket: TicketFacts, actor: Actor, *, is_internal: bool) -> S | None:
    """The status a comment moves the ticket to on its own, if any: a public reply from the
    requester brings a WAITING_CUSTOMER or RESOLVED ticket back to IN_PROGRESS."""
    if is_internal or actor.id != ticket.requester_id:
        return None
    return CUSTOMER_REPLY_MOVES.get(ticket.status)


def is_first_response(actor: Actor, *, is_internal: bool, accepted: bool) -> bool:
    """A public comment by staff after acceptance is the ticket's first response (the SLA
    metric), if none came before."""
    return accepted and not is_internal and is_staff(actor)


# --- what an actor may do now (which controls a page offers) ---------------------------

# Ids no actor or assignee has: asking "may they assign someone else" of decide_assign.
_SOMEONE_ELSE = "\0someone-else"


@dataclass(frozen=True)
class Actions:
    """What one actor may do to a ticket in its current state. Pages show exactly these
    controls; the workflow still decides each change when it is asked."""

    moves: tuple[TicketStatus, ...]  # status moves by hand, besides accepting and closing
    accept: bool
    close: bool  # the requester's withdrawal, a manager's rejection, staff closing
    assign: bool
    priority: bool
    reply: bool  # a public comment
    note: bool  # an internal note


def status_moves(ticket: TicketFacts, actor: Actor) -> tuple[TicketStatus, ...]:
    """Every status this actor may move the ticket to by hand from its current one."""
    return tuple(
        target
        for target in TRANSITIONS[ticket.status]
        if decide_status(ticket, actor, target).applies
    )


def actions_for(ticket: TicketFacts, actor: Actor) -> Actions:
    """The :class:`Actions` of ``actor`` on ``ticket``, from the same ``decide_*`` rules
    the workflow applies."""
    moves = status_moves(ticket, actor)
    return Actions(
        moves=tuple(m for m in moves if m not in (S.ACCEPTED, S.CLOSED)),
        accept=S.ACCEPTED in moves,
        close=S.CLOSED in moves,
        assign=decide_assign(ticket, actor, _SOMEONE_ELSE).applies,
        priority=decide_priority(ticket, actor, Priority.LOW, Priority.HIGH).applies,
        reply=decide_comment(ticket, actor, is_internal=False).applies,
        note=decide_comment(ticket, actor, is_internal=True).applies,
    )
