"""The portal's Reports page over httpx, against the known-answer data set of the SLA reports
(tests/support/report_desk.py): the figures it shows, the charts beside their numbers, the
breached tickets worst first and paged, the CSV link under the session cookie, who may see
it, and a clear message for every bad input."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from desk.errors import Forbidden
from desk.portal import report_page
from desk.reports.service import DEFAULT_WEEKS, ReportService
from tests.support.portal import portal_client, sign_in
from tests.support.report_desk import Desk, build_desk, tenant
from tests.support.tickets import Party

JUNE = "from=2026-06-01&to=2026-06-14"
REPORTS = f"/reports?{JUNE}"


@pytest.fixture(scope="module")
async def desk(sessionmaker, settings) -> Desk:
    return await build_desk(sessionmaker, settings)


class _Tables(HTMLParser):
    """Every table of a page by id: its caption and rows of cell texts (``th`` and ``td``),
    and the links of each row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict] = {}
        self._table: dict | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table" and "id" in attributes:
            self._table = {"caption": "", "rows": [], "links": []}
            self.tables[attributes["id"]] = self._table
        elif self._table is None:
            return
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = []
            self._table["links"].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a" and self._row is not None:
            self._table["links"][-1].append(attributes.get("href"))

    def handle_endtag(self, tag):
        if self._table is None:
            return
        if tag == "table":
            self._table = None
        elif tag == "caption" and self._caption is not None:
            self._table["caption"] = " ".join("".join(self._caption).split())
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)


def tables(html: str) -> dict[str, dict]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


async def page_as(app, user, path: str):
    async with portal_client(app) as http:
        await sign_in(http, user)
        return await http.get(path)


HEAD = ["Priority", "Met", "Breached", "Running", "Paused", "Compliance", "Median", "p90"]
# The known answers of tests/test_reports_api.py (BY_PRIORITY, TOTAL), as the page words them.
RESOLUTION_BY_PRIORITY = [
    [*HEAD, "Late by (median)"],
    ["URGENT", "1", "1", "0", "0", "50 %", "3h 30m", "4h 42m", "1h"],
    ["HIGH", "3", "2", "0", "1", "60 %", "3h 30m", "8h 12m", "2h"],
    ["MEDIUM", "1", "0", "0", "0", "100 %", "13h", "13h", "—"],
    ["LOW", "2", "0", "0", "0", "100 %", "45m", "57m", "—"],
    ["Total", "7", "3", "0", "1", "70 %", "3h", "10h 36m", "1h 30m"],
]


async def test_the_page_shows_the_known_figures(app, desk):
    response = await page_as(app, desk.manager.user, f"{REPORTS}&group_by=priority")
    assert response.status_code == 200, response.text
    html = response.text
    found = tables(html)
    resolution = found["compliance-resolution"]
    assert resolution["rows"] == RESOLUTION_BY_PRIORITY
    assert resolution["caption"] == ("Resolution: compliance by priority, 2026-06-01 to 2026-06-14")
    first_response = found["compliance-first_response"]["rows"]
    assert first_response[-1] == [
        "Total", "8", "1", "0", "0", "88.89 %", "30m", "2h 12m", "1h"
    ]  # fmt: skip
    assert found["compliance-accept"]["rows"][-1][:6] == ["Total", "1", "1", "1", "0", "50 %"]
    # What the columns leave out is said under the tables.
    assert "Acceptance, not in the figures above: 9 with no target in their SLA policy." in html
    assert "First response, not in the figures above: 2 stopped before being met" in html
    assert "Resolution, not in the figures above" not in html
    # The charts' numbers: compliance per week, breaches per priority.
    assert found["trend-table"]["rows"] == [
        ["Week", "Acceptance", "First response", "Resolution"],
        ["2026-W23", "100 %", "85.71 %", "62.5 %"],
        ["2026-W24", "0 %", "100 %", "100 %"],
    ]
    assert found["breaches-by-priority-table"]["rows"] == [
        ["Priority", "Acceptance", "First response", "Resolution"],
        ["URGENT", "0", "0", "1"],
        ["HIGH", "0", "1", "2"],
        ["MEDIUM", "0", "0", "0"],
        ["LOW", "1", "0", "0"],
    ]
    # Each chart is an SVG in a figure with its caption, drawn from the same figures.
    for figure, svg, reading in (
        ("trend-figure", "compliance-trend", "Resolution: 2026-W23 62.5 %, 2026-W24 100 %."),
        ("breaches-figure", "breaches-by-priority", "Resolution: URGENT 1, HIGH 2, MEDIUM 0"),
    ):
        match = re.search(rf'<figure class="chart" id="{figure}">(.*?)</figure>', html, re.S)
        assert match, figure
        assert "<figcaption>" in match[1]
        assert '<svg xmlns="http://www.w3.org/2000/svg"' in match[1] and f'id="{svg}"' in match[1]
        assert reading in match[1]
    # The drill-down: the breached tickets worst first, each linking to its page.
    breaches = found["breaches-table"]
    assert [(r[0].split()[0], r[1], r[-1]) for r in breaches["rows"][1:]] == [
        ("#2", "Resolution", "still open"),
        ("#3", "Resolution", "2h"),
        ("#3", "First response", "1h"),
        ("#6", "Resolution", "1h"),
        ("#9", "Acceptance", "30m"),
    ]
    assert [links for links in breaches["links"][1:]] == [
        [f"/tickets/{desk.tickets[n].id}"] for n in (2, 3, 3, 6, 9)
    ]


async def test_grouping_and_filters_come_from_the_form_and_stay_in_the_links(app, desk):
    agent2 = desk.agent2.user.id
    response = await page_as(app, desk.admin.user, f"{REPORTS}&group_by=agent&assigned_to={agent2}")
    assert response.status_code == 200, response.text
    found = tables(response.text)
    assert found["compliance-resolution"]["rows"][1:] == [
        ["Agent 4", "0", "1", "0", "0", "0 %", "10h", "10h", "2h"],
        ["Total", "0", "1", "0", "0", "0 %", "10h", "10h", "2h"],
    ]
    assert [r[0].split()[0] for r in found["breaches-table"]["rows"][1:]] == ["#3", "#3"]
    assert f'<option value="{agent2}" selected>' in response.text
    assert '<option value="agent" selected>' in response.text
    by_week = await page_as(app, desk.manager.user, f"{REPORTS}&group_by=week")
    assert [r[0] for r in tables(by_week.text)["compliance-resolution"]["rows"]] == [
        "Week", "2026-W23", "2026-W24", "Total"
    ]  # fmt: skip


async def test_the_breaches_are_paged_with_the_filters_kept(app, desk, monkeypatch):
    monkeypatch.setattr(report_page, "PAGE_SIZE", 2)
    numbers = []
    path = f"{REPORTS}&priority=HIGH"
    async with portal_client(app) as http:
        await sign_in(http, desk.manager.user)
        while path:
            response = await http.get(path)
            assert response.status_code == 200, response.text
            rows = tables(response.text)["breaches-table"]["rows"][1:]
            numbers += [r[0].split()[0] for r in rows]
            following = re.search(r'<a href="([^"]+)">Next page</a>', response.text)
            path = following[1].replace("&amp;", "&") if following else None
            if path:
                assert parse_qs(urlsplit(path).query)["priority"] == ["HIGH"]
    assert numbers == ["#2", "#3", "#3"]  # HIGH now: ticket 6 became URGENT, 9 is LOW
    assert "Previous page" in response.text
    past_the_end = await page_as(app, desk.manager.user, f"{REPORTS}&priority=HIGH&page=9")
    assert past_the_end.status_code == 200
    assert "No more breached tickets." in past_the_end.text


async def test_by_default_the_last_four_weeks_up_to_today(app, desk):
    response = await page_as(app, desk.manager.user, "/reports")
    assert response.status_code == 200, response.text
    today = datetime.now(UTC).date()
    first = today - timedelta(days=today.weekday(), weeks=DEFAULT_WEEKS - 1)
    assert f'name="from" type="date" value="{first.isoformat()}"' in response.text
    assert f'name="to" type="date" value="{today.isoformat()}"' in response.text
    weeks = tables(response.text)["trend-table"]["rows"][1:]
    assert len(weeks) == DEFAULT_WEEKS


async def test_the_default_weeks_are_read_in_the_reporting_time_zone(
    client, sessionmaker, settings, world
):
    _org, (manager, admin, _agent, _agent2, customer) = await tenant(
        sessionmaker, settings, world, "Default weeks"
    )
    reports = ReportService(sessionmaker)
    sunday_evening = datetime(2026, 6, 7, 20, tzinfo=UTC)  # Monday 08:00 in Auckland
    assert await reports.recent_weeks(manager.user, now=sunday_evening) == (
        date(2026, 5, 11),
        date(2026, 6, 7),
    )
    changed = await client.patch(
        "/api/v1/admin/organization",
        json={"reporting_timezone": "Pacific/Auckland"},
        headers=admin.headers,
    )
    assert changed.status_code == 200, changed.text
    assert await reports.recent_weeks(manager.user, now=sunday_evening) == (
        date(2026, 5, 18),
        date(2026, 6, 8),
    )
    with pytest.raises(Forbidden):
        await reports.recent_weeks(customer.user)


async def test_the_csv_link_downloads_the_same_report_with_the_session_cookie(app, desk, client):
    async with portal_client(app) as http:
        await sign_in(http, desk.manager.user)
        html = (await http.get(f"{REPORTS}&group_by=service&priority=HIGH")).text
        link = re.search(r'<a class="button" href="([^"]+)" download>Download CSV</a>', html)
        assert link, "no CSV link"
        url = link[1].replace("&amp;", "&")
        assert parse_qs(urlsplit(url).query) == {
            "from": ["2026-06-01"],
            "to": ["2026-06-14"],
            "group_by": ["service"],
            "priority": ["HIGH"],
            "format": ["csv"],
        }
        download = await http.get(url)  # the cookie only: no bearer token
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert {r["priority"] for r in rows} == {"HIGH"}
    # Tickets 2, 3, 4, 10, 11 and 13's acceptance are HIGH now; 13 is before the period.
    assert sorted({int(r["ticket_number"]) for r in rows}) == [1, 2, 3, 4, 10, 11]
    by_bearer = await client.get(url, headers=desk.manager.headers)
    assert by_bearer.text == download.text


@pytest.mark.parametrize("role", ["customer", "agent"])
async def test_customers_and_agents_get_the_403_page_and_no_link(app, desk, role):
    who: Party = getattr(desk, role)
    for path in (REPORTS, "/reports?from=nonsense"):
        response = await page_as(app, who.user, path)
        assert response.status_code == 403
        assert "Not allowed" in response.text
        assert "Printer on fire" not in response.text
    async with portal_client(app) as http:
        await sign_in(http, who.user)
        home = await http.get("/tickets")
        assert 'href="/reports"' not in home.text
        csv_download = await http.get(f"/api/v1/reports/sla?{JUNE}&format=csv")
        assert csv_download.status_code == 403
    manager_home = await page_as(app, desk.manager.user, "/tickets")
    assert '<a href="/reports">Reports</a>' in manager_home.text
    admin_page = await page_as(app, desk.admin.user, REPORTS)
    assert admin_page.status_code == 200
    assert '<a href="/reports" aria-current="page">Reports</a>' in admin_page.text


async def test_signed_out_it_asks_to_sign_in_first(app):
    async with portal_client(app) as http:
        response = await http.get(REPORTS)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=%2Freports")


async def test_another_tenant_sees_none_of_it(app, desk, sessionmaker, settings, world):
    _org, (manager, *_rest) = await tenant(sessionmaker, settings, world, "Report outsiders")
    for path in (REPORTS, f"{REPORTS}&assigned_to={desk.agent.user.id}&group_by=agent"):
        response = await page_as(app, manager.user, path)
        assert response.status_code == 200, response.text
        found = tables(response.text)
        for metric in ("accept", "first_response", "resolution"):
            total = found[f"compliance-{metric}"]["rows"][-1]
            assert total[:6] == ["Total", "0", "0", "0", "0", "—"], (path, metric)
        assert "breaches-table" not in found
        assert "No SLA was breached in this period." in response.text
        for foreign in ("Printer on fire", "Printing", desk.agent.user.email, str(desk.service.id)):
            assert foreign not in response.text, foreign


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-06-14&to=2026-06-01", "To is before From"),
        ("from=2026-01-01&to=2027-01-02", "The period spans 367 days; at most 366."),
        ("from=2026-02-30&to=2026-03-01", "From: Input should be a valid date"),
        ("from=yesterday&to=2026-03-01", "From: expected a day, YYYY-MM-DD"),
        ("from=2026-06-01&to=0001-01-01", "To: expected a day, YYYY-MM-DD"),
        (f"{JUNE}&group_by=moon", "Group by: Input should be 'priority', 'service'"),
        (f"{JUNE}&priority=SOON", "Priority: Input should be 'LOW'"),
        (f"{JUNE}&service_id=not-a-uuid", "Service: Input should be a valid UUID"),
        (f"{JUNE}&assigned_to=me%00", "Assignee: Input should be a valid UUID"),
    ],
)
async def test_bad_input_is_explained_on_the_page(app, desk, query, message):
    response = await page_as(app, desk.manager.user, f"/reports?{query}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    alert = re.search(r'<div class="error" role="alert" id="report-errors">(.*?)</div>', html, re.S)
    assert alert, response.text
    assert message in alert[1].replace("&#39;", "'"), alert[1]
    assert "Traceback" not in response.text
    assert 'action="/reports"' in response.text  # the form, to correct it
    assert "compliance-resolution" not in response.text
