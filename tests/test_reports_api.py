"""SLA reports over HTTP against a hand-built data set with known answers: met, breached, met
late, paused, reopened, priority changed, a business calendar across a weekend. The tickets'
lives are told to the real SLA tracker and written by the real projection (no Temporal); the
data set is built in tests/support/report_desk.py, its answers are stated here."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from desk.reports import service
from desk.reports.router import wants_csv
from tests.support.report_desk import HIGH, Desk, build_desk
from tests.support.report_desk import tenant as _tenant
from tests.support.stories import TicketStory
from tests.support.tickets import Party

REPORT = "/api/v1/reports/sla"
BREACHES = "/api/v1/reports/sla/breaches"
ORGANIZATION = "/api/v1/admin/organization"
JUNE = {"from": "2026-06-01", "to": "2026-06-14"}
H = 3600


@pytest.fixture(scope="module")
async def desk(sessionmaker, settings) -> Desk:
    return await build_desk(sessionmaker, settings)


async def report(client, who: Party, **params) -> dict:
    response = await client.get(REPORT, params={**JUNE, **params}, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


def figures(metric: dict) -> tuple:
    return (
        metric["met"],
        metric["breached"],
        metric["running"],
        metric["paused"],
        metric["stopped"],
        metric["untracked"],
        metric["compliance_percent"],
        metric["median_seconds"],
        metric["p90_seconds"],
        metric["breached_by_median_seconds"],
    )


# (met, breached, running, paused, stopped, untracked, compliance, median, p90, late by)
EMPTY = (0, 0, 0, 0, 0, 0, None, None, None, None)
BY_PRIORITY = {
    "URGENT": {
        "accept": (0, 0, 0, 0, 0, 2, None, None, None, None),
        "first_response": (2, 0, 0, 0, 0, 0, 100.0, 1050, 1650, None),
        "resolution": (1, 1, 0, 0, 0, 0, 50.0, 12600, 16920, H),
    },
    "HIGH": {
        "accept": (0, 0, 0, 0, 0, 6, None, None, None, None),
        # [600, 600, 1200, 1800, 7200]: p90 = 1800 + 0.6 x 5400
        "first_response": (4, 1, 0, 0, 1, 0, 80.0, 1200, 5040, H),
        # [3000, 10800, 14400, 36000]: the open breach has no time to meet yet
        "resolution": (3, 2, 0, 1, 0, 0, 60.0, 12600, 29520, 2 * H),
    },
    "MEDIUM": {
        "accept": (0, 0, 0, 0, 0, 1, None, None, None, None),
        "first_response": (1, 0, 0, 0, 0, 0, 100.0, 3 * H, 3 * H, None),
        "resolution": (1, 0, 0, 0, 0, 0, 100.0, 13 * H, 13 * H, None),
    },
    "LOW": {
        "accept": (1, 1, 1, 0, 0, 0, 50.0, 2100, 3300, 1800),
        "first_response": (1, 0, 0, 0, 1, 0, 100.0, 1800, 1800, None),
        "resolution": (2, 0, 0, 0, 0, 0, 100.0, 2700, 3420, None),
    },
}
TOTAL = {
    "accept": (1, 1, 1, 0, 0, 9, 50.0, 2100, 3300, 1800),
    # [300, 600, 600, 1200, 1800, 1800, 1800, 7200, 10800]
    "first_response": (8, 1, 0, 0, 2, 0, 88.89, 1800, 7920, H),
    # [1800, 3000, 3600, 7200, 10800, 14400, 18000, 36000, 46800]; late by [3600, 7200]
    "resolution": (7, 3, 0, 1, 0, 0, 70.0, 10800, 38160, 5400),
}
METRICS = ("accept", "first_response", "resolution")


async def test_known_answers_by_priority(client, desk):
    body = await report(client, desk.manager, group_by="priority")
    assert (body["from"], body["to"], body["timezone"], body["group_by"]) == (
        "2026-06-01",
        "2026-06-14",
        "UTC",
        "priority",
    )
    assert [g["key"] for g in body["groups"]] == ["URGENT", "HIGH", "MEDIUM", "LOW"]
    for group in body["groups"]:
        for metric in METRICS:
            assert figures(group[metric]) == BY_PRIORITY[group["key"]][metric], (
                group["key"],
                metric,
            )
    for metric in METRICS:
        assert figures(body["total"][metric]) == TOTAL[metric], metric


async def test_known_answers_by_week(client, desk):
    body = await report(client, desk.admin, group_by="week")
    assert [(g["key"], g["label"]) for g in body["groups"]] == [
        ("2026-06-01", "2026-W23"),
        ("2026-06-08", "2026-W24"),
    ]
    first, second = body["groups"]
    # Week 23: tickets 1-7 and 12; week 24: 8 (acceptance only), 9, 10, 11.
    assert figures(first["resolution"])[:7] == (5, 3, 0, 0, 0, 0, 62.5)
    assert figures(second["resolution"])[:7] == (2, 0, 0, 1, 0, 0, 100.0)
    assert figures(first["first_response"])[:7] == (6, 1, 0, 0, 1, 0, 85.71)
    assert figures(second["first_response"])[:7] == (2, 0, 0, 0, 1, 0, 100.0)
    assert figures(second["accept"])[:6] == (0, 1, 1, 0, 0, 2)
    for metric in METRICS:
        assert figures(body["total"][metric]) == TOTAL[metric]


async def test_group_by_service_and_agent_label_the_groups(client, desk):
    by_service = await report(client, desk.manager, group_by="service")
    assert [(g["key"], g["label"]) for g in by_service["groups"]] == [
        (str(desk.service.id), "Printing"),
        (None, "No service"),
    ]
    printing = by_service["groups"][0]
    assert figures(printing["resolution"])[:2] == (2, 0)  # tickets 1 and 7

    by_agent = await report(client, desk.manager, group_by="agent")
    labels = {g["label"]: g for g in by_agent["groups"]}
    assert list(labels) == ["Agent 3", "Agent 4", "Unassigned"]
    assert figures(labels["Agent 3"]["resolution"])[:2] == (1, 1)  # tickets 1 and 2
    assert figures(labels["Agent 4"]["first_response"])[:2] == (0, 1)  # ticket 3


async def test_filters_narrow_every_figure(client, desk):
    body = await report(client, desk.manager, assigned_to=str(desk.agent2.user.id))
    high = next(g for g in body["groups"] if g["key"] == "HIGH")
    assert figures(high["resolution"]) == (0, 1, 0, 0, 0, 0, 0.0, 36000, 36000, 2 * H)
    assert figures(body["total"]["resolution"]) == figures(high["resolution"])
    only_low = await report(client, desk.manager, priority="LOW")
    assert figures(only_low["total"]["accept"]) == BY_PRIORITY["LOW"]["accept"]
    assert [figures(g["resolution"]) for g in only_low["groups"] if g["key"] != "LOW"] == [
        EMPTY
    ] * 3
    service = await report(client, desk.manager, service_id=str(desk.service.id))
    assert figures(service["total"]["first_response"])[:2] == (2, 0)


async def test_the_csv_has_a_row_per_ticket_and_metric_with_its_facts(client, desk):
    response = await client.get(
        REPORT, params={**JUNE, "format": "csv"}, headers=desk.manager.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="sla-2026-06-01-2026-06-14.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    # 12 tickets' acceptance, 11 of them accepted: 12 + 2 x 11 facts.
    assert len(rows) == 34
    assert [r["started_at"] for r in rows] == sorted(r["started_at"] for r in rows)
    by_key = {(int(r["ticket_number"]), r["metric"]): r for r in rows}
    paused = by_key[(4, "resolution")]
    assert (paused["business_seconds"], paused["paused_seconds"], paused["outcome"]) == (
        "10800",
        "10800",
        "met",
    )
    late = by_key[(6, "resolution")]
    assert late == {
        "ticket_number": "6",
        "subject": "Printer on fire",
        "priority": "URGENT",
        "service": "",
        "assignee": "",
        "metric": "resolution",
        "started_at": "2026-06-05T09:00:00+00:00",
        "due_at": "2026-06-05T13:00:00+00:00",
        "met_at": "2026-06-05T14:00:00+00:00",
        "breached_at": "2026-06-05T13:00:00+00:00",
        "target_seconds": "14400",
        "business_seconds": "18000",
        "paused_seconds": "0",
        "outcome": "breached",
    }
    weekend = by_key[(7, "resolution")]
    assert (weekend["business_seconds"], weekend["service"], weekend["outcome"]) == (
        "46800",
        "Printing",
        "met",
    )
    assert by_key[(1, "first_response")]["assignee"] == "Agent 3"
    open_breach = by_key[(2, "resolution")]
    assert (open_breach["business_seconds"], open_breach["outcome"]) == ("", "breached")
    assert by_key[(8, "accept")]["outcome"] == "running"
    assert (13, "accept") not in by_key

    negotiated = await client.get(
        REPORT, params=JUNE, headers={**desk.manager.headers, "Accept": "text/csv"}
    )
    assert negotiated.status_code == 200
    assert negotiated.text == response.text
    json_wins = await client.get(
        REPORT,
        params={**JUNE, "format": "json"},
        headers={**desk.manager.headers, "Accept": "text/csv"},
    )
    assert json_wins.headers["content-type"] == "application/json"


async def test_the_csv_reads_the_facts_a_page_at_a_time(client, desk, monkeypatch):
    params = {**JUNE, "format": "csv"}
    whole = await client.get(REPORT, params=params, headers=desk.manager.headers)
    # Pages of 4 split the facts that share a start instant (a ticket accepted when filed).
    monkeypatch.setattr(service, "FACT_PAGE", 4)
    paged = await client.get(REPORT, params=params, headers=desk.manager.headers)
    assert paged.status_code == 200
    assert paged.text == whole.text
    assert len(paged.text.splitlines()) == 35


@pytest.mark.parametrize(
    ("accept", "format", "csv"),
    [
        ("text/csv", None, True),
        ("application/json", None, False),
        ("", None, False),
        ("*/*", None, False),
        ("text/csv;q=0.5, application/json", None, False),
        ("application/json;q=0.2, text/csv;q=0.9", None, True),
        ("text/csv, application/json", None, True),  # a tie: the first listed
        ("application/json, text/csv", None, False),
        ("text/csv;q=0", None, False),
        ("text/csv;q=nonsense", None, False),
        ("text/csv", "json", False),
        ("application/json", "csv", True),
    ],
)
def test_csv_is_chosen_by_format_then_by_accept(accept, format, csv):
    assert wants_csv(accept, format) is csv


async def test_breaches_come_worst_first_a_page_at_a_time(client, desk):
    response = await client.get(BREACHES, params={**JUNE, "limit": 2}, headers=desk.manager.headers)
    assert response.status_code == 200, response.text
    first_page = response.json()
    assert 'rel="next"' in response.headers["link"]
    rest = await client.get(
        BREACHES, params={**JUNE, "limit": 10, "offset": 2}, headers=desk.manager.headers
    )
    assert "link" not in rest.headers
    found = [(b["number"], b["metric"], b["late_seconds"]) for b in first_page + rest.json()]
    assert found == [
        (2, "resolution", None),  # still running: first
        (3, "resolution", 2 * H),
        (3, "first_response", H),
        (6, "resolution", H),
        (9, "accept", 1800),
    ]
    assert first_page[0]["breached_at"] == "2026-06-01T18:00:00Z"
    only_accept = await client.get(
        BREACHES, params={**JUNE, "metric": "accept"}, headers=desk.manager.headers
    )
    assert [b["number"] for b in only_accept.json()] == [9]


@pytest.mark.parametrize("role", ["customer", "agent"])
async def test_only_managers_and_admins_read_reports(client, desk, role):
    who = getattr(desk, role)
    for path in (REPORT, BREACHES):
        response = await client.get(path, params=JUNE, headers=who.headers)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "insufficient_role"
    csv_response = await client.get(REPORT, params={**JUNE, "format": "csv"}, headers=who.headers)
    assert csv_response.status_code == 403


async def test_another_tenant_sees_none_of_it(client, desk, sessionmaker, settings, world):
    _org, (manager, *_rest) = await _tenant(sessionmaker, settings, world, "Outsiders")
    body = await report(client, manager)
    assert all(figures(body["total"][m]) == EMPTY for m in METRICS)
    foreign = await report(client, manager, assigned_to=str(desk.agent.user.id))
    assert figures(foreign["total"]["resolution"]) == EMPTY
    listed = await client.get(BREACHES, params=JUNE, headers=manager.headers)
    assert listed.json() == []
    exported = await client.get(REPORT, params={**JUNE, "format": "csv"}, headers=manager.headers)
    assert exported.text.strip().count("\n") == 0  # the header only


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-06-14", "to": "2026-06-01"},  # reversed
        {"from": "2026-01-01", "to": "2027-01-02"},  # 367 days
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "yesterday", "to": "2026-03-01"},
        {"from": "0001-01-01", "to": "0001-01-02"},
        {"from": "9999-12-30", "to": "9999-12-31"},
        {"to": "2026-03-01"},
        {**JUNE, "group_by": "moon"},
        {**JUNE, "priority": "SOON"},
        {**JUNE, "service_id": "not-a-uuid"},
        {**JUNE, "format": "xml"},
    ],
)
async def test_bad_periods_and_parameters_are_422(client, desk, params):
    for path in (REPORT, BREACHES):
        if path == BREACHES and set(params) & {"group_by", "format"}:
            continue  # not parameters of the breaches
        response = await client.get(path, params=params, headers=desk.manager.headers)
        assert response.status_code == 422, (path, params, response.text)
        assert response.json()["code"] in ("validation_error", "invalid_period", "period_too_long")


async def test_a_leap_year_fits_366_days(client, desk):
    response = await client.get(
        REPORT, params={"from": "2028-01-01", "to": "2028-12-31"}, headers=desk.manager.headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
async def test_the_ends_of_the_calendar_answer_in_any_zone(
    client, sessionmaker, settings, world, zone
):
    _org, (manager, admin, *_rest) = await _tenant(sessionmaker, settings, world, "Edges")
    changed = await client.patch(
        ORGANIZATION, json={"reporting_timezone": zone}, headers=admin.headers
    )
    assert changed.status_code == 200
    for days in (("1970-01-01", "1970-12-31"), ("9998-01-01", "9998-12-31")):
        for path, extra in (
            (REPORT, {"group_by": "week"}),
            (REPORT, {"format": "csv"}),
            (BREACHES, {}),
        ):
            params = {"from": days[0], "to": days[1], **extra}
            response = await client.get(path, params=params, headers=manager.headers)
            assert response.status_code == 200, (zone, path, params, response.text)


async def test_days_are_read_in_the_organizations_reporting_time_zone(
    client, sessionmaker, settings, world
):
    org, (manager, admin, _agent, _agent2, customer) = await _tenant(
        sessionmaker, settings, world, "Antipodes"
    )
    late_monday = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # Tuesday 11:30 in Auckland
    await (
        TicketStory.filed(org, customer.user, at=late_monday, number=1, targets=HIGH)
        .accept(late_monday)
        .write(sessionmaker)
    )
    monday = {"from": "2026-06-01", "to": "2026-06-01"}
    tuesday = {"from": "2026-06-02", "to": "2026-06-02"}

    async def running(days: dict) -> int:
        body = await report(client, manager, **days)
        return body["total"]["resolution"]["running"]

    assert (await running(monday), await running(tuesday)) == (1, 0)
    changed = await client.patch(
        ORGANIZATION, json={"reporting_timezone": "Pacific/Auckland"}, headers=admin.headers
    )
    assert changed.status_code == 200, changed.text
    assert (await running(monday), await running(tuesday)) == (0, 1)
    weeks = await report(client, manager, group_by="week", **tuesday)
    assert weeks["timezone"] == "Pacific/Auckland"
    assert [(g["key"], g["resolution"]["running"]) for g in weeks["groups"]] == [("2026-06-01", 1)]


async def test_admins_read_and_set_the_reporting_time_zone(client, sessionmaker, settings, world):
    org, (manager, admin, *_rest) = await _tenant(sessionmaker, settings, world, "Zones")
    got = await client.get(ORGANIZATION, headers=admin.headers)
    assert got.status_code == 200, got.text
    assert (got.json()["id"], got.json()["reporting_timezone"]) == (str(org.id), "UTC")
    for bad in ("Mars/Olympus", "localtime", "", "x" * 65):
        refused = await client.patch(
            ORGANIZATION, json={"reporting_timezone": bad}, headers=admin.headers
        )
        assert refused.status_code == 422, bad
    assert (
        await client.patch(ORGANIZATION, json={"name": "Renamed"}, headers=admin.headers)
    ).status_code == 422  # not a setting of this route
    changed = await client.patch(
        ORGANIZATION, json={"reporting_timezone": "Europe/Berlin"}, headers=admin.headers
    )
    assert changed.json()["reporting_timezone"] == "Europe/Berlin"
    assert (await client.get(ORGANIZATION, headers=admin.headers)).json()[
        "reporting_timezone"
    ] == "Europe/Berlin"
    for method in ("GET", "PATCH"):
        forbidden = await client.request(
            method, ORGANIZATION, json={"reporting_timezone": "UTC"}, headers=manager.headers
        )
        assert forbidden.status_code == 403


def test_every_report_operation_is_documented(app):
    paths = app.openapi()["paths"]
    report_op = paths[REPORT]["get"]
    assert report_op["operationId"] == "reports-sla"
    assert set(report_op["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert "403" in report_op["responses"]
    assert paths[BREACHES]["get"]["operationId"] == "reports-sla-breaches"
    assert "Link" in paths[BREACHES]["get"]["responses"]["200"]["headers"]
    assert paths[ORGANIZATION]["patch"]["operationId"] == "organization-update"
