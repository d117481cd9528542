"""Writes a ticket workflow's projection batch: the ticket row with its SLA facts, its new
comments and audit lines, in one transaction. Idempotent: a retried or late batch never moves
a row backwards (the ``version`` guard) and never duplicates a comment or an audit line."""

from __future__ import annotations

import functools
import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from desk.db.insert import insert_for_dialect, insert_on_conflict
from desk.db.types import utcnow
from desk.live.feed import TICKET, NewEvent, publish
from desk.sla import tracker
from desk.sla.facts import write_facts
from desk.tickets.contracts import ProjectionBatch, TicketState
from desk.tickets.models import AuditLog, Comment, Ticket

_UUID_COLUMNS = {
    "id",
    "organization_id",
    "service_id",
    "requester_id",
    "created_by_id",
    "assigned_to",
    "accepted_by",
    "sla_policy_id",
}
# Written once, by the first write of the row.
_FROZEN_COLUMNS = frozenset({"id", "created_at", "number"})
# TicketState fields that are not ticket columns (workflow-only bookkeeping).
_NOT_COLUMNS = {"ticket_id", "auto_close_days", "sla", "status_changed_at"}


def _as_uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


def ticket_row(state: TicketState) -> dict[str, Any]:
    """The ``tickets`` columns of a workflow state."""
    row = {k: v for k, v in asdict(state).items() if k not in _NOT_COLUMNS}
    row |= tracker.projection(state.sla)
    row["id"] = state.ticket_id
    for key in _UUID_COLUMNS & row.keys():
        row[key] = _as_uuid(row[key])
    row["updated_at"] = state.updated_at or utcnow()
    return row


@functools.cache
def _ticket_upsert(dialect: str, columns: frozenset[str]) -> Any:
    """``INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE version < excluded.version`` of
    ``columns``, built once per dialect: it is on every write of the worker's hot path."""
    table = Ticket.__table__
    insert = insert_for_dialect(dialect, table)
    return insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: insert.excluded[name] for name in sorted(columns - _FROZEN_COLUMNS)},
        where=table.c.version < insert.excluded.version,
    ).returning(table.c.version)  # no row back: the guard held (rowcount is -1 on psycopg)


async def write_projection(session: AsyncSession, batch: ProjectionBatch) -> bool:
    """Upsert the ticket (only forwards), then its comments and audit lines.

    Returns whether the ticket row was written: False when the row already holds this
    version or a later one (a retried or late batch).
    """
    row = ticket_row(batch.state)
    upsert = _ticket_upsert(session.get_bind().dialect.name, frozenset(row))
    written = (await session.execute(upsert, row)).first() is not None
    ticket_id = row["id"]
    organization_id = row["organization_id"]
    if written:
        await write_facts(session, batch.state.sla, ticket=row)
    if batch.comments:
        await session.execute(
            insert_on_conflict(session, Comment.__table__)
            .values(
                [
                    {
                        "id": _as_uuid(c.comment_id),
                        "organization_id": organization_id,
                        "ticket_id": ticket_id,
                        "author_id": _as_uuid(c.author_id),
                        "content": c.content,
                        "is_internal": c.is_internal,
                        "created_at": c.at,
                    }
                    for c in batch.comments
                ]
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
    if batch.audit:
        await session.execute(
            insert_on_conflict(session, AuditLog.__table__)
            .values(
                [
                    {
                        "id": uuid.uuid4(),
                        "organization_id": organization_id,
                        "ticket_id": ticket_id,
                        "ticket_version": a.version,
                        "actor_id": _as_uuid(a.actor_id),
                        "action": a.action,
                        "from_value": a.from_value,
                        "to_value": a.to_value,
                        "details": a.details,
                        "is_internal": a.is_internal,
                        "created_at": a.at,
                    }
                    for a in batch.audit
                ]
            )
            .on_conflict_do_nothing(index_elements=["ticket_id", "ticket_version", "action"])
        )
    if written:
        await publish(session, [_live_event(batch, row)])
    return written


def _live_event(batch: ProjectionBatch, row: dict[str, Any]) -> NewEvent:
    """The ticket changed: internal when all it brought is internal (a note, an SLA
    event), so a customer's stream never hears of it."""
    items = [*batch.audit, *batch.comments]
    return NewEvent(
        organization_id=row["organization_id"],
        kind=TICKET,
        ticket_id=row["id"],
        requester_id=row["requester_id"],
        is_internal=bool(items) and all(item.is_internal for item in items),
        data={"number": row["number"], "status": row["status"], "version": row["version"]},
    )
