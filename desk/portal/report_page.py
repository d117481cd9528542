"""The Reports page (managers and admins): SLA compliance of a period per metric and group,
the weekly compliance trend and the breaches by priority (SVG charts drawn on the server,
each beside its numbers), the breached tickets worst first, and a link to the same report
as CSV. Every figure comes from :class:`desk.reports.service.ReportService`, as for
``GET /api/v1/reports/sla``; the page reads its GET form and shapes the answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from desk.admin import service as admin_service
from desk.auth.models import User
from desk.enums import Priority
from desk.errors import Unprocessable
from desk.portal.pages import Me
from desk.portal.render import page
from desk.portal.route import PortalRoute
from desk.portal.sla_display import format_span
from desk.reports import charts
from desk.reports.router import Reports
from desk.reports.schemas import SlaReportQuery
from desk.reports.service import FactRow, GroupBy, MetricSummary, ReportGroup, SlaReport
from desk.sla.contracts import Metric
from desk.tickets.deps import Tickets

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PAGE_SIZE = 50
# The form's fields: the API's own parameter names, so a page's query is the CSV's query.
FIELDS = {
    "from": "From",
    "to": "To",
    "group_by": "Group by",
    "priority": "Priority",
    "service_id": "Service",
    "assigned_to": "Assignee",
}
GROUP_NAMES = {
    GroupBy.PRIORITY: "Priority",
    GroupBy.SERVICE: "Service",
    GroupBy.AGENT: "Agent",
    GroupBy.WEEK: "Week",
}
PERIOD_ERRORS = {"invalid_period": "To is before From: choose a To on or after From."}


@dataclass(frozen=True)
class Figures:
    """One metric of one group as its table row shows it."""

    met: int
    breached: int
    running: int
    paused: int
    stopped: int
    untracked: int
    compliance: str
    median: str
    p90: str
    late_by: str


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:g} %"


def _span(seconds: float | None) -> str:
    return "—" if seconds is None else format_span(seconds)


def figures(summary: MetricSummary) -> Figures:
    return Figures(
        met=summary.met,
        breached=summary.breached,
        running=summary.running,
        paused=summary.paused,
        stopped=summary.stopped,
        untracked=summary.untracked,
        compliance=_percent(summary.compliance_percent),
        median=_span(summary.median_seconds),
        p90=_span(summary.p90_seconds),
        late_by=_span(summary.breached_by_median_seconds),
    )


def _metric_tables(report: SlaReport) -> list[dict[str, Any]]:
    """Per metric: each group's figures, then the total's."""
    return [
        {
            "metric": metric.value,
            "name": charts.METRIC_NAMES[metric],
            "rows": [(g.label, figures(g.metric(metric))) for g in report.groups],
            "total": figures(report.total.metric(metric)),
        }
        for metric in Metric
    ]


def _by_metric(groups: list[ReportGroup], value) -> list[tuple[str, list[str]]]:
    return [(g.label, [value(g.metric(m)) for m in Metric]) for g in groups]


def _breach_rows(rows: list[FactRow]) -> list[dict[str, Any]]:
    return [
        {
            "fact": row,
            "metric": charts.METRIC_NAMES[Metric(row.metric)],
            # A breach whose clock still runs has no lateness yet: it is still overdue.
            "late": "still open" if row.late_seconds is None else format_span(row.late_seconds),
        }
        for row in rows
    ]


def _validation_messages(exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        text = error["msg"].removeprefix("Value error, ")
        messages.append(f"{FIELDS.get(name, name)}: {text}.".replace("..", "."))
    return messages


def _text(raw: str) -> str:
    """A form value as the page may echo it back: printable, and short."""
    return "".join(ch for ch in raw[:100] if ch.isprintable()).strip()


async def _choices(request: Request, user: User, tickets: Tickets) -> dict[str, Any]:
    """The form's options: priorities, every service (retired ones still have history),
    the staff a ticket may be assigned to."""
    async with request.app.state.sessionmaker() as session:
        services = await admin_service.list_services(session, user, limit=500, offset=0)
    return {
        "group_names": GROUP_NAMES,
        "priorities": list(Priority),
        "services": services,
        "staff_members": await tickets.assignees(user),
    }


@router.get("/reports")
async def reports_page(
    request: Request,
    user: Me,
    reports: Reports,
    tickets: Tickets,
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """The SLA report of the period the form asks for (by default the last four weeks);
    a bad value is shown on the page with the form, never an error page."""
    # Asked first: besides the default period, it refuses every role but MANAGER and ADMIN.
    first_day, last_day = await reports.recent_weeks(user)
    asked = {name: _text(request.query_params.get(name, "")) for name in FIELDS}
    values = {
        **asked,
        "from": asked["from"] or first_day.isoformat(),
        "to": asked["to"] or last_day.isoformat(),
        "group_by": asked["group_by"] or GroupBy.PRIORITY.value,
    }
    context: dict[str, Any] = {
        "user": user,
        "current": "reports",
        "values": values,
        **await _choices(request, user, tickets),
    }
    try:
        query = SlaReportQuery.model_validate({k: v for k, v in values.items() if v})
        filters = query.filters()
        report = await reports.sla(user, filters, query.group_by)
    except ValidationError as exc:
        errors = _validation_messages(exc)
    except Unprocessable as exc:
        errors = [PERIOD_ERRORS.get(exc.code, exc.detail[:1].upper() + exc.detail[1:] + ".")]
    else:
        errors = []
    if errors:
        return await page(request, "reports.html", status_code=422, errors=errors, **context)

    weekly = report if query.group_by is GroupBy.WEEK else None
    weekly = weekly or await reports.sla(user, filters, GroupBy.WEEK)
    by_priority = report if query.group_by is GroupBy.PRIORITY else None
    by_priority = by_priority or await reports.sla(user, filters, GroupBy.PRIORITY)
    breaches = await reports.breaches(
        user, filters, limit=PAGE_SIZE + 1, offset=(page_number - 1) * PAGE_SIZE
    )
    shown = {k: v for k, v in values.items() if v}
    query_base = urlencode(shown)
    return await page(
        request,
        "reports.html",
        report=report,
        group_name=GROUP_NAMES[query.group_by],
        metric_tables=_metric_tables(report),
        trend_chart=charts.compliance_trend(weekly),
        trend_rows=_by_metric(weekly.groups, lambda s: _percent(s.compliance_percent)),
        breaches_chart=charts.breaches_by_priority(by_priority),
        breaches_by_priority=_by_metric(by_priority.groups, lambda s: str(s.breached)),
        metric_names=[charts.METRIC_NAMES[m] for m in Metric],
        breaches=_breach_rows(breaches[:PAGE_SIZE]),
        page_number=page_number,
        more=len(breaches) > PAGE_SIZE,
        query_base=query_base,
        # The API's own CSV, which the session cookie authenticates as it does the page.
        csv_url=f"{request.app.url_path_for('sla')}?{urlencode({**shown, 'format': 'csv'})}",
        **context,
    )
