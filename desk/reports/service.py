"""The SLA report use cases: compliance per group, the facts behind it (CSV), the breaches.

Entry points (the REST routes, the portal's Reports page) call :class:`ReportService` with the
caller and plain values. Everything is read from ``sla_facts`` (``desk.sla.tracker.facts``
defines each field); nothing here recomputes a calendar.

Definitions, per metric (``accept``, ``first_response``, ``resolution``):

- A fact counts in the period in which its clock started, read as local days of the
  organization's ``reporting_timezone``: acceptance for first response and resolution,
  creation for acceptance (a ticket not yet accepted counts for its acceptance only).
- ``met``, ``breached`` (met late included), ``running``, ``paused``, ``stopped``,
  ``untracked``: how many facts have that outcome; each fact has exactly one.
- ``compliance_percent`` = met / (met + breached) x 100, rounded to two decimals; null when
  both are 0.
- ``median_seconds``, ``p90_seconds``: of the time to meet, the business seconds (paused time
  excluded) from the clock's start to the instant the metric was met, over the tracked facts
  that were met, in time or late (``percentile_cont``; null without any).
- ``breached_by_median_seconds``: the median lateness of the breached facts whose clock has
  ended (met late, or stopped unmet): business seconds taken beyond the target the breach
  broke. Breaches still running are counted in ``breached`` but not here.
- Groups are the ticket's current priority, service or assignee, or the ISO week (Monday
  first, in the reporting zone) in which the clock started.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.auth.models import Organization
from desk.auth.principal import Principal
from desk.db.engine import READ_ONLY
from desk.db.types import utcnow
from desk.enums import TRIAGE_ROLES, Priority
from desk.errors import Forbidden
from desk.reports import queries
from desk.reports.period import Bucket, Period, period
from desk.reports.queries import TOTAL, FactFilters
from desk.sla.clock import load_zone
from desk.sla.contracts import Metric
from desk.sla.models import SlaFact
from desk.tickets import lifecycle
from desk.tickets.access import actor

# Rows per database round trip while streaming the facts (each page its own session, so no
# transaction, and on SQLite no lock, is held while a client reads slowly).
FACT_PAGE = 1000
SEVERITY = (Priority.URGENT, Priority.HIGH, Priority.MEDIUM, Priority.LOW)
# A report with no period asked for covers this many ISO weeks up to today.
DEFAULT_WEEKS = 4


class GroupBy(StrEnum):
    PRIORITY = "priority"
    SERVICE = "service"
    AGENT = "agent"
    WEEK = "week"


# The optional filters a report, its CSV and its breaches share with the facts' query.
NARROWING = ("priority", "service_id", "assigned_to", "metric")


@dataclass(frozen=True)
class ReportFilters:
    """What a report covers: local days ``first_day`` to ``last_day`` inclusive, and
    optionally one priority, service or assignee."""

    first_day: date
    last_day: date
    priority: Priority | None = None
    service_id: uuid.UUID | None = None
    assigned_to: uuid.UUID | None = None
    metric: Metric | None = None  # the breaches only


@dataclass
class MetricSummary:
    """One metric's figures in one group (see the module docstring)."""

    met: int = 0
    breached: int = 0
    running: int = 0
    paused: int = 0
    stopped: int = 0
    untracked: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None
    breached_by_median_seconds: float | None = None

    @property
    def compliance_percent(self) -> float | None:
        met, breached = self.met, self.breached
        return None if met + breached == 0 else round(100 * met / (met + breached), 2)


@dataclass
class ReportGroup:
    key: str | None
    label: str
    accept: MetricSummary = field(default_factory=MetricSummary)
    first_response: MetricSummary = field(default_factory=MetricSummary)
    resolution: MetricSummary = field(default_factory=MetricSummary)

    def metric(self, name: str) -> MetricSummary:
        return getattr(self, Metric(name).value)


@dataclass
class SlaReport:
    first_day: date
    last_day: date
    timezone: str
    group_by: GroupBy
    groups: list[ReportGroup]
    total: ReportGroup


@dataclass(frozen=True)
class FactRow:
    """One ticket's metric as the CSV and the breaches list show it."""

    ticket_id: uuid.UUID
    number: int
    subject: str
    status: str
    priority: str
    service_id: uuid.UUID | None
    service: str | None
    assigned_to: uuid.UUID | None
    assignee: str | None
    metric: str
    outcome: str
    started_at: datetime
    due_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None
    target_seconds: float | None
    business_seconds: float | None
    paused_seconds: float | None
    late_seconds: float | None  # ``queries.lateness``: a breach's, once its clock ended

    @classmethod
    def from_row(cls, row: Any) -> FactRow:
        return cls(**row._mapping)


class ReportService:
    """The SLA report use cases (MANAGER and ADMIN, of their own organization)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]):
        self._sessionmaker = sessionmaker

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        """A session that only reads: on SQLite it holds no write lock, however long a
        report takes, so ticket changes never wait for one."""
        async with self._sessionmaker() as session:
            await session.connection(execution_options=READ_ONLY)
            yield session

    async def sla(self, who: Principal, filters: ReportFilters, group_by: GroupBy) -> SlaReport:
        """Compliance, counts and times per metric, per group and for the whole period."""
        async with self._reading() as session:
            span, zone_name = await self._period(session, who, filters)
            facts = _fact_filters(who, filters, span)
            buckets = span.weeks() if group_by is GroupBy.WEEK else []
            key = _group_key(group_by, buckets)
            found = await queries.figures(session, facts, key)
            groups = await self._groups(session, who, group_by, buckets, found)
        total = ReportGroup(key=None, label="Total")
        for (key_value, metric), figures in found.items():
            group = total if key_value is TOTAL else groups[key_value]
            summary = group.metric(metric)
            for outcome, n in figures.counts.items():
                setattr(summary, outcome, n)
            summary.median_seconds = figures.median_seconds
            summary.p90_seconds = figures.p90_seconds
            summary.breached_by_median_seconds = figures.late_median_seconds
        return SlaReport(
            first_day=filters.first_day,
            last_day=filters.last_day,
            timezone=zone_name,
            group_by=group_by,
            groups=list(groups.values()),
            total=total,
        )

    async def sla_facts(self, who: Principal, filters: ReportFilters) -> AsyncIterator[FactRow]:
        """Every fact of the period, one per ticket and metric, in the order their clocks
        started. Checks the caller and the period at once; the rows then come a page at a
        time, each page read in a session of its own."""
        async with self._reading() as session:
            span, _zone = await self._period(session, who, filters)
        return self._fact_stream(_fact_filters(who, filters, span))

    async def _fact_stream(self, facts: FactFilters) -> AsyncIterator[FactRow]:
        after = None
        while True:
            async with self._reading() as session:
                rows = await queries.fact_page(session, facts, after=after, limit=FACT_PAGE)
            for row in rows:
                yield FactRow.from_row(row)
            if len(rows) < FACT_PAGE:
                return
            last = rows[-1]
            after = (last.started_at, last.ticket_id, last.metric)

    async def breaches(
        self, who: Principal, filters: ReportFilters, *, limit: int, offset: int = 0
    ) -> list[FactRow]:
        """The breached metrics of the period (one row per ticket and metric), worst first:
        breaches still running, the longest overdue first, then the settled ones by how
        late they were (business seconds beyond the target), the latest first."""
        async with self._reading() as session:
            span, _zone = await self._period(session, who, filters)
            facts = _fact_filters(who, filters, span)
            rows = await queries.breaches(session, facts, limit=limit, offset=offset)
        return [FactRow.from_row(row) for row in rows]

    async def recent_weeks(
        self, who: Principal, weeks: int = DEFAULT_WEEKS, *, now: datetime | None = None
    ) -> tuple[date, date]:
        """The period a report covers when none is asked for: the last ``weeks`` ISO weeks,
        this one so far included (so today's tickets show), as local days of the
        organization's reporting zone. Checks the caller (403)."""
        async with self._reading() as session:
            zone_name = await self._zone(session, who)
        today = (now or utcnow()).astimezone(load_zone(zone_name)).date()
        monday = today - timedelta(days=today.weekday())
        return monday - timedelta(weeks=weeks - 1), today

    async def _zone(self, session: AsyncSession, who: Principal) -> str:
        """Check the caller (403); the name of the organization's reporting zone."""
        if not lifecycle.is_triage(actor(who)):
            raise Forbidden(
                f"requires role {' or '.join(sorted(TRIAGE_ROLES))}", code="insufficient_role"
            )
        org = await session.get(Organization, who.organization_id)
        return org.reporting_timezone if org is not None else "UTC"

    async def _period(
        self, session: AsyncSession, who: Principal, filters: ReportFilters
    ) -> tuple[Period, str]:
        """Check the caller (403) and the period (422); the period in the organization's
        reporting zone, and the zone's name."""
        zone_name = await self._zone(session, who)
        return period(filters.first_day, filters.last_day, load_zone(zone_name)), zone_name

    async def _groups(
        self,
        session: AsyncSession,
        who: Principal,
        group_by: GroupBy,
        buckets: list[Bucket],
        found: dict[tuple[Any, str], Any],
    ) -> dict[Any, ReportGroup]:
        """The report's groups by key, in display order: every week of the period, every
        priority by severity, the services and agents that have facts by name."""
        if group_by is GroupBy.WEEK:
            return {i: ReportGroup(b.key, b.label) for i, b in enumerate(buckets)}
        if group_by is GroupBy.PRIORITY:
            return {p.value: ReportGroup(p.value, p.value) for p in SEVERITY}
        keys = {key for key, _metric in found if key is not TOTAL}
        ids = [k for k in keys if k is not None]
        if group_by is GroupBy.SERVICE:
            names = await queries.service_names(session, who.organization_id, ids)
            missing = "No service"
        else:
            names = await queries.user_names(session, who.organization_id, ids)
            missing = "Unassigned"
        groups = [
            ReportGroup(str(k), names.get(k, str(k)))
            if k is not None
            else ReportGroup(None, missing)
            for k in keys
        ]
        groups.sort(key=lambda g: (g.key is None, g.label.casefold(), g.key or ""))
        return {None if g.key is None else uuid.UUID(g.key): g for g in groups}


def _fact_filters(who: Principal, filters: ReportFilters, span: Period) -> FactFilters:
    narrowing = {name: getattr(filters, name) for name in NARROWING}
    return FactFilters(who.organization_id, span.start, span.end, **narrowing)


def _group_key(group_by: GroupBy, buckets: list[Bucket]) -> ColumnElement[Any]:
    if group_by is GroupBy.WEEK:
        return queries.bucket_index([b.start for b in buckets[1:]])
    return {
        GroupBy.PRIORITY: SlaFact.priority,
        GroupBy.SERVICE: SlaFact.service_id,
        GroupBy.AGENT: SlaFact.assigned_to,
    }[group_by]
