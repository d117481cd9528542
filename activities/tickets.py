"""Activities of the ticket workflow that touch the database."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from desk.notifications.contracts import SlaNotice
from desk.notifications.sla_notices import count_announced, record_in_app
from desk.tickets.contracts import ProjectionBatch
from desk.tickets.projection import write_projection

log = logging.getLogger("desk.worker")

# How many tickets' projections one transaction may carry. Bounded so that on SQLite the
# write lock is never held long: the API's writes (a create, a comment) wait for it.
GROUP_MAX = 32


class TicketActivities:
    """Bound to a session factory at worker start-up.

    The projections that arrive while a write is in flight are written together, in one
    transaction, by the next: in a burst (a breach storm) the worker commits once per
    group instead of once per ticket, and its writes never compete with one another for
    SQLite's single write lock, which waiting writers take by polling.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]):
        self._sessionmaker = sessionmaker
        self._pending: list[tuple[ProjectionBatch, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    @activity.defn(name="project_ticket")
    async def project_ticket(self, batch: ProjectionBatch) -> None:
        """Write the ticket row, new comments and audit lines, and the in-app notifications
        of SLA warnings and breaches, in one transaction: a breach is never on the ticket
        without its managers' notifications."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((batch, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        await done

    async def _write_pending(self) -> None:
        while self._pending:
            group, self._pending = self._pending[:GROUP_MAX], self._pending[GROUP_MAX:]
            # An attempt that timed out meanwhile was cancelled and is retried by Temporal
            # with the same batch: writing the stale one too would only lengthen the queue.
            group = [(batch, done) for batch, done in group if not done.done()]
            if not group:
                continue
            try:
                await self._write([batch for batch, _ in group])
            except Exception as exc:
                if len(group) == 1:
                    _settle(group[0][1], exc)
                    continue
                # One bad batch must not fail the others: each alone, in its own transaction.
                log.warning(
                    "a group of %d projections failed (%s): writing each alone", len(group), exc
                )
                for batch, done in group:
                    try:
                        await self._write([batch])
                    except Exception as alone:
                        _settle(done, alone)
                    else:
                        _settle(done)
            else:
                for _, done in group:
                    _settle(done)

    async def _write(self, batches: list[ProjectionBatch]) -> None:
        announced: list[SlaNotice] = []
        async with self._sessionmaker() as session, session.begin():
            # In ticket order: two workers' transactions lock rows in the same order.
            for batch in sorted(batches, key=lambda b: b.state.ticket_id):
                await write_projection(session, batch)
                announced += [n for n in batch.notices if await record_in_app(session, n)]
        for notice in announced:
            count_announced(notice)


def _settle(done: asyncio.Future[None], error: BaseException | None = None) -> None:
    """Answer a waiting activity (unless it was cancelled meanwhile: its write is
    idempotent, so having written it anyway is harmless)."""
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
