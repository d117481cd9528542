"""The portal in a real browser (Debian's Chromium through Playwright) against a live
server with a real worker on the Temporal dev server; one browser context per person.
Written as people act: labels, roles and names, and waits that expect what they see."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, expect

from desk.admin.models import Service
from desk.auth.models import PortalSession
from desk.enums import Priority, Role
from desk.sla.models import SlaPolicy

LIVE = 10_000  # ms: what "appears without reloading" may take here, at most


async def tenant(world, sessionmaker, name: str = "Acme"):
    org = await world.org(name)
    people = {
        "customer": await world.user(org, Role.CUSTOMER, full_name="Casey Customer"),
        "agent": await world.user(org, Role.AGENT, full_name="Alex Agent"),
        "manager": await world.user(org, Role.MANAGER, full_name="Morgan Manager"),
    }
    async with sessionmaker() as session:
        session.add(Service(organization_id=org.id, name="IT Support", description="Anything IT"))
        await session.commit()
    return org, people


async def ticket_id_of(page: Page) -> str:
    await expect(page).to_have_url(re.compile(r"/tickets/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


async def test_walkthrough_in_three_browsers(world, sessionmaker, people, tmp_path):
    _, who = await tenant(world, sessionmaker)
    manager = await people.signed_in(who["manager"])
    await expect(manager).to_have_url(re.compile(r"/inbox$"))
    agent = await people.signed_in(who["agent"])
    await expect(agent).to_have_url(re.compile(r"/queue$"))
    customer = await people.signed_in(who["customer"])

    # The customer files a ticket with an attachment.
    subject = f"VPN drops every hour {uuid.uuid4().hex[:6]}"
    screenshot = tmp_path / "vpn-error.txt"
    screenshot.write_text("error 809: the network connection was closed\n")
    await customer.get_by_role("link", name="New ticket").first.click()
    await customer.get_by_label("Subject").fill(subject)
    await customer.get_by_label("Description").fill("Since Monday, from home.")
    await customer.get_by_label("Priority").select_option("HIGH")
    await customer.get_by_label("Service").select_option(label="IT Support")
    await customer.get_by_label("Attachments").set_input_files(str(screenshot))
    await customer.get_by_role("button", name="Submit ticket").click()
    ticket_id = await ticket_id_of(customer)
    head = customer.locator("#ticket-head")
    await expect(head).to_contain_text(re.compile(r"#\d+"))
    await expect(head).to_contain_text("NEW")
    await expect(customer.get_by_role("link", name="vpn-error.txt")).to_be_visible()

    # The manager's open inbox shows it without a reload; they accept and assign it.
    await expect(manager.get_by_role("link", name=re.compile(subject))).to_be_visible(timeout=LIVE)
    await manager.get_by_role("link", name=re.compile(subject)).click()
    await manager.get_by_role("button", name="Accept").click()
    await expect(manager.locator("#ticket-head")).to_contain_text("ACCEPTED")
    await manager.get_by_label("Assignee").select_option(label="Alex Agent (agent)")
    await manager.get_by_role("button", name="Assign").click()
    await expect(manager.locator("#ticket-head")).to_contain_text("Alex Agent")

    # The agent's open queue shows it; they reply, then add an internal note.
    await expect(agent.get_by_role("link", name=re.compile(subject))).to_be_visible(timeout=LIVE)
    await agent.get_by_role("link", name=re.compile(subject)).click()
    await agent.get_by_label("Reply").fill("Please send the VPN client's log.")
    await agent.get_by_role("button", name="Send").click()
    await expect(agent.locator("#timeline")).to_contain_text("Please send the VPN client's log.")
    await agent.get_by_label("Reply").fill("Probably the hourly rekey on the old gateway.")
    await agent.get_by_label("Internal note").check()
    await agent.get_by_role("button", name="Send").click()
    await expect(agent.locator(".entry-note")).to_contain_text("hourly rekey")

    # The customer, on the page they left open, sees the reply appear, and never the note.
    timeline = customer.locator("#timeline")
    await expect(timeline).to_contain_text("Please send the VPN client's log.", timeout=LIVE)
    await expect(customer.locator("#ticket-head")).to_contain_text("ACCEPTED")
    await customer.reload()
    await expect(timeline).to_contain_text("Please send the VPN client's log.")
    await expect(timeline).not_to_contain_text("hourly rekey")
    await expect(customer.get_by_label("Internal note")).to_have_count(0)

    # The agent waits for the customer; the customer's reply resumes the ticket.
    await agent.get_by_role("button", name="Wait for customer").click()
    await expect(agent.locator("#ticket-head")).to_contain_text("WAITING_CUSTOMER")
    await expect(agent.locator("#ticket-sla")).to_contain_text("\u23f8")
    await expect(customer.locator("#ticket-head")).to_contain_text("WAITING_CUSTOMER", timeout=LIVE)
    await customer.get_by_label("Reply").fill("Log attached.")
    await customer.get_by_label("Attach files").set_input_files(str(screenshot))
    await customer.get_by_role("button", name="Send").click()
    await expect(customer.locator("#ticket-head")).to_contain_text("IN_PROGRESS")
    await expect(agent.locator("#ticket-head")).to_contain_text("IN_PROGRESS", timeout=LIVE)
    await expect(agent.locator("#timeline")).to_contain_text("Log attached.")

    # The agent resolves it; the customer sees it resolved.
    await agent.get_by_role("button", name="Resolve").click()
    await expect(agent.locator("#ticket-head")).to_contain_text("RESOLVED")
    await expect(customer.locator("#ticket-head")).to_contain_text("RESOLVED", timeout=LIVE)
    await expect(customer.locator("#timeline")).not_to_contain_text("hourly rekey")
    assert f"/tickets/{ticket_id}" in customer.url


async def test_breach_shows_on_the_managers_open_page_within_two_seconds(
    world, sessionmaker, people, settings
):
    org, who = await tenant(world, sessionmaker, "Breachco")
    async with sessionmaker() as session:
        session.add(
            SlaPolicy(
                organization_id=org.id,
                name="Seconds",
                priority=Priority.URGENT,
                first_response_minutes=60,
                resolution_minutes=0.1,  # six seconds
                warn_at_percent=50,
            )
        )
        await session.commit()
    customer = await people.signed_in(who["customer"])
    await customer.get_by_role("link", name="New ticket").first.click()
    await customer.get_by_label("Subject").fill("Site down")
    await customer.get_by_label("Priority").select_option("URGENT")
    await customer.get_by_role("button", name="Submit ticket").click()
    ticket_id = await ticket_id_of(customer)

    manager = await people.signed_in(who["manager"])
    await manager.goto(f"/tickets/{ticket_id}")
    badge = manager.locator("#unread-badge")
    await expect(badge).not_to_contain_text(re.compile(r"\d"))
    await manager.get_by_role("button", name="Accept").click()
    resolution = manager.locator("#ticket-sla .sla-item", has_text="Resolution")
    await expect(resolution).to_have_class(re.compile(r"sla-(ok|warning)"))
    due = datetime.fromisoformat(await resolution.get_attribute("data-due"))

    # Amber inside the warning threshold (50 % of six seconds), before any breach.
    await expect(resolution).to_have_class(re.compile("sla-warning"), timeout=6_000)
    budget = (due + timedelta(seconds=2) - datetime.now(UTC)).total_seconds() * 1000
    await expect(resolution).to_have_class(re.compile("sla-breached"), timeout=max(budget, 1))
    # Unassigned, so the warning went to the managers too: the breach is their second.
    await expect(badge).to_contain_text("2", timeout=max(budget, 1))
    seen = datetime.now(UTC)
    assert seen - due <= timedelta(seconds=2), seen - due
    await expect(resolution).to_contain_text("\u2717")
    await expect(resolution.locator(".sla-text")).to_have_text(re.compile(r"^-\d+s$"))

    # The customer sees one word, never the figures: on the page left open, then reloaded.
    await expect(customer.locator("#ticket-sla")).to_contain_text("Overdue")
    await customer.reload()
    await expect(customer.locator("#ticket-sla")).to_contain_text("Overdue")
    await expect(customer.locator("#ticket-sla .sla-item")).to_have_count(0)


async def test_refusals_in_the_browser(world, sessionmaker, people):
    _, who = await tenant(world, sessionmaker, "Refusals")
    _, others = await tenant(world, sessionmaker, "Elsewhere")
    theirs = await people.signed_in(others["customer"])
    await theirs.get_by_role("link", name="New ticket").first.click()
    await theirs.get_by_label("Subject").fill("Not yours")
    await theirs.get_by_role("button", name="Submit ticket").click()
    other_ticket = await ticket_id_of(theirs)

    customer = await people.signed_in(who["customer"])
    # The wrong role: a 403 page, not a stack trace.
    response = await customer.goto("/inbox")
    assert response.status == 403
    await expect(customer.get_by_role("heading", name="Not allowed")).to_be_visible()
    # Another tenant's ticket: a 404 page.
    response = await customer.goto(f"/tickets/{other_ticket}")
    assert response.status == 404
    await expect(customer.get_by_role("heading", name="Not found")).to_be_visible()

    # A form whose CSRF token was tampered with is refused, and nothing is written.
    await customer.goto("/tickets/new")
    await customer.get_by_label("Subject").fill("Forged")
    await customer.locator("form[action='/tickets'] input[name=csrftoken]").evaluate(
        "el => el.value = 'forged'"
    )
    response = None
    async with customer.expect_navigation() as navigation:
        await customer.get_by_role("button", name="Submit ticket").click()
    response = await navigation.value
    assert response.status == 403
    await expect(customer.get_by_role("heading", name="Refused")).to_be_visible()
    await customer.goto("/tickets")
    await expect(customer.get_by_text("Forged")).to_have_count(0)

    # An expired session sends the person back to sign in.
    async with sessionmaker() as session:
        await session.execute(
            PortalSession.__table__.update()
            .where(PortalSession.user_id == who["customer"].id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    await customer.goto("/tickets")
    await expect(customer).to_have_url(re.compile(r"/login\?next=%2Ftickets$"))
    await expect(customer.get_by_role("status")).to_contain_text("session has ended")

    # Signing out ends the session for good.
    agent = await people.signed_in(who["agent"])
    await agent.get_by_role("button", name="Sign out").click()
    await expect(agent).to_have_url(re.compile(r"/login$"))
    await expect(agent.get_by_role("status")).to_contain_text("signed out")
    await agent.goto("/queue")
    await expect(agent).to_have_url(re.compile(r"/login\?next="))
