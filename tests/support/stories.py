"""A ticket's life at chosen instants, without Temporal: each step changes a ``TicketState``
as the ticket workflow would (status, SLA tracker, version) and ``write`` stores it with the
real projection, SLA facts included. For report tests that need known instants.

    story = TicketStory.filed(org, customer, at=monday(9), targets=HIGH)
    story.accept(monday(9)).reply(monday(9, 30)).move(monday(13), TicketStatus.RESOLVED)
    await story.write(sessionmaker)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from desk.auth.models import Organization, User
from desk.enums import Priority, TicketStatus
from desk.sla import tracker
from desk.sla.contracts import SlaTargets
from desk.tickets.contracts import ProjectionBatch, TicketState
from desk.tickets.creation import record_creation
from desk.tickets.projection import write_projection


@dataclass
class TicketStory:
    state: TicketState
    targets: SlaTargets | None

    @classmethod
    def filed(
        cls,
        org: Organization,
        requester: User,
        *,
        at: datetime,
        number: int,
        targets: SlaTargets | None,
        priority: Priority = Priority.HIGH,
        subject: str = "Printer on fire",
        service_id: uuid.UUID | None = None,
    ) -> TicketStory:
        state = TicketState(
            ticket_id=str(uuid.uuid4()),
            organization_id=str(org.id),
            number=number,
            subject=subject,
            description="",
            priority=priority,
            status=TicketStatus.NEW,
            requester_id=str(requester.id),
            created_by_id=str(requester.id),
            created_at=at,
            service_id=None if service_id is None else str(service_id),
        )
        record_creation(state, targets)
        return cls(state, targets)

    @property
    def id(self) -> uuid.UUID:
        return uuid.UUID(self.state.ticket_id)

    def _changed(self, at: datetime) -> None:
        self.state.version += 1
        self.state.updated_at = at

    def accept(self, at: datetime, *, assignee: User | None = None) -> TicketStory:
        self.state.status = TicketStatus.ACCEPTED
        self.state.accepted_at = at
        if assignee is not None:
            self.state.assigned_to = str(assignee.id)
        tracker.on_accepted(self.state.sla, at, self.targets)
        self._changed(at)
        return self

    def reply(self, at: datetime) -> TicketStory:
        """A public staff comment."""
        tracker.on_public_staff_comment(self.state.sla, at)
        self._changed(at)
        return self

    def move(self, at: datetime, status: TicketStatus) -> TicketStory:
        state = self.state
        if status == TicketStatus.RESOLVED:
            state.resolved_at = at
        elif status == TicketStatus.CLOSED:
            state.closed_at = at
        elif state.status == TicketStatus.RESOLVED:
            state.resolved_at = None
        state.status = status
        tracker.on_status(state.sla, at, status)
        self._changed(at)
        return self

    def reprioritize(self, at: datetime, priority: Priority, targets: SlaTargets) -> TicketStory:
        self.state.priority = priority
        self.targets = targets
        tracker.on_targets_changed(self.state.sla, at, targets)
        self._changed(at)
        return self

    def timers(self, now: datetime) -> TicketStory:
        """The SLA timers due by ``now`` fire (a breach is a change of its own)."""
        if tracker.fire_due(self.state.sla, now):
            self._changed(now)
        return self

    async def write(self, sessionmaker) -> TicketStory:
        async with sessionmaker() as session:
            await write_projection(session, ProjectionBatch(state=self.state))
            await session.commit()
        return self
