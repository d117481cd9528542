"""Long timers of TicketWorkflow under the time-skipping test server."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from desk.enums import Role, TicketStatus
from desk.tickets.contracts import AcceptRequest, AssignRequest, CommentRequest, StatusRequest
from desk.tickets.models import AuditLog, Ticket
from tests.support.workflows import actor, new_ticket_state, start_ticket
from worker import build_worker
from workflows.ticket import TicketWorkflow


async def test_resolved_ticket_closes_itself_after_the_auto_close_days(
    time_skipping_server, settings, sessionmaker, world
):
    org = await world.org(auto_close_days=3)
    customer = await world.user(org, Role.CUSTOMER)
    manager = await world.user(org, Role.MANAGER)
    queue = f"auto-close-{uuid.uuid4().hex[:8]}"
    client = time_skipping_server.client
    async with build_worker(
        client, settings.model_copy(update={"temporal_task_queue": queue}), sessionmaker
    ):
        state = new_ticket_state(org, customer, auto_close_days=3)
        handle = await start_ticket(client, queue, state, index_search_attributes=False)
        await handle.execute_update(TicketWorkflow.accept, AcceptRequest(actor(manager)))
        await handle.execute_update(
            TicketWorkflow.assign, AssignRequest(actor(manager), str(manager.id))
        )
        await handle.execute_update(
            TicketWorkflow.set_status,
            StatusRequest(actor(manager), TicketStatus.RESOLVED),
        )
        # A customer reply reopens; resolving again re-arms the timer from the new instant.
        await handle.execute_update(
            TicketWorkflow.add_comment,
            CommentRequest(actor(customer), str(uuid.uuid4()), "still broken"),
        )
        assert (await handle.query(TicketWorkflow.state)).status == TicketStatus.IN_PROGRESS
        await handle.execute_update(
            TicketWorkflow.set_status, StatusRequest(actor(manager), TicketStatus.RESOLVED)
        )
        resolved_at = (await handle.query(TicketWorkflow.state)).resolved_at

        # Waiting on the result lets the server skip the three days.
        assert await handle.result() == TicketStatus.CLOSED

    async with sessionmaker() as session:
        ticket = await session.get(Ticket, uuid.UUID(state.ticket_id))
        actions = (
            await session.execute(
                select(AuditLog.action, AuditLog.actor_id)
                .where(AuditLog.ticket_id == ticket.id)
                .order_by(AuditLog.ticket_version)
            )
        ).all()
    assert ticket.status == TicketStatus.CLOSED
    assert (ticket.closed_at - resolved_at).total_seconds() >= 3 * 86400
    assert (ticket.closed_at - resolved_at).total_seconds() < 3 * 86400 + 60
    assert actions[-1] == ("auto_closed", None)
    assert [a for a, _ in actions].count("customer_replied") == 1
