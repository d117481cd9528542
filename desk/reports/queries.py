"""The SQL of the SLA reports: one organization's facts (``sla_facts``) whose clock started
in a period, counted, ranked and paged in the database; both engines run the same statements.

Percentiles (``percentile``): each value is ranked by ``row_number()`` over its group and
over the whole period, and only the rows at the ranks a percentile needs come back (at most
four per group), so the database sorts and Python interpolates, as PostgreSQL's
``percentile_cont`` does: ``v[lo] + (v[lo + 1] - v[lo]) * f`` with ``lo + f = (n - 1) * q``.
SQLite has window functions (3.25+) but no ``percentile_cont``; this way both engines give
the same answer from the same statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.admin.models import Service
from desk.auth.models import User
from desk.sla.contracts import MetricState
from desk.sla.models import SlaFact
from desk.tickets.models import Ticket

# The percentiles every metric reports, in percent.
MEDIAN, P90 = 50, 90
_QUANTILES = (MEDIAN, P90)
TOTAL = object()  # the key of the whole period in ``percentiles``' answer
Key = Any  # a group's key: a priority, a service or user id, a week's index, or None


@dataclass(frozen=True)
class FactFilters:
    """Which facts a report reads: an organization's, started in ``[start, end)``."""

    organization_id: uuid.UUID
    start: datetime
    end: datetime
    priority: str | None = None
    service_id: uuid.UUID | None = None
    assigned_to: uuid.UUID | None = None
    metric: str | None = None

    def where(self) -> list[ColumnElement[bool]]:
        conditions = [
            SlaFact.organization_id == self.organization_id,
            SlaFact.started_at >= self.start,
            SlaFact.started_at < self.end,
        ]
        for column, value in (
            (SlaFact.priority, self.priority),
            (SlaFact.service_id, self.service_id),
            (SlaFact.assigned_to, self.assigned_to),
            (SlaFact.metric, self.metric),
        ):
            if value is not None:
                conditions.append(column == value)
        return conditions


def bucket_index(boundaries: Sequence[datetime]) -> ColumnElement[int]:
    """The index of the bucket a fact's start falls in, buckets cut at ``boundaries`` (the
    inner ones, ascending): 0 before the first, ``len(boundaries)`` after the last."""
    if not boundaries:
        return literal(0)
    return case(
        *((SlaFact.started_at < b, i) for i, b in enumerate(boundaries)),
        else_=len(boundaries),
    )


# --- what a time to meet and a lateness are -------------------------------------------------

# Time to meet: business seconds from the clock's start to the instant the metric was met
# (in time or late), for every tracked metric that was met and has the figure recorded.
TIME_TO_MEET = (
    SlaFact.business_seconds,
    and_(
        SlaFact.met_at.is_not(None),
        SlaFact.outcome != MetricState.UNTRACKED,
        SlaFact.business_seconds.is_not(None),
    ),
)
# Lateness: business seconds beyond the target a breach broke, for breached metrics whose
# clock has ended (met late, or stopped unmet); a breach still running is not late by a
# known amount yet.
LATENESS = (
    SlaFact.business_seconds - SlaFact.target_seconds,
    and_(
        SlaFact.outcome == MetricState.BREACHED,
        SlaFact.business_seconds.is_not(None),
        SlaFact.target_seconds.is_not(None),
    ),
)


# --- aggregates -----------------------------------------------------------------------------


async def outcome_counts(
    session: AsyncSession, filters: FactFilters, key: ColumnElement[Any]
) -> list[Row[tuple[Key, str, str, int]]]:
    """``(key, metric, outcome, count)`` of the facts in the period."""
    facts = (
        select(key.label("key"), SlaFact.metric, SlaFact.outcome).where(*filters.where()).subquery()
    )
    query = select(facts.c.key, facts.c.metric, facts.c.outcome, func.count()).group_by(
        facts.c.key, facts.c.metric, facts.c.outcome
    )
    return list(await session.execute(query))


async def percentiles(
    session: AsyncSession,
    filters: FactFilters,
    key: ColumnElement[Any],
    measure: tuple[ColumnElement[float], ColumnElement[bool]],
) -> dict[tuple[Key, str], dict[int, float]]:
    """The median and 90th percentile of ``measure`` (a value and the facts it applies to)
    per ``(key, metric)``, and per ``(TOTAL, metric)`` for the whole period."""
    value, applies = measure
    facts = (
        select(key.label("key"), SlaFact.metric.label("metric"), value.label("value"))
        .where(*filters.where(), applies)
        .subquery()
    )
    group = (facts.c.key, facts.c.metric)
    ranked = select(
        facts.c.key,
        facts.c.metric,
        facts.c.value,
        func.row_number().over(partition_by=group, order_by=facts.c.value).label("group_rank"),
        func.count().over(partition_by=group).label("group_n"),
        func.row_number()
        .over(partition_by=facts.c.metric, order_by=facts.c.value)
        .label("total_rank"),
        func.count().over(partition_by=facts.c.metric).label("total_n"),
    ).subquery()
    query = select(ranked).where(
        or_(
            _needed_rank(ranked.c.group_rank, ranked.c.group_n),
            _needed_rank(ranked.c.total_rank, ranked.c.total_n),
        )
    )
    at_ranks: dict[tuple[Key, str], tuple[int, dict[int, float]]] = {}
    for row in await session.execute(query):
        for which, rank, n in (
            ((row.key, row.metric), row.group_rank, row.group_n),
            ((TOTAL, row.metric), row.total_rank, row.total_n),
        ):
            at_ranks.setdefault(which, (n, {}))[1][rank - 1] = row.value
    return {
        which: {q: _interpolate(values, n, q) for q in _QUANTILES}
        for which, (n, values) in at_ranks.items()
    }


def _low_rank(n: ColumnElement[int], q: int) -> ColumnElement[int]:
    """``floor((n - 1) * q / 100)``: integer division, the same on both engines."""
    return ((n - 1) * q) // 100


def _needed_rank(rank: ColumnElement[int], n: ColumnElement[int]) -> ColumnElement[bool]:
    """Whether a 1-based ``rank`` is one a percentile of ``n`` values reads."""
    zero_based = rank - 1
    return or_(
        *(zero_based == _low_rank(n, q) for q in _QUANTILES),
        *(zero_based == _low_rank(n, q) + 1 for q in _QUANTILES),
    )


def _interpolate(values: dict[int, float], n: int, q: int) -> float:
    """``percentile_cont(q / 100)`` of ``n`` sorted values, given those at the ranks it
    reads."""
    position = Fraction((n - 1) * q, 100)
    low = int(position)
    fraction = position - low
    if fraction == 0:
        return float(values[low])
    return float(values[low] + (values[low + 1] - values[low]) * fraction)


# --- rows -----------------------------------------------------------------------------------


def _fact_rows():
    """Facts with their ticket's number, subject and status, service name and assignee."""
    assignee = func.coalesce(func.nullif(User.full_name, ""), User.email)
    return (
        select(
            SlaFact,
            Ticket.number,
            Ticket.subject,
            Ticket.status,
            Service.name.label("service_name"),
            assignee.label("assignee_name"),
        )
        .join(Ticket, Ticket.id == SlaFact.ticket_id)
        .outerjoin(Service, Service.id == SlaFact.service_id)
        .outerjoin(User, User.id == SlaFact.assigned_to)
    )


async def fact_page(
    session: AsyncSession,
    filters: FactFilters,
    *,
    after: tuple[datetime, uuid.UUID, str] | None,
    limit: int,
) -> list[Row[Any]]:
    """One page of the period's facts in the order their clocks started (keyset on
    ``(started_at, ticket_id, metric)``, which never change for a fact)."""
    query = _fact_rows().where(*filters.where())
    if after is not None:
        started_at, ticket_id, metric = after
        query = query.where(
            or_(
                SlaFact.started_at > started_at,
                and_(SlaFact.started_at == started_at, SlaFact.ticket_id > ticket_id),
                and_(
                    SlaFact.started_at == started_at,
                    SlaFact.ticket_id == ticket_id,
                    SlaFact.metric > metric,
                ),
            )
        )
    query = query.order_by(SlaFact.started_at, SlaFact.ticket_id, SlaFact.metric).limit(limit)
    return list(await session.execute(query))


async def breaches(
    session: AsyncSession, filters: FactFilters, *, limit: int, offset: int
) -> list[Row[Any]]:
    """The period's breached facts, worst first: those whose clock still runs (lateness
    still growing) first, the longest overdue (earliest breach) first; then the settled
    ones by lateness, the latest first; ties by ticket number and metric."""
    still_running = SlaFact.business_seconds.is_(None)
    query = (
        _fact_rows()
        .where(*filters.where(), SlaFact.outcome == MetricState.BREACHED)
        .order_by(
            case((still_running, 0), else_=1),
            case((still_running, SlaFact.breached_at)),
            (SlaFact.business_seconds - SlaFact.target_seconds).desc(),
            Ticket.number,
            SlaFact.metric,
        )
        .offset(offset)
        .limit(limit)
    )
    return list(await session.execute(query))


async def service_names(
    session: AsyncSession, organization_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(Service.id, Service.name).where(
            Service.organization_id == organization_id, Service.id.in_(ids)
        )
    )
    return {service_id: name for service_id, name in rows}


async def user_names(
    session: AsyncSession, organization_id: uuid.UUID, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(User.id, User.full_name, User.email).where(
            User.organization_id == organization_id, User.id.in_(ids)
        )
    )
    return {user_id: full_name or email for user_id, full_name, email in rows}
