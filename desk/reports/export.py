"""The SLA facts as CSV: one row per ticket and metric, produced as the rows arrive."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime

from desk.reports.service import FactRow

COLUMNS = (
    "ticket_number",
    "subject",
    "priority",
    "service",
    "assignee",
    "metric",
    "started_at",
    "due_at",
    "met_at",
    "breached_at",
    "target_seconds",
    "business_seconds",
    "paused_seconds",
    "outcome",
)
CHUNK_BYTES = 64 * 1024
# A cell a spreadsheet would run as a formula (CSV injection) is quoted as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _instant(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}".rstrip("0").rstrip(".")


def csv_row(row: FactRow) -> list[str]:
    """One fact as CSV cells (instants in UTC, ISO 8601; seconds to the microsecond)."""
    return [
        str(row.number),
        _text(row.subject),
        row.priority,
        _text(row.service),
        _text(row.assignee),
        row.metric,
        _instant(row.started_at),
        _instant(row.due_at),
        _instant(row.met_at),
        _instant(row.breached_at),
        _seconds(row.target_seconds),
        _seconds(row.business_seconds),
        _seconds(row.paused_seconds),
        row.outcome,
    ]


async def csv_chunks(rows: AsyncIterator[FactRow]) -> AsyncIterator[str]:
    """The header, then the rows, in chunks of about :data:`CHUNK_BYTES`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    async for row in rows:
        writer.writerow(csv_row(row))
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
