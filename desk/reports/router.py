"""Report routes: each parses HTTP, calls one use case of
:class:`desk.reports.service.ReportService` and shapes its answer (JSON, or CSV)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from desk.auth.deps import CurrentUser
from desk.http.pagination import DEFAULT_LIMIT, Limit, Offset, offset_page
from desk.reports.export import csv_chunks
from desk.reports.schemas import BreachQuery, FactOut, SlaReportOut, SlaReportQuery
from desk.reports.service import ReportService

router = APIRouter(tags=["reports"])

MANAGERS_ONLY = {403: {"description": "Requires the MANAGER or ADMIN role."}}
CSV_TYPE = "text/csv"


async def get_report_service(request: Request) -> ReportService:
    return ReportService(request.app.state.sessionmaker)


Reports = Annotated[ReportService, Depends(get_report_service)]


def wants_csv(accept: str | None, format: str | None) -> bool:
    """``format`` decides if given; else CSV when ``Accept`` ranks ``text/csv`` at least as
    high as ``application/json`` (an earlier listing wins a tie)."""
    if format is not None:
        return format == "csv"
    best: dict[str, tuple[float, int]] = {}
    for position, part in enumerate((accept or "").split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media in (CSV_TYPE, "application/json") and media not in best:
            best[media] = (quality, -position)
    csv_rank = best.get(CSV_TYPE)
    return (
        csv_rank is not None
        and csv_rank[0] > 0
        and csv_rank >= best.get("application/json", (0.0, 0))
    )


@router.get(
    "/reports/sla",
    name="sla",
    response_model=SlaReportOut,
    responses={
        **MANAGERS_ONLY,
        200: {
            "description": "The report; with `format=csv` or `Accept: text/csv`, every "
            "ticket's metrics of the period as CSV (streamed).",
            "content": {CSV_TYPE: {"schema": {"type": "string"}}},
        },
    },
)
async def sla_report(
    request: Request,
    user: CurrentUser,
    reports: Reports,
    query: Annotated[SlaReportQuery, Query()],
) -> Any:
    """SLA compliance of the period per metric (acceptance, first response, resolution),
    grouped by priority, service, agent or week; a ticket counts in the period in which its
    SLA clock started (acceptance; creation for the acceptance metric)."""
    filters = query.filters()
    if not wants_csv(request.headers.get("accept", "")[:1024], query.format):
        return SlaReportOut.of(await reports.sla(user, filters, query.group_by))
    rows = await reports.sla_facts(user, filters)
    name = f"sla-{query.from_.isoformat()}-{query.to.isoformat()}.csv"
    return StreamingResponse(
        csv_chunks(rows),
        media_type=f"{CSV_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/reports/sla/breaches",
    name="sla-breaches",
    response_model=list[FactOut],
    responses=MANAGERS_ONLY,
)
async def sla_breaches(
    request: Request,
    response: Response,
    user: CurrentUser,
    reports: Reports,
    query: Annotated[BreachQuery, Query()],
    limit: Limit = DEFAULT_LIMIT,
    offset: Offset = 0,
) -> Any:
    """The breached metrics of the period, worst first: those still running (the longest
    overdue first), then the ended ones by how late they were."""
    rows = await reports.breaches(
        user, query.filters(metric=query.metric), limit=limit + 1, offset=offset
    )
    return offset_page(request, response, rows, offset=offset, limit=limit)
