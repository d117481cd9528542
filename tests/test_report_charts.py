"""The report's SVG charts: well-formed, accessible, values where they belong, empty data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

import pytest

from desk.reports import charts
from desk.reports.charts import LEFT, PLOT_HEIGHT, PLOT_WIDTH, TOP, Series
from desk.reports.service import GroupBy, MetricSummary, ReportGroup, SlaReport

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg"
    return root


def accessible(root: ET.Element) -> tuple[str, str]:
    """The chart's name and description, checked to be wired up as an image's."""
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    assert by_id[title_id].tag == f"{SVG}title" and by_id[desc_id].tag == f"{SVG}desc"
    for element in root.iter():
        assert element.tag != f"{SVG}script"
        assert not any(name.lower().startswith("on") for name in element.attrib)
    return by_id[title_id].text, by_id[desc_id].text


def y_of(percent: float) -> float:
    return round(TOP + PLOT_HEIGHT * (1 - percent / 100), 1)


def test_a_line_chart_places_each_point_at_its_value():
    svg = charts.line_chart(
        ["W1", "W2", "W3", "W4"],
        [Series("First response", [50, 100, None, 0]), Series("Resolution", [25, 75, 80, 90])],
        title="Compliance",
        chart_id="trend",
    )
    root = parse(svg)
    name, description = accessible(root)
    assert name == "Compliance"
    assert description == (
        "First response: W1 50 %, W2 100 %, W3 no data, W4 0 %. "
        "Resolution: W1 25 %, W2 75 %, W3 80 %, W4 90 %."
    )
    step = PLOT_WIDTH / 4
    circles = root.findall(f"{SVG}circle[{SVG}title]")
    assert [(float(c.get("cx")), float(c.get("cy"))) for c in circles] == [
        (round(LEFT + step * 0.5, 1), y_of(50)),
        (round(LEFT + step * 1.5, 1), y_of(100)),
        (round(LEFT + step * 3.5, 1), y_of(0)),
    ]
    assert circles[0].find(f"{SVG}title").text == "First response, W1: 50 %"
    # The gap at W3 splits the first line; the second is one line of four points.
    lines = [p.get("points").split() for p in root.findall(f"{SVG}polyline")]
    assert [len(points) for points in lines] == [2, 4]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"W1", "W4", "0 %", "100 %", "First response", "Resolution"} <= set(texts)


def test_a_bar_chart_scales_bars_and_labels_their_values():
    svg = charts.bar_chart(
        ["URGENT", "HIGH"],
        [Series("Acceptance", [0, 2]), Series("Resolution", [7, 3])],
        title="Breaches",
        chart_id="breaches",
    )
    root = parse(svg)
    accessible(root)
    bars = root.findall(f"{SVG}rect[{SVG}title]")
    heights = {b.find(f"{SVG}title").text: float(b.get("height")) for b in bars}
    # Seven is the highest: the axis goes to 8.
    assert heights == {
        "Acceptance, URGENT: 0": 0.0,
        "Acceptance, HIGH: 2": PLOT_HEIGHT * 2 / 8,
        "Resolution, URGENT: 7": PLOT_HEIGHT * 7 / 8,
        "Resolution, HIGH: 3": PLOT_HEIGHT * 3 / 8,
    }
    for bar in bars:  # every bar stands on the axis
        assert float(bar.get("y")) + float(bar.get("height")) == TOP + PLOT_HEIGHT
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"0", "2", "4", "6", "8", "7", "3"} <= set(texts)


def test_labels_are_text_not_markup():
    svg = charts.bar_chart(
        ['<script>alert("x")</script>'],
        [Series("A & B", [1])],
        title="Q&A <b>",
        chart_id="labels",
    )
    root = parse(svg)
    title, _ = accessible(root)
    assert title == "Q&A <b>"
    assert '<script>alert("x")</script>' in [t.text for t in root.iter(f"{SVG}text")]
    with pytest.raises(ValueError, match="plain id"):
        charts.bar_chart(["A"], [Series("A", [1])], title="t", chart_id='x" onload="alert(1)')


@pytest.mark.parametrize("categories", [[], ["W1", "W2"]])
def test_empty_data_draws_an_empty_chart_that_says_so(categories):
    for chart in (charts.line_chart, charts.bar_chart):
        root = parse(
            chart(
                categories,
                [Series("Resolution", [None] * len(categories))],
                title="Empty",
                chart_id="e",
            )
        )
        _name, description = accessible(root)
        assert description == "No data for this period."
        assert "No data" in [t.text for t in root.iter(f"{SVG}text")]
        assert root.findall(f"{SVG}polyline") == []


def test_series_must_match_the_categories():
    with pytest.raises(ValueError, match="2 values"):
        charts.line_chart(["W1"], [Series("A", [1, 2])], title="t", chart_id="c")


def june_report(group_by: GroupBy, *groups: ReportGroup) -> SlaReport:
    return SlaReport(
        first_day=date(2026, 6, 1),
        last_day=date(2026, 6, 14),
        timezone="UTC",
        group_by=group_by,
        groups=list(groups),
        total=ReportGroup(None, "Total"),
    )


def test_the_report_charts_read_the_report():
    weeks = june_report(
        GroupBy.WEEK,
        ReportGroup("2026-06-01", "2026-W23", resolution=MetricSummary(met=5, breached=3)),
        ReportGroup("2026-06-08", "2026-W24", resolution=MetricSummary(met=2, paused=1)),
    )
    root = parse(charts.compliance_trend(weeks))
    name, description = accessible(root)
    assert name == "SLA compliance per week, 2026-06-01 to 2026-06-14"
    assert "Resolution: 2026-W23 62.5 %, 2026-W24 100 %." in description
    assert "Acceptance: 2026-W23 no data, 2026-W24 no data." in description

    priorities = june_report(
        GroupBy.PRIORITY,
        ReportGroup("URGENT", "URGENT", resolution=MetricSummary(breached=1)),
        ReportGroup("HIGH", "HIGH", first_response=MetricSummary(breached=1)),
    )
    root = parse(charts.breaches_by_priority(priorities))
    _name, description = accessible(root)
    assert description == (
        "Acceptance: URGENT 0, HIGH 0. First response: URGENT 0, HIGH 1. "
        "Resolution: URGENT 1, HIGH 0."
    )
