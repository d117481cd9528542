"""The portal over httpx: a browser-like client (cookies, HTTPS so Secure cookies are
sent back) and signing in through the login form, CSRF token included."""

from __future__ import annotations

import re

import httpx

from desk.auth.models import User
from tests.support.world import PASSWORD

_TOKEN = re.compile(r'name="csrftoken" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def portal_client(app) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="https://desk.test")


async def sign_in(http: httpx.AsyncClient, user: User, password: str = PASSWORD) -> str:
    """Sign ``user`` in through the login form; returns the CSRF token for later forms."""
    token = csrf_token((await http.get("/login")).text)
    response = await http.post(
        "/login", data={"csrftoken": token, "email": user.email, "password": password}
    )
    assert response.status_code == 303, response.text
    return token
