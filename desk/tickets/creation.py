"""A ticket's first change (version 1): the ``created`` audit line and the acceptance
clock. Pure: the API applies it when it files a ticket; the workflow applies it to tickets
started before the API wrote the first row (their histories replay the same way)."""

from __future__ import annotations

from desk.sla import tracker
from desk.sla.contracts import SlaTargets
from desk.tickets.contracts import AuditItem, TicketState


def record_creation(state: TicketState, sla_targets: SlaTargets | None) -> list[AuditItem]:
    """Make ``state`` (version 0, status NEW) the filed ticket; returns its audit line.

    The acceptance clock starts at ``state.created_at``; nothing can be due at that instant,
    so no SLA event comes of it.
    """
    state.version = 1
    state.updated_at = state.status_changed_at = state.created_at
    tracker.on_created(state.sla, state.created_at, sla_targets)
    return [
        AuditItem(
            action="created",
            actor_id=state.created_by_id,
            at=state.created_at,
            version=state.version,
            to_value=state.status,
        )
    ]
