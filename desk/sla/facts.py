"""Writes a ticket's SLA facts (``desk.sla.tracker.facts``) to ``sla_facts``: called by the
ticket projection, in its transaction, whenever it writes the ticket row."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.db.insert import insert_for_dialect
from desk.sla import tracker
from desk.sla.contracts import SlaState
from desk.sla.models import SlaFact

_KEY = ("ticket_id", "metric")


def fact_rows(state: SlaState, ticket: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``sla_facts`` rows of a ticket's SLA state, one per started metric; ``ticket`` is
    its projected row (``id``, ``organization_id``, ``priority``, ``service_id``,
    ``assigned_to``)."""
    return [
        {
            "ticket_id": ticket["id"],
            "metric": fact.metric.value,
            "organization_id": ticket["organization_id"],
            "priority": ticket["priority"],
            "service_id": ticket["service_id"],
            "assigned_to": ticket["assigned_to"],
            "started_at": fact.started_at,
            "outcome": fact.outcome.value,
            "target_seconds": fact.target_seconds,
            "due_at": fact.due_at,
            "met_at": fact.met_at,
            "breached_at": fact.breached_at,
            "business_seconds": fact.business_seconds,
            "paused_seconds": fact.paused_seconds,
        }
        for fact in tracker.facts(state)
    ]


@functools.cache
def _upsert(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (ticket_id, metric) DO UPDATE`` of every column, built once
    per dialect (it runs with every projection write). The caller's ticket-row version guard
    decides whether to write at all, so no guard of its own."""
    table = SlaFact.__table__
    insert = insert_for_dialect(dialect, table)
    return insert.on_conflict_do_update(
        index_elements=[table.c[name] for name in _KEY],
        set_={c.name: insert.excluded[c.name] for c in table.c if c.name not in _KEY},
    )


async def write_facts(session: AsyncSession, state: SlaState, *, ticket: Mapping[str, Any]) -> None:
    """Upsert the facts of the ticket row just written (a started metric never goes away:
    nothing to delete)."""
    if rows := fact_rows(state, ticket):
        await session.execute(_upsert(session.get_bind().dialect.name), rows)
