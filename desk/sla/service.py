"""Business calendars and SLA policies: admin CRUD, policy matching and the snapshot the
ticket workflow keeps. Functions flush; callers commit."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.admin.models import Service
from desk.admin.service import audit
from desk.auth.deps import get_scoped_or_404, scoped
from desk.auth.models import Organization, User
from desk.enums import Priority
from desk.errors import Conflict, NotFound
from desk.sla.contracts import SlaTargets
from desk.sla.defaults import DEFAULT_TARGETS
from desk.sla.models import BusinessCalendar, SlaPolicy
from desk.sla.schemas import (
    CalendarCreate,
    CalendarUpdate,
    SlaPolicyCreate,
    SlaPolicyUpdate,
)

# --- Calendars ------------------------------------------------------------------------


async def list_calendars(session: AsyncSession, admin: User) -> list[BusinessCalendar]:
    """The organization's calendars, by name."""
    query = scoped(BusinessCalendar, admin).order_by(BusinessCalendar.name, BusinessCalendar.id)
    return list((await session.execute(query)).scalars())


async def get_calendar(
    session: AsyncSession, admin: User, calendar_id: uuid.UUID
) -> BusinessCalendar:
    return await get_scoped_or_404(session, BusinessCalendar, calendar_id, admin, what="calendar")


async def create_calendar(
    session: AsyncSession, admin: User, body: CalendarCreate
) -> BusinessCalendar:
    calendar = BusinessCalendar(
        organization_id=admin.organization_id,
        name=body.name,
        timezone=body.timezone,
        weekly_hours=body.weekly_hours.normalized(),
        holidays=[d.isoformat() for d in body.holidays],
    )
    session.add(calendar)
    await session.flush()
    await _audit(session, admin, "calendar.created", calendar_id=calendar.id, body=body)
    return calendar


async def update_calendar(
    session: AsyncSession, admin: User, calendar_id: uuid.UUID, body: CalendarUpdate
) -> BusinessCalendar:
    calendar = await get_calendar(session, admin, calendar_id)
    changes = body.changes()
    if "weekly_hours" in changes:
        changes["weekly_hours"] = body.weekly_hours.normalized()
    if "holidays" in changes:
        changes["holidays"] = [d.isoformat() for d in changes["holidays"]]
    for field, value in changes.items():
        setattr(calendar, field, value)
    await session.flush()
    await _audit(session, admin, "calendar.updated", calendar_id=calendar.id, body=body)
    return calendar


# --- Policies -------------------------------------------------------------------------


async def list_policies(
    session: AsyncSession,
    admin: User,
    *,
    priority: Priority | None = None,
    is_active: bool | None = None,
) -> list[SlaPolicy]:
    """The organization's policies: by priority, priority-only fallbacks first."""
    query = scoped(SlaPolicy, admin)
    if priority is not None:
        query = query.where(SlaPolicy.priority == priority.value)
    if is_active is not None:
        query = query.where(SlaPolicy.is_active == is_active)
    query = query.order_by(
        SlaPolicy.priority, SlaPolicy.service_id.is_not(None), SlaPolicy.created_at, SlaPolicy.id
    )
    return list((await session.execute(query)).scalars())


async def get_policy(session: AsyncSession, admin: User, policy_id: uuid.UUID) -> SlaPolicy:
    return await get_scoped_or_404(session, SlaPolicy, policy_id, admin, what="SLA policy")


async def create_policy(session: AsyncSession, admin: User, body: SlaPolicyCreate) -> SlaPolicy:
    """A new policy; 422 for another organization's service or calendar, 409 if an active
    policy already covers the same priority and service."""
    org_id = admin.organization_id
    await _check_references(session, org_id, body.service_id, body.calendar_id)
    if body.is_active:
        await _ensure_no_active_twin(session, org_id, body.priority.value, body.service_id)
    policy = SlaPolicy(
        organization_id=org_id,
        name=body.name or _default_name(body.priority.value, body.service_id),
        priority=body.priority.value,
        service_id=body.service_id,
        accept_minutes=body.accept_minutes,
        first_response_minutes=body.first_response_minutes,
        resolution_minutes=body.resolution_minutes,
        warn_at_percent=body.warn_at_percent,
        calendar_id=body.calendar_id,
        is_active=body.is_active,
    )
    session.add(policy)
    await session.flush()
    await _audit(session, admin, "sla_policy.created", sla_policy_id=policy.id, body=body)
    return policy


async def update_policy(
    session: AsyncSession, admin: User, policy_id: uuid.UUID, body: SlaPolicyUpdate
) -> SlaPolicy:
    """Apply the fields sent; the same checks as creation hold for the result."""
    policy = await get_policy(session, admin, policy_id)
    changes = body.changes()
    if "priority" in changes:
        changes["priority"] = changes["priority"].value
    await _check_references(
        session,
        policy.organization_id,
        changes.get("service_id"),
        changes.get("calendar_id"),
    )
    merged = {
        field: changes.get(field, getattr(policy, field))
        for field in ("priority", "service_id", "is_active")
    }
    if merged["is_active"]:
        await _ensure_no_active_twin(
            session,
            policy.organization_id,
            merged["priority"],
            merged["service_id"],
            exclude_id=policy.id,
        )
    for field, value in changes.items():
        setattr(policy, field, value)
    await session.flush()
    await _audit(session, admin, "sla_policy.updated", sla_policy_id=policy.id, body=body)
    return policy


async def match_policy(
    session: AsyncSession,
    organization_id: uuid.UUID,
    priority: Priority | str,
    service_id: uuid.UUID | None,
) -> SlaPolicy | None:
    """The active policy for a ticket: service and priority first, then priority alone."""
    priority_value = Priority(priority).value
    base = (
        select(SlaPolicy)
        .where(
            SlaPolicy.organization_id == organization_id,
            SlaPolicy.priority == priority_value,
            SlaPolicy.is_active.is_(True),
        )
        .order_by(SlaPolicy.created_at, SlaPolicy.id)
        .limit(1)
    )
    if service_id is not None:
        found = (
            await session.execute(base.where(SlaPolicy.service_id == service_id))
        ).scalar_one_or_none()
        if found is not None:
            return found
    return (await session.execute(base.where(SlaPolicy.service_id.is_(None)))).scalar_one_or_none()


async def policy_snapshot(session: AsyncSession, policy: SlaPolicy) -> dict[str, Any]:
    """The policy's targets and calendar as plain JSON data, for the ticket workflow.

    Shape::

        {"policy_id": str, "name": str, "priority": str, "service_id": str | None,
         "accept_minutes": int | None, "first_response_minutes": int,
         "resolution_minutes": int, "warn_at_percent": int,
         "calendar": None  # 24x7
                  | {"calendar_id": str, "name": str, "timezone": str,
                     "weekly_hours": {"mon": [["09:00", "17:00"]], ...},
                     "holidays": ["2026-12-25", ...]}}
    """
    calendar_spec: dict[str, Any] | None = None
    if policy.calendar_id is not None:
        calendar = (
            await session.execute(
                select(BusinessCalendar).where(
                    BusinessCalendar.id == policy.calendar_id,
                    BusinessCalendar.organization_id == policy.organization_id,
                )
            )
        ).scalar_one()
        calendar_spec = {
            "calendar_id": str(calendar.id),
            "name": calendar.name,
            "timezone": calendar.timezone,
            "weekly_hours": copy.deepcopy(calendar.weekly_hours),
            "holidays": sorted(calendar.holidays),
        }
    return {
        "policy_id": str(policy.id),
        "name": policy.name,
        "priority": policy.priority,
        "service_id": str(policy.service_id) if policy.service_id else None,
        "accept_minutes": policy.accept_minutes,
        "first_response_minutes": policy.first_response_minutes,
        "resolution_minutes": policy.resolution_minutes,
        "warn_at_percent": policy.warn_at_percent,
        "calendar": calendar_spec,
    }


async def matching_policy_snapshot(
    session: AsyncSession,
    organization_id: uuid.UUID,
    priority: Priority | str,
    service_id: uuid.UUID | None,
) -> dict[str, Any] | None:
    """``policy_snapshot`` of ``match_policy``, or None when no active policy matches."""
    policy = await match_policy(session, organization_id, priority, service_id)
    return None if policy is None else await policy_snapshot(session, policy)


async def sla_targets_for(
    session: AsyncSession,
    organization_id: uuid.UUID,
    priority: Priority | str,
    service_id: uuid.UUID | None,
) -> SlaTargets:
    """The SLA targets a ticket gets now: the matching policy's, or, if an admin left no
    active policy for this priority, the built-in default (24x7), so that no accepted ticket
    is ever without an SLA."""
    snapshot = await matching_policy_snapshot(session, organization_id, priority, service_id)
    if snapshot is not None:
        return SlaTargets.from_policy_snapshot(snapshot)
    default = next(t for t in DEFAULT_TARGETS if t.priority == Priority(priority))
    return SlaTargets.from_minutes(
        None,
        first_response_minutes=default.first_response_minutes,
        resolution_minutes=default.resolution_minutes,
    )


# --- Helpers --------------------------------------------------------------------------


def _default_name(priority: str, service_id: uuid.UUID | None) -> str:
    return f"{priority} (service {service_id})" if service_id else f"{priority} (any service)"


async def _check_references(
    session: AsyncSession,
    organization_id: uuid.UUID,
    service_id: uuid.UUID | None,
    calendar_id: uuid.UUID | None,
) -> None:
    # Another tenant's ids are indistinguishable from unknown ones: the same 404.
    if service_id is not None:
        found = await session.scalar(
            select(Service.id).where(
                Service.id == service_id, Service.organization_id == organization_id
            )
        )
        if found is None:
            raise NotFound("no such service in your organization", code="service_not_found")
    if calendar_id is not None:
        found = await session.scalar(
            select(BusinessCalendar.id).where(
                BusinessCalendar.id == calendar_id,
                BusinessCalendar.organization_id == organization_id,
            )
        )
        if found is None:
            raise NotFound("no such calendar in your organization", code="calendar_not_found")


async def _ensure_no_active_twin(
    session: AsyncSession,
    organization_id: uuid.UUID,
    priority: str,
    service_id: uuid.UUID | None,
    *,
    exclude_id: uuid.UUID | None = None,
) -> None:
    """409 if another active policy covers (priority, service), which would make matching
    ambiguous."""
    # Serialize concurrent policy writes of one organization (PostgreSQL; SQLite's
    # BEGIN IMMEDIATE already does), so two requests cannot both pass this check.
    await session.execute(
        select(Organization.id).where(Organization.id == organization_id).with_for_update()
    )
    query = select(SlaPolicy.id).where(
        SlaPolicy.organization_id == organization_id,
        SlaPolicy.priority == priority,
        SlaPolicy.is_active.is_(True),
        SlaPolicy.service_id == service_id
        if service_id is not None
        else SlaPolicy.service_id.is_(None),
    )
    if exclude_id is not None:
        query = query.where(SlaPolicy.id != exclude_id)
    existing = await session.scalar(query.limit(1))
    if existing is not None:
        scope = "this service" if service_id else "any service"
        raise Conflict(
            f"an active {priority} policy for {scope} exists already; deactivate or edit it",
            code="duplicate_sla_policy",
            existing_policy_id=str(existing),
        )


async def _audit(
    session: AsyncSession, admin: User, action: str, *, body: Any, **ids: uuid.UUID
) -> None:
    changes = body.model_dump(mode="json", exclude_unset=True)
    await audit(
        session,
        organization_id=admin.organization_id,
        actor_id=admin.id,
        action=action,
        details={**{k: str(v) for k, v in ids.items()}, "changes": changes},
    )
