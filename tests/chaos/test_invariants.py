"""The chaos checker itself: each rule fails on the fault it exists to catch (a checker
that cannot fail proves nothing)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from tests.chaos.invariants import _breaches, _gapless, _no_server_errors
from tests.chaos.load import Exchange, Journal, Request

MANAGERS = [str(uuid.uuid4()), str(uuid.uuid4())]


def _journal(*statuses: int | None) -> Journal:
    request = Request("r1", "accept", "/api/v1/internal/tickets/x/accept", None)
    for n, status in enumerate(statuses, 1):
        request.attempts.append(
            Exchange("r1", n, "accept", "POST", request.path, "api", status, {}, 0.0, 0.1)
        )
    return Journal([request])


def test_a_500_is_a_violation_a_503_or_a_lost_answer_is_not():
    assert _no_server_errors(_journal(None, 503, 200)) == []
    assert _no_server_errors(_journal(507)) == []
    assert len(_no_server_errors(_journal(503, 500))) == 1


def test_a_missing_or_doubled_version_is_a_gap():
    ticket = SimpleNamespace(id=uuid.uuid4(), version=3)

    def audit(version):
        return SimpleNamespace(ticket_id=ticket.id, ticket_version=version)

    assert _gapless([ticket], [audit(1), audit(2), audit(3)]) == []
    assert _gapless([ticket], [audit(1), audit(3)])  # v2 lost
    assert _gapless([ticket], [audit(1), audit(2), audit(2), audit(3)])  # v2 twice


def _subject(sla: list[str]):
    return SimpleNamespace(
        load=SimpleNamespace(sla=sla), manager_ids=MANAGERS, smtp_inbox=None, receiver=None
    )


def _notice(ticket_id: str, manager: str, metric: str = "resolution"):
    return SimpleNamespace(data={"ticket_id": ticket_id, "metric": metric}, user_id=manager)


def test_breaches_exactly_once_per_manager():
    ticket_id = str(uuid.uuid4())
    tickets = [SimpleNamespace(id=ticket_id, accepted_at="yes")]
    facts = [
        SimpleNamespace(ticket_id=ticket_id, metric=m, outcome="breached")
        for m in ("first_response", "resolution")
    ]
    once = [
        _notice(ticket_id, m, metric)
        for m in MANAGERS
        for metric in ("first_response", "resolution")
    ]
    subject = _subject([ticket_id])
    assert _breaches(subject, tickets, facts, once, [], []) == []
    doubled = [*once, _notice(ticket_id, MANAGERS[0])]
    assert _breaches(subject, tickets, facts, doubled, [], [])
    assert _breaches(subject, tickets, facts, once[1:], [], [])  # one manager never told
    assert _breaches(subject, tickets, facts[:1], once, [], [])  # a deadline not recorded
