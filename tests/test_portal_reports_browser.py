"""The Reports page in a real browser (Debian's Chromium through Playwright): a manager
reaches it from the navigation, asks for a period and a grouping with the form, reads the
charts and their tables, opens a breached ticket and downloads the CSV. Against the
known-answer data set of the SLA reports (tests/support/report_desk.py)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support.report_desk import Desk, build_desk


@pytest.fixture(scope="module")
async def desk(sessionmaker, settings) -> Desk:
    return await build_desk(sessionmaker, settings)


async def test_a_manager_reads_the_reports_page(desk, people):
    manager = await people.signed_in(desk.manager.user)
    await manager.get_by_role("link", name="Reports").click()
    await expect(manager.get_by_role("heading", name="SLA reports")).to_be_visible()

    # The form: a period and a grouping, kept in the URL.
    await manager.get_by_label("From").fill("2026-06-01")
    await manager.get_by_label("To", exact=True).fill("2026-06-14")
    await manager.get_by_label("Group by").select_option(label="Week")
    await manager.get_by_role("button", name="Show report").click()
    await expect(manager).to_have_url(
        re.compile(r"/reports\?from=2026-06-01&to=2026-06-14&group_by=week")
    )

    # Compliance per metric, by week.
    resolution = manager.get_by_role("table", name=re.compile("^Resolution: compliance by week"))
    await expect(resolution.get_by_role("row")).to_have_count(4)  # head, two weeks, total
    week = resolution.get_by_role("row", name=re.compile("2026-W23"))
    await expect(week).to_contain_text("62.5 %")
    await expect(resolution.get_by_role("row", name=re.compile("Total"))).to_contain_text("70 %")

    # Each chart drawn, in its figure, beside its numbers.
    trend = manager.get_by_role("figure", name="Weekly SLA compliance per metric")
    trend_svg = trend.get_by_role("img", name=re.compile("SLA compliance per week"))
    await expect(trend_svg).to_be_visible()
    trend_numbers = manager.get_by_role("table", name=re.compile("^Weekly SLA compliance"))
    await expect(trend_numbers.get_by_role("row", name=re.compile("2026-W24"))).to_contain_text(
        "100 %"
    )
    bars = manager.get_by_role("figure", name="SLA breaches by priority and metric")
    bars_svg = bars.get_by_role("img", name=re.compile("SLA breaches by priority"))
    await expect(bars_svg).to_be_visible()
    assert (await bars.locator("svg rect title").count()) > 0
    bar_numbers = manager.get_by_role("table", name=re.compile("^SLA breaches by priority"))
    await expect(bar_numbers.get_by_role("row", name=re.compile("HIGH"))).to_contain_text("2")

    # The breached tickets, worst first; each opens its ticket.
    breaches = manager.locator("#breaches-table tbody tr")
    await expect(breaches).to_have_count(5)
    await expect(breaches.first).to_contain_text("still open")
    await breaches.first.get_by_role("link").click()
    await expect(manager).to_have_url(re.compile(rf"/tickets/{desk.tickets[2].id}$"))
    await expect(manager.locator("#ticket-head")).to_contain_text("#2")
    await manager.go_back()

    # The CSV of the same period, with the session the browser holds.
    async with manager.expect_download() as downloading:
        await manager.get_by_role("link", name="Download CSV").click()
    download = await downloading.value
    assert download.suggested_filename == "sla-2026-06-01-2026-06-14.csv"
    rows = list(csv.DictReader(Path(await download.path()).read_text().splitlines()))
    assert len(rows) == 34  # 12 tickets' acceptance, 11 of them accepted: 12 + 2 x 11
