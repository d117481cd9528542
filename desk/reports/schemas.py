"""HTTP query parameters and bodies of the report routes (pydantic, no SQLAlchemy)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from desk.enums import Priority
from desk.reports.service import GroupBy, ReportFilters, SlaReport
from desk.sla.contracts import Metric
from desk.validation import Day


class ReportQuery(BaseModel):
    """The period and filters every report route takes."""

    from_: Day = Field(
        alias="from",
        description="First day (YYYY-MM-DD), in the organization's reporting time zone.",
    )
    to: Day = Field(description="Last day, inclusive; at most 366 days after `from`.")
    priority: Priority | None = Field(None, description="Only tickets of this priority now.")
    service_id: uuid.UUID | None = Field(None, description="Only tickets of this service.")
    assigned_to: uuid.UUID | None = Field(None, description="Only tickets assigned to this user.")

    def filters(self, **extra: object) -> ReportFilters:
        narrowing = self.model_dump(include={"priority", "service_id", "assigned_to"})
        return ReportFilters(first_day=self.from_, last_day=self.to, **narrowing, **extra)


class SlaReportQuery(ReportQuery):
    group_by: GroupBy = Field(GroupBy.PRIORITY, description="One group per value of this.")
    format: Literal["json", "csv"] | None = Field(
        None,
        description="`csv`: every ticket's metrics as CSV rows (as with `Accept: text/csv`).",
    )


class BreachQuery(ReportQuery):
    metric: Metric | None = Field(None, description="Only breaches of this metric.")


class MetricSummaryOut(BaseModel):
    """One metric in one group: each fact started in the period has one outcome."""

    model_config = ConfigDict(from_attributes=True)

    met: int = Field(description="Met in time.")
    breached: int = Field(description="Target missed (met late included).")
    running: int
    paused: int = Field(description="Waiting on the customer.")
    stopped: int = Field(description="Stopped before being met, with no breach.")
    untracked: int = Field(description="No target in the ticket's policy (acceptance).")
    compliance_percent: float | None = Field(description="met / (met + breached) x 100.")
    median_seconds: float | None = Field(
        description="Median time to meet (met in time or late): business seconds, paused "
        "time excluded."
    )
    p90_seconds: float | None = Field(description="90th percentile of the time to meet.")
    breached_by_median_seconds: float | None = Field(
        description="Median business seconds beyond the target of the breaches that ended "
        "(met late, or stopped unmet)."
    )


class MetricsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    accept: MetricSummaryOut
    first_response: MetricSummaryOut
    resolution: MetricSummaryOut


class ReportGroupOut(MetricsOut):
    key: str | None = Field(
        description="The priority, the service or user id (null: none), or the week's Monday."
    )
    label: str


class SlaReportOut(BaseModel):
    from_: date = Field(serialization_alias="from")
    to: date
    timezone: str = Field(description="The reporting time zone the days were read in.")
    group_by: GroupBy
    groups: list[ReportGroupOut]
    total: MetricsOut

    @classmethod
    def of(cls, report: SlaReport) -> SlaReportOut:
        return cls(
            from_=report.first_day,
            to=report.last_day,
            timezone=report.timezone,
            group_by=report.group_by,
            groups=[ReportGroupOut.model_validate(g) for g in report.groups],
            total=MetricsOut.model_validate(report.total),
        )


class FactOut(BaseModel):
    """One metric of one ticket."""

    model_config = ConfigDict(from_attributes=True)

    ticket_id: uuid.UUID
    number: int
    subject: str
    status: str
    priority: Priority
    service_id: uuid.UUID | None
    service: str | None
    assigned_to: uuid.UUID | None
    assignee: str | None
    metric: Metric
    outcome: str
    started_at: datetime
    due_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None
    target_seconds: float | None
    business_seconds: float | None = Field(
        description="Business seconds the clock ran until met or stopped; null while it runs."
    )
    paused_seconds: float | None
    late_seconds: float | None = Field(
        description="Business seconds beyond the target once the breached clock ended."
    )
