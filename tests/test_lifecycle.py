"""The pure lifecycle rules (desk/tickets/lifecycle.py) against DESIGN.md's table.

The expected answers are written out here from DESIGN.md, independently of the module's own
``TRANSITIONS``, so a wrong entry there fails a test.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desk.enums import Priority, Role, TicketStatus
from desk.tickets import lifecycle
from desk.tickets.lifecycle import Actor, Outcome, TicketFacts

S = TicketStatus
REQUESTER_ID = "requester"
ASSIGNEE_ID = "assignee"

# DESIGN.md's lifecycle table: (from, to) -> who may make the move by hand.
TRIAGE, STAFF, REQUESTER = "manager/admin", "staff", "requester"
TABLE: dict[tuple[TicketStatus, TicketStatus], set[str]] = {
    (S.NEW, S.ACCEPTED): {TRIAGE},
    (S.NEW, S.CLOSED): {TRIAGE, REQUESTER},
    (S.ACCEPTED, S.IN_PROGRESS): {STAFF},
    (S.ACCEPTED, S.WAITING_CUSTOMER): {STAFF},
    (S.ACCEPTED, S.RESOLVED): {STAFF},
    (S.IN_PROGRESS, S.WAITING_CUSTOMER): {STAFF},
    (S.IN_PROGRESS, S.RESOLVED): {STAFF},
    (S.WAITING_CUSTOMER, S.IN_PROGRESS): {STAFF},
    (S.WAITING_CUSTOMER, S.RESOLVED): {STAFF},
    (S.RESOLVED, S.IN_PROGRESS): {STAFF},
    (S.RESOLVED, S.CLOSED): {STAFF},
}

# The parties of the table, and which of its columns each one counts as.
PARTIES: dict[str, tuple[Actor, set[str]]] = {
    "manager": (Actor("manager", Role.MANAGER), {TRIAGE, STAFF}),
    "admin": (Actor("admin", Role.ADMIN), {TRIAGE, STAFF}),
    "assignee agent": (Actor(ASSIGNEE_ID, Role.AGENT), {STAFF}),
    "other agent": (Actor("other-agent", Role.AGENT), set()),
    "requester": (Actor(REQUESTER_ID, Role.CUSTOMER), {REQUESTER}),
    "other customer": (Actor("other-customer", Role.CUSTOMER), set()),
}


def facts(status: TicketStatus, assigned_to: str | None = ASSIGNEE_ID) -> TicketFacts:
    return TicketFacts(status=status, requester_id=REQUESTER_ID, assigned_to=assigned_to)


def allowed_from(status: TicketStatus) -> set[TicketStatus]:
    return {to for (frm, to) in TABLE if frm == status}


def expected(status: TicketStatus, target: TicketStatus, columns: set[str]) -> Outcome:
    if target == status:
        return Outcome.NOOP  # a repeat of the same request is not an error
    who = TABLE.get((status, target))
    if who is None:
        return Outcome.INVALID
    return Outcome.OK if who & columns else Outcome.FORBIDDEN


MATRIX = list(itertools.product(S, S, PARTIES))


@pytest.mark.parametrize(("status", "target", "party"), MATRIX)
def test_status_moves_follow_the_design_table(status, target, party):
    actor, columns = PARTIES[party]
    decision = lifecycle.decide_status(facts(status), actor, target)
    assert decision.outcome is expected(status, target, columns), decision.reason
    assert decision.applies is (decision.outcome is Outcome.OK)
    if decision.outcome is Outcome.INVALID:
        assert set(decision.allowed) == allowed_from(status)
        assert len(decision.allowed) == len(set(decision.allowed))
    else:
        assert decision.allowed == ()
    if decision.outcome is not Outcome.OK:
        assert decision.reason


@pytest.mark.parametrize(("status", "party"), list(itertools.product(S, PARTIES)))
def test_accept_is_a_status_move(status, party):
    actor, _ = PARTIES[party]
    ticket = facts(status)
    assert lifecycle.decide_accept(ticket, actor) == lifecycle.decide_status(
        ticket, actor, S.ACCEPTED
    )


@pytest.mark.parametrize("status", [s for s in S if s != S.CLOSED])
def test_a_closed_ticket_allows_nothing(status):
    manager, _ = PARTIES["manager"]
    decision = lifecycle.decide_status(facts(S.CLOSED), manager, status)
    assert decision.outcome is Outcome.INVALID
    assert decision.reason == "ticket is closed"
    assert decision.allowed == ()


@pytest.mark.parametrize("target", [S.IN_PROGRESS, S.WAITING_CUSTOMER, S.RESOLVED])
def test_no_agent_is_staff_of_an_unassigned_ticket(target):
    agent = Actor(ASSIGNEE_ID, Role.AGENT)
    ticket = facts(S.ACCEPTED, assigned_to=None)
    assert lifecycle.decide_status(ticket, agent, target).outcome is Outcome.FORBIDDEN
    manager, _ = PARTIES["manager"]
    assert lifecycle.decide_status(ticket, manager, target).outcome is Outcome.OK


def test_an_assigned_customer_is_not_staff():
    """Staff-ness comes from the role and the assignment together, not the id alone."""
    customer = Actor(ASSIGNEE_ID, Role.CUSTOMER)
    decision = lifecycle.decide_status(facts(S.ACCEPTED), customer, S.IN_PROGRESS)
    assert decision.outcome is Outcome.FORBIDDEN


@given(
    status=st.sampled_from(S),
    target=st.sampled_from(S),
    role=st.sampled_from(Role),
    actor_id=st.sampled_from([REQUESTER_ID, ASSIGNEE_ID, "someone"]),
    assigned_to=st.sampled_from([None, ASSIGNEE_ID, "someone-else"]),
)
def test_only_the_tables_parties_ever_get_ok(status, target, role, actor_id, assigned_to):
    ticket = TicketFacts(status=status, requester_id=REQUESTER_ID, assigned_to=assigned_to)
    decision = lifecycle.decide_status(ticket, Actor(actor_id, role), target)
    if decision.outcome is not Outcome.OK:
        return
    columns = set()
    if role in (Role.MANAGER, Role.ADMIN):
        columns |= {TRIAGE, STAFF}
    if role == Role.AGENT and actor_id == assigned_to:
        columns.add(STAFF)
    if actor_id == REQUESTER_ID:
        columns.add(REQUESTER)
    assert TABLE[(status, target)] & columns


# --- assign and priority ----------------------------------------------------------------


@pytest.mark.parametrize("party", PARTIES)
def test_only_triage_assigns(party):
    actor, columns = PARTIES[party]
    decision = lifecycle.decide_assign(facts(S.ACCEPTED), actor, "new-agent")
    assert decision.outcome is (Outcome.OK if TRIAGE in columns else Outcome.FORBIDDEN)


def test_assigning_the_same_assignee_again_is_a_noop():
    manager, _ = PARTIES["manager"]
    ticket = facts(S.IN_PROGRESS)
    assert lifecycle.decide_assign(ticket, manager, ASSIGNEE_ID).outcome is Outcome.NOOP
    assert lifecycle.decide_assign(ticket, manager, None).outcome is Outcome.OK
    unassigned = facts(S.NEW, assigned_to=None)
    assert lifecycle.decide_assign(unassigned, manager, None).outcome is Outcome.NOOP


@pytest.mark.parametrize("party", PARTIES)
def test_only_staff_change_the_priority(party):
    actor, columns = PARTIES[party]
    decision = lifecycle.decide_priority(facts(S.IN_PROGRESS), actor, Priority.LOW, Priority.HIGH)
    assert decision.outcome is (Outcome.OK if STAFF in columns else Outcome.FORBIDDEN)


def test_the_same_priority_again_is_a_noop():
    manager, _ = PARTIES["manager"]
    decision = lifecycle.decide_priority(facts(S.NEW), manager, Priority.HIGH, Priority.HIGH)
    assert decision.outcome is Outcome.NOOP


def test_a_closed_ticket_is_neither_assigned_nor_reprioritised():
    manager, _ = PARTIES["manager"]
    closed = facts(S.CLOSED)
    assert lifecycle.decide_assign(closed, manager, "x").outcome is Outcome.INVALID
    priority = lifecycle.decide_priority(closed, manager, Priority.LOW, Priority.HIGH)
    assert priority.outcome is Outcome.INVALID


# --- comments ---------------------------------------------------------------------------

OPEN = [s for s in S if s != S.CLOSED]


@pytest.mark.parametrize(("status", "party"), list(itertools.product(OPEN, PARTIES)))
@pytest.mark.parametrize("is_internal", [False, True])
def test_who_may_comment(status, party, is_internal):
    actor, _ = PARTIES[party]
    decision = lifecycle.decide_comment(facts(status), actor, is_internal=is_internal)
    if party == "other customer":
        want = Outcome.FORBIDDEN
    elif party == "requester":
        want = Outcome.FORBIDDEN if is_internal else Outcome.OK
    else:  # any staff member of the organization
        want = Outcome.OK
    assert decision.outcome is want, decision.reason


@pytest.mark.parametrize("party", PARTIES)
def test_nobody_comments_on_a_closed_ticket(party):
    actor, _ = PARTIES[party]
    decision = lifecycle.decide_comment(facts(S.CLOSED), actor, is_internal=False)
    assert decision.outcome is Outcome.INVALID
    assert decision.reason == "ticket is closed"


@pytest.mark.parametrize(("status", "party"), list(itertools.product(S, PARTIES)))
@pytest.mark.parametrize("is_internal", [False, True])
def test_comment_moves_only_on_a_requester_public_reply(status, party, is_internal):
    actor, _ = PARTIES[party]
    moved = lifecycle.comment_moves_to(facts(status), actor, is_internal=is_internal)
    replies = party == "requester" and not is_internal
    if replies and status in (S.WAITING_CUSTOMER, S.RESOLVED):
        assert moved == S.IN_PROGRESS
    else:
        assert moved is None


@pytest.mark.parametrize("party", PARTIES)
@pytest.mark.parametrize("is_internal", [False, True])
@pytest.mark.parametrize("accepted", [False, True])
def test_first_response_is_a_public_staff_comment_after_acceptance(party, is_internal, accepted):
    actor, _ = PARTIES[party]
    staff = actor.role in (Role.AGENT, Role.MANAGER, Role.ADMIN)
    got = lifecycle.is_first_response(actor, is_internal=is_internal, accepted=accepted)
    assert got is (staff and accepted and not is_internal)


@pytest.mark.parametrize("party", list(PARTIES))
def test_who_sees_a_ticket_and_who_triages(party):
    # DESIGN.md, roles: staff see every ticket of their organization, a customer only those
    # they requested; managers and admins triage.
    actor, _ = PARTIES[party]
    staff = party in {"manager", "admin", "assignee agent", "other agent"}
    assert lifecycle.is_staff(actor) is staff
    assert lifecycle.may_view(actor, REQUESTER_ID) is (staff or party == "requester")
    assert lifecycle.is_triage(actor) is (party in {"manager", "admin"})
