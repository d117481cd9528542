"""Browser tests: the portal under uvicorn on a loopback port with a worker of its own,
and Debian's Chromium driven by Playwright (never a downloaded browser build).

A pytest plugin (listed in tests/conftest.py): ``portal_url`` starts one server for the
run, on the dev server, so every test using it is marked ``temporal`` and left out of
``make test-fast``; ``chromium`` is one browser for the run; ``people`` opens a separate
browser context per person and closes them all after the test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from desk.app import create_app
from desk.auth.models import User
from tests.support.servers import serving
from tests.support.world import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make .venv/.installed` installs Debian's chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
async def portal_url(settings, dev_server, sessionmaker) -> AsyncIterator[str]:
    """The app under uvicorn with a worker on a task queue of its own. ``DESK_ENV=dev``:
    the browser talks plain HTTP to 127.0.0.1, where Secure cookies would not come back."""
    from worker import build_worker

    live = settings.model_copy(
        update={"env": "dev", "temporal_task_queue": f"portal-{uuid.uuid4().hex[:8]}"}
    )
    app = create_app(live, temporal_client=dev_server.client)
    async with (
        app.router.lifespan_context(app),
        build_worker(dev_server.client, live, sessionmaker),
        # Open pages hold event streams: do not wait for them to end.
        serving(app, timeout_graceful_shutdown=1) as url,
    ):
        yield url


class People:
    """One browser context per person, as separate people on separate machines."""

    def __init__(self, browser: Browser, base_url: str):
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []

    async def page(self, viewport: dict[str, int] | None = None, **options: Any) -> Page:
        context = await self.browser.new_context(
            base_url=self.base_url,
            viewport=viewport or DESKTOP,
            timezone_id="Europe/Berlin",
            **options,
        )
        self.contexts.append(context)
        return await context.new_page()

    async def signed_in(
        self,
        user: User,
        *,
        password: str = PASSWORD,
        viewport: dict[str, int] | None = None,
        **options: Any,
    ) -> Page:
        """A page of a new context where ``user`` signed in through the login form."""
        page = await self.page(viewport, **options)
        await page.goto("/login")
        await page.get_by_label("Email").fill(user.email)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        return page

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest.fixture
async def people(chromium: Browser, portal_url: str) -> AsyncIterator[People]:
    crowd = People(chromium, portal_url)
    try:
        yield crowd
    finally:
        await crowd.close()
