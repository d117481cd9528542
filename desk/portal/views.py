"""What pages show of tickets: status and action wording, the merged timeline, the SLA
cells. Presentation only; the rules come from the use cases and the lifecycle."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from desk.attachments.models import Attachment
from desk.auth.models import User
from desk.enums import TicketStatus
from desk.portal import sla_display
from desk.portal.sla_display import MetricView
from desk.sla.contracts import ClockReport, Metric
from desk.sla.models import SlaPolicy
from desk.tickets.models import AuditLog, Comment, Ticket
from desk.tickets.service import stored_clock

S = TicketStatus


def move_label(current: str, target: TicketStatus) -> str:
    """The button that moves a ticket from ``current`` to ``target``."""
    if target is S.IN_PROGRESS:
        return {S.RESOLVED: "Reopen", S.WAITING_CUSTOMER: "Resume work"}.get(
            S(current), "Start work"
        )
    return {S.WAITING_CUSTOMER: "Wait for customer", S.RESOLVED: "Resolve"}.get(
        target, target.value
    )


def close_label(ticket: Ticket, user: User) -> str:
    """Withdraw (the requester's NEW ticket), Reject (a NEW one, by a manager) or Close."""
    if ticket.status == S.NEW:
        return "Withdraw" if ticket.requester_id == user.id else "Reject"
    return "Close"


def name_of(people: dict[uuid.UUID, User], user_id: uuid.UUID | None, default: str = "—") -> str:
    user = people.get(user_id) if user_id else None
    if user is None:
        return default
    return user.full_name or user.email


@dataclass
class Entry:
    """One line of a ticket's timeline."""

    kind: str  # comment | note | event | file
    at: datetime
    who: str
    text: str
    anchor: str = ""
    files: list[Attachment] = field(default_factory=list)


def _event_text(event: AuditLog, people: dict[uuid.UUID, User]) -> str | None:
    action, old, new = event.action, event.from_value, event.to_value
    metric = Metric(new).label if new in {m.value for m in Metric} else new
    return {
        "created": "filed the ticket",
        "accepted": "accepted the ticket; the SLA clock started",
        "status_changed": f"moved it from {old} to {new}",
        "customer_replied": f"replied: the ticket is {new} again",
        "auto_closed": "closed it automatically",
        "assigned": (f"assigned it to {name_of(people, as_uuid(new))}" if new else "unassigned it"),
        "priority_changed": f"changed the priority from {old} to {new}",
        "sla_warning": f"SLA warning: {metric} is due soon",
        "sla_breached": f"SLA breached: {metric}",
    }.get(action)


def as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def timeline(
    comments: list[Comment],
    events: list[AuditLog],
    files: list[Attachment],
    people: dict[uuid.UUID, User],
) -> list[Entry]:
    """Comments (internal notes apart), status changes and files in time order; a file
    sent with a comment is shown under it."""
    by_comment: dict[uuid.UUID, list[Attachment]] = {}
    entries: list[Entry] = []
    for attachment in files:
        if attachment.comment_id is not None:
            by_comment.setdefault(attachment.comment_id, []).append(attachment)
        else:
            entries.append(
                Entry(
                    "file",
                    attachment.created_at,
                    name_of(people, attachment.uploaded_by),
                    "attached a file",
                    files=[attachment],
                )
            )
    for comment in comments:
        entries.append(
            Entry(
                "note" if comment.is_internal else "comment",
                comment.created_at,
                name_of(people, comment.author_id),
                comment.content,
                anchor=f"c-{comment.id}",
                files=by_comment.get(comment.id, []),
            )
        )
    for event in events:
        text = _event_text(event, people)
        if text is not None:
            who = name_of(people, event.actor_id, default="ATUM Desk")
            entries.append(Entry("event", event.created_at, who, text))
    entries.sort(key=lambda e: e.at)
    return entries


def policy_targets(policy: SlaPolicy | None) -> tuple[dict[Metric, float | None], int | None]:
    if policy is None:
        return {}, None
    minutes = {
        Metric.ACCEPT: policy.accept_minutes,
        Metric.FIRST_RESPONSE: policy.first_response_minutes,
        Metric.RESOLUTION: policy.resolution_minutes,
    }
    return {
        m: v * 60 if v is not None else None for m, v in minutes.items()
    }, policy.warn_at_percent


@dataclass(frozen=True)
class SlaCell:
    """A ticket's SLA as a page shows it: every metric for staff, one word for customers
    (with the instants it changes at while a clock runs, for the page's script)."""

    metrics: list[MetricView]
    word: str | None
    word_warn_at: datetime | None = None
    word_due_at: datetime | None = None


def sla_cell(
    clock: ClockReport, now: datetime, policy: SlaPolicy | None, *, staff: bool
) -> SlaCell:
    targets, percent = policy_targets(policy)
    views = sla_display.clock_views(clock, now, targets=targets, warn_percent=percent)
    word = sla_display.customer_status(views)
    if staff:
        return SlaCell(views, word)
    running = [v for v in views if v.ticking and v.tone != sla_display.BREACHED]
    return SlaCell(
        [],
        word,
        word_warn_at=min((v.warn_at for v in running if v.warn_at), default=None),
        word_due_at=min((v.due_at for v in running if v.due_at), default=None),
    )


def row_sla(
    ticket: Ticket, now: datetime, policies: dict[uuid.UUID, SlaPolicy], *, staff: bool
) -> SlaCell:
    """The SLA of a listed ticket, from its stored row (no workflow query per row)."""
    policy = policies.get(ticket.sla_policy_id) if ticket.sla_policy_id else None
    return sla_cell(stored_clock(ticket, now), now, policy, staff=staff)
