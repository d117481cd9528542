"""What must hold once the system is quiet again, whatever was killed meanwhile.

``safety`` are facts about the past (a 500 answered, a request applied twice): waiting
cannot repair them. ``liveness`` are things the system owes and may still be doing
(a breach not yet announced, a projection behind its workflow): the checker waits for
them, and the time they take after the last recovery is the scenario's time to quiet.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from desk.attachments.models import Attachment
from desk.attachments.storage import TEMP_PREFIX
from desk.notifications.models import EmailDelivery, Notification, WebhookDelivery
from desk.sla.models import SlaFact
from desk.tickets.models import AuditLog, Comment, Ticket
from tests.chaos.load import Journal, Load
from tests.support.receivers import Receiver
from workflows.ticket import TicketWorkflow

T = TypeVar("T")

BREACHED = "breached"


@dataclass
class Subject:
    """What the checker looks at: the organization the load worked in and its people."""

    organization_id: uuid.UUID
    manager_ids: list[str]
    sessionmaker: object
    client: Client
    load: Load
    smtp_inbox: object | None = None
    receiver: Receiver | None = None
    upload_dir: Path | None = None


@dataclass
class Verdict:
    safety: list[str] = field(default_factory=list)
    liveness: list[str] = field(default_factory=list)
    quiet_after_s: float | None = None

    @property
    def violations(self) -> list[str]:
        return self.safety + self.liveness


async def wait_for_quiet(subject: Subject, *, since: float, timeout: float) -> Verdict:
    """Check until every liveness condition holds (or ``timeout``); safety once, at the end.
    ``quiet_after_s``: from ``since`` (the last recovery) to the first clean check."""
    deadline = time.monotonic() + timeout
    while True:
        liveness = await check_liveness(subject)
        if not liveness:
            quiet = time.monotonic() - since
            break
        if time.monotonic() > deadline:
            quiet = None
            break
        await asyncio.sleep(1.0)
    safety = await check_safety(subject)
    if liveness:
        liveness += await diagnose(subject, liveness)
    return Verdict(safety=safety, liveness=liveness, quiet_after_s=quiet)


async def diagnose(subject: Subject, found: list[str], limit: int = 3) -> list[str]:
    """For a few tickets whose row and workflow disagree: the workflow's runs (visibility)
    and what its current run's history holds, by event type."""
    notes = []
    ticket_ids = [line.split()[1].rstrip(":") for line in found if " != workflow " in line]
    for ticket_id in ticket_ids[:limit]:
        workflow_id = f"ticket-{ticket_id}"
        try:
            runs = [
                (r.run_id[-8:], r.status.name if r.status else None)
                async for r in subject.client.list_workflows(f"WorkflowId = '{workflow_id}'")
            ]
            handle = subject.client.get_workflow_handle(workflow_id)
            events = Counter(
                [
                    EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
                    async for e in handle.fetch_history_events()
                ]
            )
        except Exception as exc:  # diagnostics only
            notes.append(f"diagnose {workflow_id}: {exc}")
            continue
        notes.append(f"diagnose {workflow_id}: runs {runs}; history {dict(events)}")
    return notes


# --- Safety ------------------------------------------------------------------------------


async def check_safety(subject: Subject) -> list[str]:
    journal = subject.load.journal
    found = _no_server_errors(journal)
    async with subject.sessionmaker() as session:
        org = subject.organization_id
        tickets = {str(t.id): t for t in await _rows(session, Ticket, org)}
        audits = await _rows(session, AuditLog, org)
        comments = await _rows(session, Comment, org)
        files = await _rows(session, Attachment, org)
    by_ticket: dict[str, list[AuditLog]] = {}
    for entry in audits:
        by_ticket.setdefault(str(entry.ticket_id), []).append(entry)
    subjects = Counter(t.subject for t in tickets.values())

    for request in journal.answered("create"):
        ticket_id = request.final.body["id"]
        ticket = tickets.get(ticket_id)
        if ticket is None:
            found.append(f"create {request.request_id}: answered {ticket_id}, not in the DB")
            continue
        if subjects[ticket.subject] != 1:
            found.append(f"create {request.request_id}: {subjects[ticket.subject]} tickets")
        created = [a for a in by_ticket.get(ticket_id, []) if a.action == "created"]
        if len(created) != 1:
            found.append(f"ticket {ticket_id}: {len(created)} 'created' audit lines")

    for request in journal.answered("accept"):
        ticket_id = request.path.split("/")[-2]
        accepted = [a for a in by_ticket.get(ticket_id, []) if a.action == "accepted"]
        if len(accepted) != 1:
            found.append(f"ticket {ticket_id}: accepted {len(accepted)} times")

    contents = Counter(c.content for c in comments)
    comment_ids = {str(c.id) for c in comments}
    for request in journal.answered("comment"):
        comment_id = request.final.body["id"]
        ticket_id = request.final.body["ticket_id"]
        if comment_id not in comment_ids:
            found.append(f"comment {request.request_id}: answered {comment_id}, not in the DB")
        if contents[request.payload["content"]] != 1:
            found.append(
                f"comment {request.request_id}: stored {contents[request.payload['content']]}x"
            )
        lines = [
            a
            for a in by_ticket.get(ticket_id, [])
            if a.action == "comment_added" and a.details.get("comment_id") == comment_id
        ]
        if len(lines) != 1:
            found.append(f"comment {comment_id}: {len(lines)} audit lines")

    for op in ("assign", "status", "priority"):
        for request in journal.answered(op):
            ticket_id = request.path.split("/")[-2]
            answered_version = request.final.body["version"]
            ticket = tickets.get(ticket_id)
            if ticket is None or ticket.version < answered_version:
                found.append(
                    f"{op} {request.request_id}: answered v{answered_version}, "
                    f"row at v{ticket.version if ticket else None}"
                )

    found += _uploads(subject, files)
    return found


def _no_server_errors(journal: Journal) -> list[str]:
    """No 5xx but 503 (a part down, retry later) and 507 (no room for a file)."""
    return [
        f"{e.method} {e.path} (attempt {e.attempt}, {e.api}) answered {e.status}: {e.body}"
        for e in journal.exchanges()
        if e.status is not None and e.status >= 500 and e.status not in (503, 507)
    ]


def _uploads(subject: Subject, files: list[Attachment]) -> list[str]:
    found: list[str] = []
    journal = subject.load.journal
    answered = {r.final.body["id"]: r for r in journal.answered("upload")}
    rows = {str(f.id): f for f in files}
    if set(answered) != set(rows):
        found.append(
            f"uploads: answered {sorted(set(answered) - set(rows))} without a row, rows "
            f"{sorted(set(rows) - set(answered))} without an answered upload"
        )
    sent = {hashlib.sha256(data).hexdigest() for _ticket, data in subject.load.uploads}
    for row in rows.values():
        if row.sha256 not in sent:
            found.append(f"attachment {row.id}: a hash nobody sent")
    if subject.upload_dir is not None:
        root = subject.upload_dir / str(subject.organization_id)
        stored = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
        temps = [p for p in stored if p.name.startswith(TEMP_PREFIX)]
        if temps:
            found.append(f"uploads: temp files left behind: {temps}")
        names = {p.name for p in stored if not p.name.startswith(TEMP_PREFIX)}
        if names != set(rows):
            found.append(
                f"uploads: files without a row {sorted(names - set(rows))}, rows without a "
                f"file {sorted(set(rows) - names)}"
            )
    return found


async def _rows(session: AsyncSession, model: type[T], org: uuid.UUID, *where) -> list[T]:
    """Every row of ``model`` in the scenario's organization (and ``where``)."""
    query = select(model).where(model.organization_id == org, *where)
    return list(await session.scalars(query))


# --- Liveness ----------------------------------------------------------------------------


async def check_liveness(subject: Subject) -> list[str]:
    async with subject.sessionmaker() as session:
        org = subject.organization_id
        tickets = await _rows(session, Ticket, org)
        audits = await _rows(session, AuditLog, org)
        facts = await _rows(session, SlaFact, org)
        notices = await _rows(session, Notification, org, Notification.kind == "SLA_BREACHED")
        emails = await _rows(session, EmailDelivery, org)
        hooks = await _rows(session, WebhookDelivery, org, WebhookDelivery.event == "SLA_BREACHED")
    found = _gapless(tickets, audits)
    found += _breaches(subject, tickets, facts, notices, emails, hooks)
    found += await _workflows(subject, tickets)
    return found


def _gapless(tickets: list[Ticket], audits: list[AuditLog]) -> list[str]:
    versions: dict[uuid.UUID, list[int]] = {}
    for entry in audits:
        if entry.ticket_id is not None and entry.ticket_version is not None:
            versions.setdefault(entry.ticket_id, []).append(entry.ticket_version)
    found = []
    for ticket in tickets:
        seen = sorted(versions.get(ticket.id, []))
        if seen != list(range(1, ticket.version + 1)):
            found.append(f"ticket {ticket.id} v{ticket.version}: audit versions {seen}")
    return found


def _breaches(subject, tickets, facts, notices, emails, hooks) -> list[str]:
    found = []
    sla = set(subject.load.sla)
    accepted = {str(t.id) for t in tickets if t.accepted_at is not None}
    breached = {(str(f.ticket_id), f.metric) for f in facts if f.outcome == BREACHED}
    for ticket_id in sla & accepted:
        for metric in ("first_response", "resolution"):
            if (ticket_id, metric) not in breached:
                found.append(f"ticket {ticket_id}: {metric} passed, no breach fact yet")
    per = Counter((n.data.get("ticket_id"), n.data.get("metric"), str(n.user_id)) for n in notices)
    for ticket_id, metric in breached:
        for manager in subject.manager_ids:
            count = per[(ticket_id, metric, manager)]
            if count != 1:
                found.append(f"breach {ticket_id}/{metric}: {count} notices to {manager}")
    for ticket_id, metric, _user in per:
        if (ticket_id, metric) not in breached:
            found.append(f"breach notice for {ticket_id}/{metric} without a breach fact")
    if subject.smtp_inbox is not None:
        sent = {e.dedupe_key for e in emails if e.status == "sent"}
        for ticket_id, metric in breached:
            for manager in subject.manager_ids:
                prefix, suffix = f"{ticket_id}:{metric}:breach:", f":{manager}"
                if not any(k.startswith(prefix) and k.endswith(suffix) for k in sent):
                    found.append(f"breach {ticket_id}/{metric}: no email sent to {manager}")
        if len(subject.smtp_inbox.received) < len(sent):
            found.append(
                f"email: {len(sent)} recorded sent, {len(subject.smtp_inbox.received)} received"
            )
    if subject.receiver is not None:
        delivered = {h.dedupe_key.split(":breach:")[0] for h in hooks if h.status == "delivered"}
        got = set()
        for request in subject.receiver.requests:
            body = json.loads(request.body)
            if body.get("event") == "SLA_BREACHED" and request.signature_valid:
                data = body.get("data", body)
                got.add((data["ticket"]["id"], data["metric"]))
        for ticket_id, metric in breached:
            if f"{ticket_id}:{metric}" not in delivered:
                found.append(f"breach {ticket_id}/{metric}: no webhook delivery recorded")
            if (ticket_id, metric) not in got:
                found.append(f"breach {ticket_id}/{metric}: webhook never received")
    return found


async def _workflows(subject: Subject, tickets: list[Ticket]) -> list[str]:
    found: list[str] = []
    limit = asyncio.Semaphore(8)

    async def one(ticket: Ticket) -> None:
        async with limit:
            handle = subject.client.get_workflow_handle(f"ticket-{ticket.id}")
            try:
                description = await handle.describe()
                state = await handle.query(TicketWorkflow.state)
            except Exception as exc:  # e.g. Temporal still coming back
                found.append(f"ticket {ticket.id}: workflow unreadable ({exc})")
                return
            row = (ticket.status, ticket.version, ticket.priority, _str(ticket.assigned_to))
            wf = (state.status, state.version, state.priority, state.assigned_to)
            if row != wf:
                found.append(f"ticket {ticket.id}: row {row} != workflow {wf}")
            found.extend(await _stuck(handle, description, state, ticket))

    await asyncio.gather(*(one(t) for t in tickets))
    return found


async def _stuck(handle, description, state, ticket) -> list[str]:
    """Completed only when CLOSED; running with nothing failing or left pending, and (a
    timer armed or a person's move awaited)."""
    raw = description.raw_description
    status = description.status
    if status == WorkflowExecutionStatus.COMPLETED:
        return [] if state.status == "CLOSED" else [f"ticket {ticket.id}: completed open"]
    if status != WorkflowExecutionStatus.RUNNING:
        return [f"ticket {ticket.id}: workflow {status.name}"]
    if state.status == "CLOSED":
        return [f"ticket {ticket.id}: CLOSED but its workflow still runs"]
    problems = []
    if raw.pending_activities:
        names = [a.activity_type.name for a in raw.pending_activities]
        problems.append(f"ticket {ticket.id}: activities pending {names}")
    if raw.HasField("pending_workflow_task") and raw.pending_workflow_task.attempt > 1:
        problems.append(
            f"ticket {ticket.id}: workflow task failing (attempt "
            f"{raw.pending_workflow_task.attempt})"
        )
    return problems


def _str(value) -> str | None:
    return None if value is None else str(value)
