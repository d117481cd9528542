"""The SQL of the SLA reports: one organization's facts (``sla_facts``) whose clock started
in a period, counted, ranked and paged in the database.

The figures (:func:`figures`: counts per outcome, the median and 90th percentile of the time
to meet, the median lateness; per group and for the whole period) are computed by the
database on either engine, the same way, ``percentile_cont``'s:
``v[lo] + (v[lo + 1] - v[lo]) * f`` with ``lo + f = (n - 1) * q`` over the sorted values.

- PostgreSQL: one statement, one scan: ``GROUP BY GROUPING SETS ((key, metric), (metric))``
  with a ``count(*) FILTER`` per outcome and ``percentile_cont ... WITHIN GROUP``.
- SQLite has no ``percentile_cont`` (nor grouping sets): outcomes are counted with a plain
  ``GROUP BY``, and each value is ranked with ``row_number()`` over its group and over the
  whole period; only the rows at the ranks a percentile reads come back (at most four per
  group) and Python interpolates between them. (Streaming the sorted values into Python
  instead was measured three times slower: every row crosses the async driver.)

Both answers are rounded to the millisecond, so that the engines' float arithmetic cannot
tell them apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, case, func, literal, or_, select, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from desk.admin.models import Service
from desk.auth.models import User
from desk.sla.contracts import MetricState
from desk.sla.models import SlaFact
from desk.tickets.models import Ticket

# The percentiles every metric reports, in percent.
MEDIAN, P90 = 50, 90
# The outcomes a report counts (every fact has one; ``not_started`` is never stored).
OUTCOMES = tuple(s.value for s in MetricState if s is not MetricState.NOT_STARTED)
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


def time_to_meet(c: Any) -> tuple[ColumnElement[float], ColumnElement[bool]]:
    """Business seconds from the clock's start to the instant the metric was met (in time
    or late), for every tracked metric that was met and has the figure recorded; ``c`` is
    :class:`SlaFact` or a selection of its columns."""
    applies = and_(
        c.met_at.is_not(None),
        c.outcome != MetricState.UNTRACKED,
        c.business_seconds.is_not(None),
    )
    return c.business_seconds, applies


def lateness(c: Any) -> tuple[ColumnElement[float], ColumnElement[bool]]:
    """Business seconds beyond the target a breach broke, for breached metrics whose clock
    has ended (met late, or stopped unmet): a breach still running is not late by a known
    amount yet."""
    applies = and_(
        c.outcome == MetricState.BREACHED,
        c.business_seconds.is_not(None),
        c.target_seconds.is_not(None),
    )
    return c.business_seconds - c.target_seconds, applies


# --- aggregates -----------------------------------------------------------------------------


@dataclass
class Figures:
    """One metric in one group (or the whole period): facts per outcome, and times."""

    counts: dict[str, int] = field(default_factory=dict)
    median_seconds: float | None = None
    p90_seconds: float | None = None
    late_median_seconds: float | None = None


async def figures(
    session: AsyncSession, filters: FactFilters, key: ColumnElement[Any]
) -> dict[tuple[Key, str], Figures]:
    """The figures of each ``(key, metric)`` with facts, and of each ``(TOTAL, metric)``."""
    if session.get_bind().dialect.name == "postgresql":
        return await _figures_with_grouping_sets(session, filters, key)
    return await _figures_from_ranks(session, filters, key)


async def _figures_with_grouping_sets(
    session: AsyncSession, filters: FactFilters, key: ColumnElement[Any]
) -> dict[tuple[Key, str], Figures]:
    facts = (
        select(
            key.label("key"),
            SlaFact.metric,
            SlaFact.outcome,
            SlaFact.met_at,
            SlaFact.business_seconds,
            SlaFact.target_seconds,
        )
        .where(*filters.where())
        .subquery()
    )
    c = facts.c
    taken, meets = time_to_meet(c)
    late, is_late = lateness(c)
    query = select(
        c.key,
        c.metric,
        func.grouping(c.key).label("is_total"),
        *(func.count().filter(c.outcome == o).label(o) for o in OUTCOMES),
        func.percentile_cont(postgresql.array([q / 100 for q in _QUANTILES]))
        .within_group(taken)
        .filter(meets)
        .label("taken"),
        func.percentile_cont(MEDIAN / 100).within_group(late).filter(is_late).label("late"),
    ).group_by(func.grouping_sets(tuple_(c.key, c.metric), tuple_(c.metric)))
    found = {}
    for row in await session.execute(query):
        median, p90 = row.taken or (None, None)
        found[(TOTAL if row.is_total else row.key, row.metric)] = Figures(
            counts={o: n for o in OUTCOMES if (n := getattr(row, o))},
            median_seconds=_rounded(median),
            p90_seconds=_rounded(p90),
            late_median_seconds=_rounded(row.late),
        )
    return found


async def _figures_from_ranks(
    session: AsyncSession, filters: FactFilters, key: ColumnElement[Any]
) -> dict[tuple[Key, str], Figures]:
    found: dict[tuple[Key, str], Figures] = {}
    for key_value, metric, outcome, n in await _outcome_counts(session, filters, key):
        for which in ((key_value, metric), (TOTAL, metric)):
            counts = found.setdefault(which, Figures()).counts
            counts[outcome] = counts.get(outcome, 0) + n
    times = await _percentiles(session, filters, key, time_to_meet(SlaFact))
    late = await _percentiles(session, filters, key, lateness(SlaFact))
    for which, figure in found.items():
        figure.median_seconds = times.get(which, {}).get(MEDIAN)
        figure.p90_seconds = times.get(which, {}).get(P90)
        figure.late_median_seconds = late.get(which, {}).get(MEDIAN)
    return found


async def _outcome_counts(
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


async def _percentiles(
    session: AsyncSession,
    filters: FactFilters,
    key: ColumnElement[Any],
    measure: tuple[ColumnElement[float], ColumnElement[bool]],
) -> dict[tuple[Key, str], dict[int, float | None]]:
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
        which: {q: _rounded(_interpolate(values, n, q)) for q in _QUANTILES}
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


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


# --- rows -----------------------------------------------------------------------------------


def _late_seconds() -> ColumnElement[float | None]:
    """:func:`lateness` where it applies, else NULL."""
    late, applies = lateness(SlaFact)
    return case((applies, late))


def _fact_rows():
    """Facts as plain rows (no ORM objects: the CSV reads many), with their lateness, their
    ticket's number, subject and status, the service's name and the assignee's; labelled
    as the fields of ``desk.reports.service.FactRow``."""
    assignee = func.coalesce(func.nullif(User.full_name, ""), User.email)
    return (
        select(
            SlaFact.ticket_id,
            Ticket.number,
            Ticket.subject,
            Ticket.status,
            SlaFact.priority,
            SlaFact.service_id,
            Service.name.label("service"),
            SlaFact.assigned_to,
            assignee.label("assignee"),
            SlaFact.metric,
            SlaFact.outcome,
            SlaFact.started_at,
            SlaFact.due_at,
            SlaFact.met_at,
            SlaFact.breached_at,
            SlaFact.target_seconds,
            SlaFact.business_seconds,
            SlaFact.paused_seconds,
            _late_seconds().label("late_seconds"),
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
    """One page of the period's facts in the order their clocks started: keyset on
    ``(started_at, ticket_id, metric)`` (which never change for a fact), the order of
    ``ix_sla_facts_org_started``, so a page reads only its own rows."""
    query = _fact_rows().where(*filters.where())
    position = tuple_(SlaFact.started_at, SlaFact.ticket_id, SlaFact.metric)
    if after is not None:
        query = query.where(position > tuple_(*after))
    query = query.order_by(*position.clauses).limit(limit)
    return list(await session.execute(query))


async def breaches(
    session: AsyncSession, filters: FactFilters, *, limit: int, offset: int
) -> list[Row[Any]]:
    """The period's breached facts, worst first: those whose clock still runs (lateness
    still growing) first, the longest overdue (earliest breach) first; then the settled
    ones by lateness, the latest first; ties by ticket number and metric."""
    late = _late_seconds()
    query = (
        _fact_rows()
        .where(*filters.where(), SlaFact.outcome == MetricState.BREACHED)
        .order_by(
            case((late.is_(None), 0), else_=1),
            case((late.is_(None), SlaFact.breached_at)),
            late.desc(),
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
