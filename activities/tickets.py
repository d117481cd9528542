"""Activities of the ticket workflow that touch the database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from desk.notifications.sla_notices import count_announced, record_in_app
from desk.tickets.contracts import ProjectionBatch
from desk.tickets.projection import write_projection


class TicketActivities:
    """Bound to a session factory at worker start-up."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]):
        self._sessionmaker = sessionmaker

    @activity.defn(name="project_ticket")
    async def project_ticket(self, batch: ProjectionBatch) -> None:
        """Write the ticket row, new comments and audit lines, and the in-app notifications
        of SLA warnings and breaches, in one transaction: a breach is never on the ticket
        without its managers' notifications."""
        async with self._sessionmaker() as session, session.begin():
            await write_projection(session, batch)
            announced = [n for n in batch.notices if await record_in_app(session, n)]
        for notice in announced:
            count_announced(notice)
