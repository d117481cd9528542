"""`make screenshots`: a PNG of each main portal page under docs/screenshots/, taken in
Chromium from a desk with tickets in every state (running, amber, paused, breached, new).
Skipped unless DESK_SCREENSHOTS names the folder to write."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from desk.admin.models import Service
from desk.admin.organizations import create_organization
from desk.enums import Priority, Role
from desk.sla.models import SlaPolicy
from tests.support.browser import PHONE
from tests.support.tickets import COMMENTS, INTERNAL, TICKETS
from tests.support.world import World, bearer

OUT = os.environ.get("DESK_SCREENSHOTS")


@dataclass(frozen=True)
class Filed:
    """A ticket of the pictured desk: who filed it, who works it, what was said."""

    key: str
    requester: str
    subject: str
    priority: str
    service: str
    description: str = ""
    assignee: str | None = None  # accepted and assigned; None: still NEW
    conversation: tuple[tuple[str, str, bool], ...] = ()  # (author, text, internal)
    status: str | None = None  # where the assignee moves it last


DESK = (
    Filed(
        "vpn",
        "customer",
        "VPN drops every hour when working from home",
        "HIGH",
        "Network",
        "Since Monday the VPN disconnects about every hour, then reconnects after a "
        "minute. It happens at home only; in the office all is fine.",
        assignee="agent",
        conversation=(
            (
                "agent",
                "Thanks Casey. Could you send the VPN client's log from Help → Export logs "
                "after the next drop?",
                False,
            ),
            (
                "agent",
                "Hourly, so probably the IKE rekey on the old gateway. Checking its lifetime "
                "setting.",
                True,
            ),
            ("customer", "Here it is, it dropped at 10:02 again.", False),
        ),
        status="IN_PROGRESS",
    ),
    Filed(
        "flood",
        "customer2",
        "Water leaking under the 3rd floor printer",
        "URGENT",
        "Facilities",
        assignee="agent",
    ),
    Filed(
        "laptop",
        "customer2",
        "Laptop battery is swelling",
        "URGENT",
        "IT Support",
        "The trackpad is lifting. Should I stop using it?",
        assignee="agent",
        conversation=(
            ("agent", "Please stop using it and unplug it; a loaner is on its way.", False),
        ),
    ),
    Filed(
        "password",
        "customer",
        "Password reset link has expired",
        "MEDIUM",
        "IT Support",
        assignee="agent",
        conversation=(("agent", "Which address did the link go to?", False),),
        status="WAITING_CUSTOMER",
    ),
    Filed(
        "starter",
        "customer2",
        "Accounts for a new starter on Monday",
        "LOW",
        "IT Support",
        assignee="agent",
    ),
    Filed(
        "wifi",
        "customer",
        "Guest Wi-Fi asks for a password",
        "HIGH",
        "Network",
        assignee="agent2",
    ),
    Filed(
        "monitor",
        "customer",
        "Second monitor stays black after docking",
        "MEDIUM",
        "IT Support",
        assignee="agent",
        status="RESOLVED",
    ),
    Filed(
        "printer",
        "customer2",
        "Printer on the 2nd floor jams on every page",
        "MEDIUM",
        "Facilities",
    ),
    Filed("signature", "customer", "New email signature template", "LOW", "IT Support"),
    Filed("keys", "customer2", "Lost my office key card", "HIGH", "Facilities"),
)
pytestmark = pytest.mark.skipif(not OUT, reason="make screenshots sets DESK_SCREENSHOTS")


async def desk_with_tickets(sessionmaker, settings, url):
    """An organization as the demo's, with a day's worth of tickets."""
    async with sessionmaker() as session:
        org = await create_organization(session, f"ATUM Demo {uuid.uuid4().hex[:4]}")
        services = {
            name: Service(organization_id=org.id, name=name, description=text)
            for name, text in (
                ("IT Support", "Laptops, accounts, anything IT."),
                ("Network", "VPN, Wi-Fi, the office network."),
                ("Facilities", "Desks, printers, the building."),
            )
        }
        session.add_all(services.values())
        await session.flush()
        session.add_all(
            [
                SlaPolicy(  # tight, warned early: shows amber and "at risk"
                    organization_id=org.id,
                    name="Network, high",
                    priority=Priority.HIGH,
                    service_id=services["Network"].id,
                    first_response_minutes=30,
                    resolution_minutes=100,
                    warn_at_percent=1,
                ),
                SlaPolicy(  # seconds: breaches while the desk is being set up
                    organization_id=org.id,
                    name="Facilities, urgent",
                    priority=Priority.URGENT,
                    service_id=services["Facilities"].id,
                    first_response_minutes=0.05,
                    resolution_minutes=0.1,
                ),
            ]
        )
        await session.commit()
    world = World(sessionmaker)
    names = {
        "customer": (Role.CUSTOMER, "Casey Customer"),
        "customer2": (Role.CUSTOMER, "Robin Requester"),
        "agent": (Role.AGENT, "Alex Agent"),
        "agent2": (Role.AGENT, "Sam Support"),
        "manager": (Role.MANAGER, "Morgan Manager"),
        "admin": (Role.ADMIN, "Ada Admin"),
    }
    who = {key: await world.user(org, role, full_name=name) for key, (role, name) in names.items()}
    auth = {key: bearer(settings, user) for key, user in who.items()}
    ids: dict[str, str] = {}

    async with httpx.AsyncClient(base_url=url, timeout=30) as api:

        async def ok(path: str, body: dict | None, as_: str) -> dict:
            response = await api.post(path, json=body, headers=auth[as_])
            assert response.status_code in (200, 201), response.text
            return response.json()

        for spec in DESK:
            body = {
                "subject": spec.subject,
                "description": spec.description,
                "priority": spec.priority,
                "service_id": str(services[spec.service].id),
            }
            ticket_id = (await ok(TICKETS, body, spec.requester))["id"]
            ids[spec.key] = ticket_id
            if spec.assignee:
                await ok(f"{INTERNAL}/{ticket_id}/accept", None, "manager")
                assignee = {"assigned_to": str(who[spec.assignee].id)}
                await ok(f"{INTERNAL}/{ticket_id}/assign", assignee, "manager")
            for author, text, internal in spec.conversation:
                body = {"content": text, "is_internal": internal}
                await ok(f"{COMMENTS}/{ticket_id}", body, author)
            if spec.status:
                body = {"status": spec.status}
                await ok(f"{INTERNAL}/{ticket_id}/status", body, spec.assignee)
    return who, ids


async def shot(page: Page, name: str, *, full: bool = False) -> None:
    await page.wait_for_load_state("networkidle")
    await page.wait_for_timeout(300)  # the script has ticked and set titles
    await page.screenshot(path=str(Path(OUT) / f"{name}.png"), full_page=full)


async def test_screenshots(sessionmaker, settings, portal_url, people):
    Path(OUT).mkdir(parents=True, exist_ok=True)
    who, ids = await desk_with_tickets(sessionmaker, settings, portal_url)
    await asyncio.sleep(20)  # the Facilities ticket breaches, the Network ones turn amber

    visitor = await people.page()
    await visitor.goto("/login")
    await shot(visitor, "login")

    agent = await people.signed_in(who["agent"])
    await agent.goto("/queue")
    await expect(agent.get_by_role("heading", name="My queue")).to_be_visible()
    await shot(agent, "agent-queue")
    await agent.keyboard.press("?")
    await shot(agent, "agent-shortcuts")
    await agent.keyboard.press("Escape")
    await agent.goto(f"/tickets/{ids['vpn']}")
    await shot(agent, "agent-ticket", full=True)
    await agent.goto("/tickets")
    await shot(agent, "agent-open-tickets")

    phone = await people.signed_in(who["agent"], viewport=PHONE, is_mobile=True)
    await phone.goto("/queue")
    await shot(phone, "agent-queue-phone", full=True)
    await phone.goto(f"/tickets/{ids['vpn']}")
    await shot(phone, "agent-ticket-phone", full=True)

    dark = await people.signed_in(who["agent"], color_scheme="dark")
    await dark.goto("/queue")
    await shot(dark, "agent-queue-dark")

    manager = await people.signed_in(who["manager"])
    await shot(manager, "manager-inbox")
    await manager.goto("/at-risk")
    await shot(manager, "manager-at-risk")
    await manager.goto("/breached")
    await shot(manager, "manager-breached")
    await manager.goto("/notifications")
    await shot(manager, "manager-notifications")
    await manager.goto("/reports")  # the last four weeks: today's breaches included
    await expect(manager.locator("#breaches-table")).to_be_visible()
    await shot(manager, "manager-reports", full=True)

    customer = await people.signed_in(who["customer"])
    await shot(customer, "customer-tickets")
    await customer.goto(f"/tickets/{ids['vpn']}")
    await shot(customer, "customer-ticket", full=True)
    await customer.goto("/tickets/new")
    await shot(customer, "customer-new-ticket")

    admin = await people.signed_in(who["admin"])
    await admin.goto("/admin")
    await shot(admin, "admin-overview", full=True)
