"""What the ticket workflow hands to the notification activities (plain dataclasses, so the
workflow sandbox imports them and Temporal's JSON converter carries them)."""

# No `from __future__ import annotations`: Temporal resolves these type hints inside the
# workflow sandbox, where string annotations of imported names may not resolve.
from dataclasses import dataclass
from datetime import datetime


@dataclass
class SlaNotice:
    """An SLA warning or breach of one ticket, to be announced on every channel.

    ``dedupe_key`` (``<ticket id>:<metric>:<kind>:<cycle>``) is the same on every retry and
    every channel; each channel derives its own unique keys from it.
    """

    ticket_id: str
    organization_id: str
    ticket_number: int
    ticket_subject: str
    priority: str
    assignee_id: str | None
    metric: str  # accept | first_response | resolution
    kind: str  # warning | breach
    at: datetime  # when the threshold was crossed
    due_at: datetime
    target_seconds: float
    dedupe_key: str

    @property
    def event(self) -> str:
        """The webhook event name: SLA_WARNING or SLA_BREACHED."""
        return "SLA_BREACHED" if self.kind == "breach" else "SLA_WARNING"
