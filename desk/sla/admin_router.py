"""Admin routes of desk.sla: business calendars and SLA policies (ADMIN only, per
organization)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from desk.auth.deps import AdminUser
from desk.enums import Priority
from desk.http.deps import SessionDep
from desk.sla import service
from desk.sla.schemas import (
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    SlaPolicyCreate,
    SlaPolicyOut,
    SlaPolicyUpdate,
)

_POLICY_ERRORS = {
    404: {"description": "No such service or calendar in your organization."},
    409: {
        "description": "`duplicate_sla_policy`: an active policy covers this priority and service."
    },
}
router = APIRouter(responses={403: {"description": "Requires the ADMIN role."}})


@router.post(
    "/calendars",
    name="create",
    tags=["calendars"],
    response_model=CalendarOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_calendar(
    body: CalendarCreate, admin: AdminUser, session: SessionDep
) -> CalendarOut:
    """Create a business calendar: IANA time zone, weekly opening hours (several intervals a
    day allowed), holidays. An unknown zone, a bad weekday, overlapping intervals or an
    interval ending before it starts is 422."""
    calendar = await service.create_calendar(session, admin, body)
    await session.commit()
    return CalendarOut.model_validate(calendar)


@router.get("/calendars", name="list", tags=["calendars"], response_model=list[CalendarOut])
async def list_calendars(admin: AdminUser, session: SessionDep) -> list[CalendarOut]:
    """The organization's business calendars, by name."""
    calendars = await service.list_calendars(session, admin)
    await session.commit()
    return [CalendarOut.model_validate(c) for c in calendars]


@router.get("/calendars/{calendar_id}", name="get", tags=["calendars"], response_model=CalendarOut)
async def get_calendar(
    calendar_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> CalendarOut:
    """One business calendar of the organization."""
    calendar = await service.get_calendar(session, admin, calendar_id)
    await session.commit()
    return CalendarOut.model_validate(calendar)


@router.patch(
    "/calendars/{calendar_id}", name="update", tags=["calendars"], response_model=CalendarOut
)
async def update_calendar(
    calendar_id: uuid.UUID, body: CalendarUpdate, admin: AdminUser, session: SessionDep
) -> CalendarOut:
    """Change a calendar's name, zone, weekly hours or holidays (fields sent only).

    Tickets keep the calendar their policy had when they were accepted: an edit applies to
    tickets accepted after it, and to running tickets on their next priority change."""
    calendar = await service.update_calendar(session, admin, calendar_id, body)
    await session.commit()
    return CalendarOut.model_validate(calendar)


@router.post(
    "/sla-policies",
    name="create",
    responses=_POLICY_ERRORS,
    tags=["sla-policies"],
    response_model=SlaPolicyOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_sla_policy(
    body: SlaPolicyCreate, admin: AdminUser, session: SessionDep
) -> SlaPolicyOut:
    """Create an SLA policy for a priority, optionally for one service.

    A ticket gets the active policy for its service and priority, else the one for its
    priority alone. A second active policy for the same priority and service is 409; a
    service or calendar not of the organization is 422. No calendar means 24x7. A new policy
    applies to tickets accepted after its creation, and to running tickets on their next
    priority change."""
    policy = await service.create_policy(session, admin, body)
    await session.commit()
    return SlaPolicyOut.model_validate(policy)


@router.get("/sla-policies", name="list", tags=["sla-policies"], response_model=list[SlaPolicyOut])
async def list_sla_policies(
    admin: AdminUser,
    session: SessionDep,
    priority: Priority | None = None,
    is_active: bool | None = None,
) -> list[SlaPolicyOut]:
    """The organization's SLA policies, by priority."""
    policies = await service.list_policies(session, admin, priority=priority, is_active=is_active)
    await session.commit()
    return [SlaPolicyOut.model_validate(p) for p in policies]


@router.get(
    "/sla-policies/{policy_id}", name="get", tags=["sla-policies"], response_model=SlaPolicyOut
)
async def get_sla_policy(
    policy_id: uuid.UUID, admin: AdminUser, session: SessionDep
) -> SlaPolicyOut:
    """One SLA policy of the organization."""
    policy = await service.get_policy(session, admin, policy_id)
    await session.commit()
    return SlaPolicyOut.model_validate(policy)


@router.patch(
    "/sla-policies/{policy_id}",
    name="update",
    responses=_POLICY_ERRORS,
    tags=["sla-policies"],
    response_model=SlaPolicyOut,
)
async def update_sla_policy(
    policy_id: uuid.UUID, body: SlaPolicyUpdate, admin: AdminUser, session: SessionDep
) -> SlaPolicyOut:
    """Edit a policy, in use or not (fields sent only; `null` clears service, calendar or
    accept target). The same 409/422 rules as creation apply to the result.

    A ticket keeps the policy targets it was given when it was accepted: an edit applies to
    tickets accepted after it, and to running tickets on their next priority change (which
    re-selects the policy and recomputes their due dates). Running tickets are not
    recomputed otherwise."""
    policy = await service.update_policy(session, admin, policy_id, body)
    await session.commit()
    return SlaPolicyOut.model_validate(policy)
