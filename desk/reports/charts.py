"""Server-side SVG charts of the SLA reports: a weekly compliance trend (lines) and breaches
by priority (grouped bars). Pure: strings in, a standalone ``<svg>`` element out, no script.

Accessible by construction: ``role="img"`` named by its ``<title>`` and described by a
``<desc>`` that reads every value out; every value is also a text label (bars) or a point
with its own ``<title>`` (lines); series differ by marker shape and dash pattern as well as
colour. The page that shows a chart also shows its numbers as a table.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from desk.reports.service import SEVERITY, ReportGroup, SlaReport
from desk.sla.contracts import Metric

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 24, 72
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 13
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# Per series: colour (Okabe-Ito, distinguishable with colour-blindness), dash, marker.
STYLES = (
    ("#0072B2", "", "circle"),
    ("#D55E00", "6 3", "square"),
    ("#009E73", "2 3", "diamond"),
    ("#CC79A7", "8 3 2 3", "circle"),
)
METRIC_NAMES = {
    Metric.ACCEPT: "Acceptance",
    Metric.FIRST_RESPONSE: "First response",
    Metric.RESOLUTION: "Resolution",
}


@dataclass(frozen=True)
class Series:
    """One line or one bar per category; ``None`` where there is no value."""

    name: str
    values: Sequence[float | None]


def line_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    chart_id: str,
    y_max: float = 100.0,
    unit: str = "%",
) -> str:
    """Lines over categories on a 0..``y_max`` axis (a gap where a value is ``None``)."""
    chart = _Chart(categories, series, title=title, chart_id=chart_id, y_max=y_max, unit=unit)
    body = []
    for index, one in enumerate(series):
        colour, dash, marker = STYLES[index % len(STYLES)]
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        for run in _runs(one.values):
            if len(run) < 2:
                continue  # a lone point is its marker
            coordinates = " ".join(f"{chart.x(i):.1f},{chart.y(one.values[i]):.1f}" for i in run)
            body.append(
                f'<polyline points="{coordinates}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dashing}/>'
            )
        for i, value in enumerate(one.values):
            if value is not None:
                label = f"{one.name}, {categories[i]}: {chart.format(value)}"
                body.append(_marker(marker, chart.x(i), chart.y(value), colour, label))
    return chart.render(body)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    chart_id: str,
    unit: str = "",
) -> str:
    """Grouped bars, one group per category, each bar labelled with its value."""
    highest = max((v for s in series for v in s.values if v is not None), default=0)
    chart = _Chart(
        categories,
        series,
        title=title,
        chart_id=chart_id,
        y_max=_count_axis_max(highest),
        unit=unit,
        bars=True,
    )
    body = []
    group_width = chart.step * 0.8
    bar_width = group_width / max(len(series), 1)
    for index, one in enumerate(series):
        colour, _dash, _marker = STYLES[index % len(STYLES)]
        for i, value in enumerate(one.values):
            if value is None:
                continue
            x = chart.x(i) - group_width / 2 + index * bar_width
            y = chart.y(value)
            label = f"{one.name}, {categories[i]}: {chart.format(value)}"
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width * 0.9:.1f}" '
                f'height="{chart.y(0) - y:.1f}" fill="{colour}"><title>{escape(label)}</title>'
                "</rect>"
            )
            body.append(
                _text(x + bar_width * 0.45, y - 4, chart.format(value), anchor="middle", size=10)
            )
    return chart.render(body)


# --- the two charts of the Reports page ------------------------------------------------------


def compliance_trend(report: SlaReport, *, chart_id: str = "compliance-trend") -> str:
    """Compliance per week and metric, from a report grouped by week."""
    return line_chart(
        [group.label for group in report.groups],
        [
            Series(METRIC_NAMES[m], [g.metric(m).compliance_percent for g in report.groups])
            for m in Metric
        ],
        title=f"SLA compliance per week, {report.first_day} to {report.last_day}",
        chart_id=chart_id,
    )


def breaches_by_priority(report: SlaReport, *, chart_id: str = "breaches-by-priority") -> str:
    """Breaches per priority and metric, from a report grouped by priority."""
    groups: dict[str | None, ReportGroup] = {g.key: g for g in report.groups}
    present = [p.value for p in SEVERITY if p.value in groups]
    return bar_chart(
        present,
        [Series(METRIC_NAMES[m], [groups[p].metric(m).breached for p in present]) for m in Metric],
        title=f"SLA breaches by priority, {report.first_day} to {report.last_day}",
        chart_id=chart_id,
    )


# --- drawing ---------------------------------------------------------------------------------


class _Chart:
    """The frame every chart shares: scale, axes, labels, legend, title and description."""

    def __init__(
        self,
        categories: Sequence[str],
        series: Sequence[Series],
        *,
        title: str,
        chart_id: str,
        y_max: float,
        unit: str,
        bars: bool = False,
    ):
        if not _ID.fullmatch(chart_id):
            raise ValueError(f"chart_id {chart_id!r} is not a plain id (letters, digits, - _)")
        for one in series:
            if len(one.values) != len(categories):
                raise ValueError(f"series {one.name!r} has {len(one.values)} values")
        self.categories, self.series = categories, series
        self.title, self.chart_id = title, chart_id
        self.y_max, self.unit = y_max if y_max > 0 else 1.0, unit
        self.step = PLOT_WIDTH / max(len(categories), 1)
        self.bars = bars

    def x(self, index: int) -> float:
        return LEFT + (index + 0.5) * self.step

    def y(self, value: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - min(max(value, 0), self.y_max) / self.y_max)

    def format(self, value: float) -> str:
        number = f"{value:.1f}".removesuffix(".0")
        return f"{number} {self.unit}".rstrip()

    @property
    def empty(self) -> bool:
        return not any(v is not None for s in self.series for v in s.values)

    def description(self) -> str:
        if self.empty:
            return "No data for this period."
        parts = []
        for one in self.series:
            readings = ", ".join(
                f"{c} {'no data' if v is None else self.format(v)}"
                for c, v in zip(self.categories, one.values, strict=True)
            )
            parts.append(f"{one.name}: {readings}.")
        return " ".join(parts)

    def render(self, body: list[str]) -> str:
        cid = self.chart_id
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" role="img" '
            f'aria-labelledby="{cid}-title {cid}-desc" id="{cid}" '
            'font-family="sans-serif" font-size="12">',
            f'<title id="{cid}-title">{escape(self.title)}</title>',
            f'<desc id="{cid}-desc">{escape(self.description())}</desc>',
            *self._axes(),
        ]
        if self.empty:
            parts.append(_text(LEFT + PLOT_WIDTH / 2, TOP + PLOT_HEIGHT / 2, "No data", "middle"))
        else:
            parts += body
        parts += self._legend()
        parts.append("</svg>")
        return "\n".join(parts)

    def _axes(self) -> list[str]:
        parts = []
        for tick in range(5):
            value = self.y_max * tick / 4
            y = self.y(value)
            parts.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PLOT_WIDTH}" y2="{y:.1f}" '
                'stroke="#d0d0d0"/>'
            )
            parts.append(_text(LEFT - 6, y + 4, self.format(value), anchor="end"))
        every = math.ceil(len(self.categories) / MAX_X_LABELS) or 1
        for i, category in enumerate(self.categories):
            if i % every == 0:
                parts.append(_text(self.x(i), TOP + PLOT_HEIGHT + 16, category, "middle"))
        return parts

    def _legend(self) -> list[str]:
        parts = []
        x = LEFT
        y = HEIGHT - 16
        for index, one in enumerate(self.series):
            colour, dash, marker = STYLES[index % len(STYLES)]
            if self.bars:
                parts.append(
                    f'<rect x="{x + 6}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
                )
            else:
                dashing = f' stroke-dasharray="{dash}"' if dash else ""
                parts.append(
                    f'<line x1="{x}" y1="{y - 4}" x2="{x + 24}" y2="{y - 4}" stroke="{colour}" '
                    f'stroke-width="2"{dashing}/>'
                )
                parts.append(_marker(marker, x + 12, y - 4, colour, None))
            parts.append(_text(x + 30, y, one.name))
            x += 40 + 7 * len(one.name)
        return parts


def _runs(values: Sequence[float | None]) -> list[list[int]]:
    """Indexes of the consecutive non-missing values."""
    runs: list[list[int]] = []
    current: list[int] = []
    for i, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(i)
    if current:
        runs.append(current)
    return runs


def _count_axis_max(value: float) -> float:
    """The top of an axis of counts: 4 x (1, 2 or 5 x 10^k), the smallest at or above
    ``value``, so that its four ticks are whole numbers."""
    for power in itertools.count():
        for factor in (1, 2, 5):
            if 4 * factor * 10**power >= value:
                return 4.0 * factor * 10**power
    raise AssertionError("unreachable")  # pragma: no cover


def _text(x: float, y: float, content: str, anchor: str = "start", size: int | None = None) -> str:
    sizing = f' font-size="{size}"' if size else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{sizing}>{escape(content)}</text>'


def _marker(shape: str, x: float, y: float, colour: str, label: str | None) -> str:
    """A point of a line (or its legend sample), its value as a tooltip ``<title>``."""
    if shape == "square":
        tag, place = "rect", f'x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8"'
    elif shape == "diamond":
        corners = f"{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}"
        tag, place = "polygon", f'points="{corners}"'
    else:
        tag, place = "circle", f'cx="{x:.1f}" cy="{y:.1f}" r="4"'
    if label is None:
        return f'<{tag} {place} fill="{colour}"/>'
    return f'<{tag} {place} fill="{colour}"><title>{escape(label)}</title></{tag}>'
