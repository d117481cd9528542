"""What a page offers an actor (desk/tickets/lifecycle.py ``actions_for``), against the
design table written out in tests/test_lifecycle.py's style: the controls shown are
exactly the changes the workflow would accept from that actor."""

from __future__ import annotations

import itertools

import pytest

from desk.enums import Role, TicketStatus
from desk.tickets import lifecycle
from desk.tickets.lifecycle import Actor, TicketFacts

S = TicketStatus
REQUESTER_ID, ASSIGNEE_ID = "requester", "assignee"
MANAGER = Actor("manager", Role.MANAGER)
ADMIN = Actor("admin", Role.ADMIN)
ASSIGNEE = Actor(ASSIGNEE_ID, Role.AGENT)
OTHER_AGENT = Actor("other-agent", Role.AGENT)
REQUESTER = Actor(REQUESTER_ID, Role.CUSTOMER)
OTHER_CUSTOMER = Actor("other-customer", Role.CUSTOMER)
EVERYONE = [MANAGER, ADMIN, ASSIGNEE, OTHER_AGENT, REQUESTER, OTHER_CUSTOMER]

# DESIGN.md's table, seen from each party: the moves by hand (besides accept and close).
STAFF_MOVES = {
    S.NEW: set(),
    S.ACCEPTED: {S.IN_PROGRESS, S.WAITING_CUSTOMER, S.RESOLVED},
    S.IN_PROGRESS: {S.WAITING_CUSTOMER, S.RESOLVED},
    S.WAITING_CUSTOMER: {S.IN_PROGRESS, S.RESOLVED},
    S.RESOLVED: {S.IN_PROGRESS},
    S.CLOSED: set(),
}


def facts(status: TicketStatus) -> TicketFacts:
    return TicketFacts(status=status, requester_id=REQUESTER_ID, assigned_to=ASSIGNEE_ID)


def is_staff_here(actor: Actor) -> bool:
    return actor in (MANAGER, ADMIN, ASSIGNEE)


@pytest.mark.parametrize(("status", "actor"), list(itertools.product(S, EVERYONE)))
def test_moves_are_the_tables_moves_for_staff_only(status, actor):
    actions = lifecycle.actions_for(facts(status), actor)
    want = STAFF_MOVES[status] if is_staff_here(actor) else set()
    assert set(actions.moves) == want
    assert S.ACCEPTED not in actions.moves and S.CLOSED not in actions.moves


@pytest.mark.parametrize(("status", "actor"), list(itertools.product(S, EVERYONE)))
def test_accept_close_and_assign(status, actor):
    actions = lifecycle.actions_for(facts(status), actor)
    triage = actor in (MANAGER, ADMIN)
    assert actions.accept is (triage and status == S.NEW)
    # NEW: a manager rejects, the requester withdraws; RESOLVED: staff close.
    closes = (status == S.NEW and (triage or actor == REQUESTER)) or (
        status == S.RESOLVED and is_staff_here(actor)
    )
    assert actions.close is closes
    assert actions.assign is (triage and status != S.CLOSED)
    assert actions.priority is (is_staff_here(actor) and status != S.CLOSED)


@pytest.mark.parametrize(("status", "actor"), list(itertools.product(S, EVERYONE)))
def test_reply_and_note(status, actor):
    actions = lifecycle.actions_for(facts(status), actor)
    staff = actor.role in (Role.AGENT, Role.MANAGER, Role.ADMIN)
    open_ = status != S.CLOSED
    assert actions.reply is (open_ and (staff or actor == REQUESTER))
    assert actions.note is (open_ and staff)


@pytest.mark.parametrize(("status", "actor"), list(itertools.product(S, EVERYONE)))
def test_every_offered_move_is_one_the_workflow_accepts(status, actor):
    ticket = facts(status)
    for target in lifecycle.status_moves(ticket, actor):
        assert lifecycle.decide_status(ticket, actor, target).applies
    offered = set(lifecycle.status_moves(ticket, actor))
    for target in set(S) - offered:
        assert not lifecycle.decide_status(ticket, actor, target).applies


def test_nobody_may_do_anything_to_a_closed_ticket():
    for actor in EVERYONE:
        actions = lifecycle.actions_for(facts(S.CLOSED), actor)
        assert not any(
            [actions.moves, actions.accept, actions.close, actions.assign, actions.reply]
        )
