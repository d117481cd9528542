"""The SLA admin API (calendars, policies), policy matching and the workflow's snapshot."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from desk.admin.models import Service
from desk.admin.organizations import create_organization
from desk.enums import Priority, Role
from desk.sla.models import BusinessCalendar, SlaPolicy
from desk.sla.service import match_policy, matching_policy_snapshot, policy_snapshot
from desk.tickets.models import AuditLog

CALENDARS = "/api/v1/admin/calendars"
POLICIES = "/api/v1/admin/sla-policies"

SPLIT_WEEK = {
    "mon": [["13:00", "17:00"], ["09:00", "12:00"]],  # out of order on purpose
    "tue": [["09:00", "12:00"], ["12:00", "17:00"]],  # touching is not overlapping
    "fri": [["09:00", "15:00"]],
}


def _calendar(**overrides) -> dict:
    return {
        "name": "Berlin office",
        "timezone": "Europe/Berlin",
        "weekly_hours": {"mon": [["09:00", "17:00"]]},
        "holidays": [],
        **overrides,
    }


def _policy(**overrides) -> dict:
    return {
        "priority": "HIGH",
        "first_response_minutes": 60,
        "resolution_minutes": 480,
        **overrides,
    }


async def _admin(world, login, org=None):
    org = org or await world.org()
    admin = await world.user(org, Role.ADMIN)
    return org, await login(admin)


async def _service(world, org, name: str = "Payroll") -> Service:
    async with world.sessionmaker() as session:
        svc = Service(organization_id=org.id, name=name)
        session.add(svc)
        await session.commit()
        return svc


async def _stored_calendar(world, calendar_id: str) -> BusinessCalendar:
    async with world.sessionmaker() as session:
        return await session.get(BusinessCalendar, uuid.UUID(calendar_id))


# --- Calendars ------------------------------------------------------------------------


async def test_calendar_with_split_days_is_created_normalized_and_listed(client, world, login):
    org, headers = await _admin(world, login)
    body = _calendar(weekly_hours=SPLIT_WEEK, holidays=["2026-12-25", "2026-01-01", "2026-12-25"])

    created = await client.post(CALENDARS, json=body, headers=headers)

    assert created.status_code == 201, created.text
    calendar = created.json()
    assert calendar["organization_id"] == str(org.id)
    assert calendar["timezone"] == "Europe/Berlin"
    assert calendar["weekly_hours"] == {
        "mon": [["09:00", "12:00"], ["13:00", "17:00"]],
        "tue": [["09:00", "12:00"], ["12:00", "17:00"]],
        "fri": [["09:00", "15:00"]],
    }
    assert calendar["holidays"] == ["2026-01-01", "2026-12-25"]
    stored = await _stored_calendar(world, calendar["id"])
    assert stored.weekly_hours == calendar["weekly_hours"]
    assert stored.holidays == ["2026-01-01", "2026-12-25"]

    listed = await client.get(CALENDARS, headers=headers)
    assert [c["id"] for c in listed.json()] == [calendar["id"]]
    one = await client.get(f"{CALENDARS}/{calendar['id']}", headers=headers)
    assert one.json() == calendar


@pytest.mark.parametrize(
    "overrides",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": ""},
        {"timezone": "../../etc/passwd"},
        {"weekly_hours": {"monday": [["09:00", "17:00"]]}},
        {"weekly_hours": {"Mon": [["09:00", "17:00"]]}},
        {"weekly_hours": {"mon": [["9:00", "17:00"]]}},
        {"weekly_hours": {"mon": [["24:00", "09:00"]]}},
        {"weekly_hours": {"mon": [["09:00", "25:00"]]}},
        {"weekly_hours": {"mon": [["09:00"]]}},
        {"weekly_hours": {"mon": "09:00-17:00"}},
        {"weekly_hours": {}},
        {"weekly_hours": {"mon": []}},  # a closed day is left out
        {"weekly_hours": {"mon": [["09:00", "17:00"]], "sat": []}},
        {"weekly_hours": {"mon": [["09:00", "10:00"]] * 13}},
        {"holidays": ["2026-13-01"]},
        {"name": ""},
        {"color": "blue"},
    ],
)
async def test_invalid_calendar_is_422(client, world, login, overrides):
    _org, headers = await _admin(world, login)

    response = await client.post(CALENDARS, json=_calendar(**overrides), headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize(
    ("weekly_hours", "stored"),
    [
        # Overlapping intervals are joined; touching ones stay apart.
        (
            {"mon": [["09:00", "12:00"], ["11:00", "17:00"], ["17:00", "18:00"]]},
            {"mon": [["09:00", "17:00"], ["17:00", "18:00"]]},
        ),
        # An end before the start runs on past midnight: a night shift.
        (
            {"fri": [["22:00", "06:00"]]},
            {"fri": [["22:00", "24:00"]], "sat": [["00:00", "06:00"]]},
        ),
        # Sunday night runs into Monday morning.
        ({"sun": [["20:00", "02:00"]]}, {"mon": [["00:00", "02:00"]], "sun": [["20:00", "24:00"]]}),
        # The same start and end: a full 24 hours.
        (
            {"wed": [["09:00", "09:00"]]},
            {"wed": [["09:00", "24:00"]], "thu": [["00:00", "09:00"]]},
        ),
        ({"tue": [["00:00", "00:00"]]}, {"tue": [["00:00", "24:00"]]}),
    ],
)
async def test_every_documented_week_is_a_calendar(client, world, login, weekly_hours, stored):
    """Every opening week the document allows is accepted, normalized to what the SLA clock
    reads: no overlap, no wrap past midnight."""
    _org, headers = await _admin(world, login)

    response = await client.post(
        CALENDARS, json=_calendar(weekly_hours=weekly_hours), headers=headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["weekly_hours"] == stored


async def test_calendar_may_end_a_day_at_midnight(client, world, login):
    _org, headers = await _admin(world, login)
    body = _calendar(weekly_hours={"sat": [["20:00", "24:00"]]})

    response = await client.post(CALENDARS, json=body, headers=headers)

    assert response.status_code == 201, response.text
    assert response.json()["weekly_hours"] == {"sat": [["20:00", "24:00"]]}


async def test_patch_calendar_changes_only_the_fields_sent(client, world, login):
    _org, headers = await _admin(world, login)
    calendar = (await client.post(CALENDARS, json=_calendar(), headers=headers)).json()

    patched = await client.patch(
        f"{CALENDARS}/{calendar['id']}",
        json={"timezone": "America/New_York", "holidays": ["2026-07-04"]},
        headers=headers,
    )

    assert patched.status_code == 200, patched.text
    assert patched.json()["timezone"] == "America/New_York"
    assert patched.json()["holidays"] == ["2026-07-04"]
    assert patched.json()["name"] == calendar["name"]
    assert patched.json()["weekly_hours"] == calendar["weekly_hours"]
    stored = await _stored_calendar(world, calendar["id"])
    assert stored.timezone == "America/New_York"


@pytest.mark.parametrize(
    "body",
    [
        {"timezone": "Nowhere/Land"},
        {"weekly_hours": {"tue": [["10:00", "12:00"], ["09:00", "10:30", "11:00"]]}},
        {"name": None},
        {"weekly_hours": None},
        {"id": str(uuid.uuid4())},
    ],
)
async def test_invalid_calendar_patch_is_422_and_changes_nothing(client, world, login, body):
    _org, headers = await _admin(world, login)
    calendar = (await client.post(CALENDARS, json=_calendar(), headers=headers)).json()

    response = await client.patch(f"{CALENDARS}/{calendar['id']}", json=body, headers=headers)

    assert response.status_code == 422, response.text
    stored = await _stored_calendar(world, calendar["id"])
    assert (stored.name, stored.timezone) == ("Berlin office", "Europe/Berlin")


# --- Access ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.AGENT, Role.MANAGER])
async def test_every_sla_admin_route_is_403_for_non_admins(client, world, login, role):
    org, admin_headers = await _admin(world, login)
    calendar = (await client.post(CALENDARS, json=_calendar(), headers=admin_headers)).json()
    policy = (
        await client.post(POLICIES, json=_policy(priority="LOW"), headers=admin_headers)
    ).json()
    headers = await login(await world.user(org, role))
    calls = [
        ("POST", CALENDARS, _calendar()),
        ("GET", CALENDARS, None),
        ("GET", f"{CALENDARS}/{calendar['id']}", None),
        ("PATCH", f"{CALENDARS}/{calendar['id']}", {"name": "Hacked"}),
        ("POST", POLICIES, _policy(priority="URGENT")),
        ("GET", POLICIES, None),
        ("GET", f"{POLICIES}/{policy['id']}", None),
        ("PATCH", f"{POLICIES}/{policy['id']}", {"resolution_minutes": 1}),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "insufficient_role"
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path)
    stored = await _stored_calendar(world, calendar["id"])
    assert stored.name == "Berlin office"


async def test_another_organizations_calendar_and_policy_are_404(client, world, login):
    _org_a, headers_a = await _admin(world, login)
    _org_b, headers_b = await _admin(world, login)
    calendar = (await client.post(CALENDARS, json=_calendar(), headers=headers_b)).json()
    policy = (await client.post(POLICIES, json=_policy(), headers=headers_b)).json()

    for method, path, body in [
        ("GET", f"{CALENDARS}/{calendar['id']}", None),
        ("PATCH", f"{CALENDARS}/{calendar['id']}", {"name": "Mine now"}),
        ("GET", f"{POLICIES}/{policy['id']}", None),
        ("PATCH", f"{POLICIES}/{policy['id']}", {"resolution_minutes": 5}),
        ("GET", f"{CALENDARS}/{uuid.uuid4()}", None),
        ("PATCH", f"{POLICIES}/{uuid.uuid4()}", {"resolution_minutes": 5}),
    ]:
        response = await client.request(method, path, json=body, headers=headers_a)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "not_found"

    assert (await client.get(CALENDARS, headers=headers_a)).json() == []
    assert (await client.get(POLICIES, headers=headers_a)).json() == []
    assert (await client.get(f"{POLICIES}/{policy['id']}", headers=headers_b)).json() == policy


# --- Policies -------------------------------------------------------------------------


async def test_policy_is_created_with_defaults_and_audited(client, world, login):
    org, headers = await _admin(world, login)
    svc = await _service(world, org)
    calendar = (await client.post(CALENDARS, json=_calendar(), headers=headers)).json()

    response = await client.post(
        POLICIES,
        json=_policy(service_id=str(svc.id), calendar_id=calendar["id"], accept_minutes=30),
        headers=headers,
    )

    assert response.status_code == 201, response.text
    policy = response.json()
    assert policy["priority"] == "HIGH"
    assert policy["service_id"] == str(svc.id)
    assert policy["calendar_id"] == calendar["id"]
    assert (policy["accept_minutes"], policy["first_response_minutes"]) == (30, 60)
    assert (policy["resolution_minutes"], policy["warn_at_percent"]) == (480, 80)
    assert policy["is_active"] is True
    assert policy["name"]
    async with world.sessionmaker() as session:
        actions = (
            await session.execute(select(AuditLog.action).where(AuditLog.organization_id == org.id))
        ).scalars()
        assert set(actions) == {"calendar.created", "sla_policy.created"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"warn_at_percent": 0},
        {"warn_at_percent": 100},
        {"first_response_minutes": 0},
        {"resolution_minutes": -5},
        {"accept_minutes": 0},
        {"resolution_minutes": 10**9},
        {"priority": "CRITICAL"},
        {"priority": None},
        {"service_id": "not-a-uuid"},
        {"surprise": True},
    ],
)
async def test_invalid_policy_is_422(client, world, login, overrides):
    _org, headers = await _admin(world, login)

    response = await client.post(POLICIES, json=_policy(**overrides), headers=headers)

    assert response.status_code == 422, response.text


async def test_policy_refers_only_to_the_organizations_service_and_calendar(client, world, login):
    org_a, headers_a = await _admin(world, login)
    org_b, headers_b = await _admin(world, login)
    foreign_service = await _service(world, org_b)
    foreign_calendar = (await client.post(CALENDARS, json=_calendar(), headers=headers_b)).json()

    cases = [
        ({"service_id": str(foreign_service.id)}, "service_not_found"),
        ({"service_id": str(uuid.uuid4())}, "service_not_found"),
        ({"calendar_id": foreign_calendar["id"]}, "calendar_not_found"),
        ({"calendar_id": str(uuid.uuid4())}, "calendar_not_found"),
    ]
    for overrides, code in cases:
        response = await client.post(POLICIES, json=_policy(**overrides), headers=headers_a)
        assert response.status_code == 404, (overrides, response.text)
        assert response.json()["code"] == code
    policy = (await client.post(POLICIES, json=_policy(), headers=headers_a)).json()
    for overrides, code in cases:
        patched = await client.patch(
            f"{POLICIES}/{policy['id']}", json=overrides, headers=headers_a
        )
        assert patched.status_code == 404, (overrides, patched.text)
        assert patched.json()["code"] == code
    async with world.sessionmaker() as session:
        query = select(SlaPolicy.id).where(SlaPolicy.organization_id == org_a.id)
        assert len((await session.execute(query)).all()) == 1


async def test_duplicate_active_policy_is_409_but_inactive_and_per_service_ones_are_not(
    client, world, login
):
    org, headers = await _admin(world, login)
    svc = await _service(world, org)
    first = await client.post(POLICIES, json=_policy(), headers=headers)
    assert first.status_code == 201

    duplicate = await client.post(POLICIES, json=_policy(resolution_minutes=1), headers=headers)
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["code"] == "duplicate_sla_policy"
    assert duplicate.json()["existing_policy_id"] == first.json()["id"]

    inactive = await client.post(POLICIES, json=_policy(is_active=False), headers=headers)
    assert inactive.status_code == 201
    per_service = await client.post(POLICIES, json=_policy(service_id=str(svc.id)), headers=headers)
    assert per_service.status_code == 201
    second_per_service = await client.post(
        POLICIES, json=_policy(service_id=str(svc.id)), headers=headers
    )
    assert second_per_service.status_code == 409
    other_priority = await client.post(POLICIES, json=_policy(priority="LOW"), headers=headers)
    assert other_priority.status_code == 201

    # Edits that would make two active twins are refused too.
    activate = await client.patch(
        f"{POLICIES}/{inactive.json()['id']}", json={"is_active": True}, headers=headers
    )
    assert activate.status_code == 409
    collide = await client.patch(
        f"{POLICIES}/{other_priority.json()['id']}", json={"priority": "HIGH"}, headers=headers
    )
    assert collide.status_code == 409
    unscope = await client.patch(
        f"{POLICIES}/{per_service.json()['id']}", json={"service_id": None}, headers=headers
    )
    assert unscope.status_code == 409
    # Editing a policy in place is not a conflict with itself.
    edit = await client.patch(
        f"{POLICIES}/{first.json()['id']}",
        json={"priority": "HIGH", "resolution_minutes": 240},
        headers=headers,
    )
    assert edit.status_code == 200, edit.text
    # Once the first is deactivated, the other may take its place.
    await client.patch(
        f"{POLICIES}/{first.json()['id']}", json={"is_active": False}, headers=headers
    )
    activate = await client.patch(
        f"{POLICIES}/{inactive.json()['id']}", json={"is_active": True}, headers=headers
    )
    assert activate.status_code == 200, activate.text


async def test_patch_policy_clears_nullable_fields_and_refuses_null_targets(client, world, login):
    _org, headers = await _admin(world, login)
    calendar = (await client.post(CALENDARS, json=_calendar(), headers=headers)).json()
    policy = (
        await client.post(
            POLICIES,
            json=_policy(calendar_id=calendar["id"], accept_minutes=15),
            headers=headers,
        )
    ).json()

    cleared = await client.patch(
        f"{POLICIES}/{policy['id']}",
        json={"calendar_id": None, "accept_minutes": None, "warn_at_percent": 50},
        headers=headers,
    )
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["calendar_id"], cleared.json()["accept_minutes"]) == (None, None)
    assert cleared.json()["warn_at_percent"] == 50
    assert cleared.json()["resolution_minutes"] == 480

    for body in ({"resolution_minutes": None}, {"priority": None}, {"is_active": None}):
        refused = await client.patch(f"{POLICIES}/{policy['id']}", json=body, headers=headers)
        assert refused.status_code == 422, (body, refused.text)


async def test_list_policies_filters_by_priority_and_activity(client, world, login):
    _org, headers = await _admin(world, login)
    for overrides in (
        {"priority": "LOW"},
        {"priority": "HIGH"},
        {"priority": "HIGH", "is_active": False},
    ):
        assert (await client.post(POLICIES, json=_policy(**overrides), headers=headers)).is_success

    high = (await client.get(POLICIES, params={"priority": "HIGH"}, headers=headers)).json()
    active_high = (
        await client.get(POLICIES, params={"priority": "HIGH", "is_active": True}, headers=headers)
    ).json()
    everything = (await client.get(POLICIES, headers=headers)).json()

    assert len(high) == 2 and {p["priority"] for p in high} == {"HIGH"}
    assert [p["is_active"] for p in active_high] == [True]
    assert len(everything) == 3


async def test_route_docs_say_when_policy_edits_apply(client):
    spec = (await client.get("/openapi.json")).json()
    patch_doc = spec["paths"]["/api/v1/admin/sla-policies/{policy_id}"]["patch"]["description"]
    assert "accepted after" in patch_doc
    assert "next priority change" in patch_doc


# --- Matching and the workflow's snapshot ---------------------------------------------


async def test_match_policy_prefers_service_then_falls_back_to_priority(world, sessionmaker):
    async with sessionmaker() as session:
        org = await create_organization(session, "Matchers")
        other = await create_organization(session, "Others")
        await session.commit()
    svc = await _service(world, org)
    other_svc = await _service(world, org, name="Email")
    async with sessionmaker() as session:
        specific = SlaPolicy(
            organization_id=org.id,
            name="Payroll HIGH",
            priority="HIGH",
            service_id=svc.id,
            first_response_minutes=5,
            resolution_minutes=30,
        )
        retired = SlaPolicy(
            organization_id=org.id,
            priority="LOW",
            service_id=svc.id,
            first_response_minutes=1,
            resolution_minutes=2,
            is_active=False,
        )
        session.add_all([specific, retired])
        await session.commit()

        exact = await match_policy(session, org.id, Priority.HIGH, svc.id)
        fallback = await match_policy(session, org.id, "HIGH", other_svc.id)
        no_service = await match_policy(session, org.id, Priority.HIGH, None)
        inactive_skipped = await match_policy(session, org.id, Priority.LOW, svc.id)
        elsewhere = await match_policy(session, other.id, Priority.HIGH, svc.id)

    assert exact.id == specific.id
    assert fallback.service_id is None and fallback.priority == "HIGH"
    assert fallback.organization_id == org.id
    assert no_service.id == fallback.id
    assert inactive_skipped.priority == "LOW" and inactive_skipped.service_id is None
    assert elsewhere.organization_id == other.id and elsewhere.service_id is None


async def test_match_policy_is_none_without_an_active_policy(world, sessionmaker):
    org = await world.org()
    async with sessionmaker() as session:
        session.add(
            SlaPolicy(
                organization_id=org.id,
                priority="URGENT",
                first_response_minutes=1,
                resolution_minutes=2,
                is_active=False,
            )
        )
        await session.commit()
        assert await match_policy(session, org.id, Priority.URGENT, None) is None
        assert await matching_policy_snapshot(session, org.id, "URGENT", None) is None


async def test_policy_snapshot_is_plain_data_with_the_calendar_spec(sessionmaker):
    async with sessionmaker() as session:
        org = await create_organization(session, "Snapshots", timezone="Europe/Berlin")
        await session.commit()
        medium = await match_policy(session, org.id, Priority.MEDIUM, None)
        urgent = await match_policy(session, org.id, Priority.URGENT, None)
        business = await policy_snapshot(session, medium)
        around_the_clock = await policy_snapshot(session, urgent)
        matched = await matching_policy_snapshot(session, org.id, "MEDIUM", None)

    assert business == {
        "policy_id": str(medium.id),
        "name": medium.name,
        "priority": "MEDIUM",
        "service_id": None,
        "accept_minutes": None,
        "first_response_minutes": 240,
        "resolution_minutes": 3 * 480,
        "warn_at_percent": 80,
        "calendar": {
            "calendar_id": str(medium.calendar_id),
            "name": business["calendar"]["name"],
            "timezone": "Europe/Berlin",
            "weekly_hours": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": [],
        },
    }
    assert around_the_clock["calendar"] is None
    assert around_the_clock["resolution_minutes"] == 240
    assert matched == business


async def test_snapshot_reflects_calendar_edits_made_over_the_api(client, world, login):
    org, headers = await _admin(world, login)
    calendar = (await client.post(CALENDARS, json=_calendar(), headers=headers)).json()
    policy = (
        await client.post(POLICIES, json=_policy(calendar_id=calendar["id"]), headers=headers)
    ).json()
    await client.patch(
        f"{CALENDARS}/{calendar['id']}",
        json={"weekly_hours": SPLIT_WEEK, "holidays": ["2026-12-24"]},
        headers=headers,
    )

    async with world.sessionmaker() as session:
        snapshot = await matching_policy_snapshot(session, org.id, "HIGH", None)

    assert snapshot["policy_id"] == policy["id"]
    assert snapshot["calendar"]["weekly_hours"]["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert snapshot["calendar"]["holidays"] == ["2026-12-24"]
