"""Rendering pages: the templates, what every page knows (the signed-in user, their
navigation and unread count, the CSRF token, a one-time message), the headers pages carry,
and the redirects that carry a message."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from desk.auth.models import User
from desk.enums import Role
from desk.live.feed import latest_event_id
from desk.notifications.service import count_unread
from desk.portal.sla_display import format_instant, format_span
from desk.tickets.access import is_staff, is_triage

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
TEMPLATES.env.filters["instant"] = format_instant
TEMPLATES.env.filters["minutes"] = lambda minutes: format_span(minutes * 60)

# Our own scripts and styles only (no inline ones), never framed, forms post to us.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
FLASH_COOKIE = "desk_flash"


@dataclass(frozen=True)
class NavLink:
    href: str
    label: str
    key: str  # the page's name, to mark the current one


def navigation(user: User | None) -> list[NavLink]:
    """The links a role's header shows, its home page first."""
    if user is None:
        return []
    if not is_staff(user):
        return [
            NavLink("/tickets", "My tickets", "tickets"),
            NavLink("/tickets/new", "New ticket", "new"),
        ]
    links = [NavLink("/queue", "My queue", "queue"), NavLink("/tickets", "Open tickets", "tickets")]
    if is_triage(user):
        links = [
            NavLink("/inbox", "Inbox", "inbox"),
            *links,
            NavLink("/at-risk", "At risk", "at-risk"),
            NavLink("/breached", "Breached", "breached"),
            NavLink("/reports", "Reports", "reports"),
        ]
    if user.role == Role.ADMIN:
        links.append(NavLink("/admin", "Admin", "admin"))
    return [*links, NavLink("/tickets/new", "New ticket", "new")]


def home_of(user: User) -> str:
    return navigation(user)[0].href


async def page(
    request: Request,
    template: str,
    *,
    user: User | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A full page (or, for the script's live refresh, the same page: it swaps parts)."""
    unread, live_after = 0, 0
    if user is not None:
        async with request.app.state.sessionmaker() as session:
            unread = await count_unread(session, user)
            live_after = await latest_event_id(session)
    flash = request.cookies.get(FLASH_COOKIE)
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "nav": navigation(user),
            "unread": unread,
            "live_after": live_after,
            "csrf_token": request.scope["csrftoken"]() if "csrftoken" in request.scope else "",
            "flash": urllib.parse.unquote(flash)[:300] if flash else None,
            **context,
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str, *, message: str | None = None) -> RedirectResponse:
    """303 to ``url`` (POST-redirect-GET), with a message shown once on the next page."""
    response = RedirectResponse(url, status_code=303)
    if message:
        response.set_cookie(
            FLASH_COOKIE,
            urllib.parse.quote(message[:300]),
            max_age=60,
            path="/",
            httponly=True,
            samesite="lax",
        )
    return response


def local_path(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site (never another host), else ``default``."""
    if not target:
        return default
    parsed = urllib.parse.urlsplit(target)
    if parsed.scheme or parsed.netloc or not parsed.path.startswith("/"):
        return default
    if parsed.path.startswith("//") or "\\" in target:
        return default
    return urllib.parse.urlunsplit(("", "", parsed.path, parsed.query, ""))
