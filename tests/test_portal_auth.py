"""Portal sign-in, sessions and CSRF over httpx (no Temporal): the session cookie, its
expiry and logout, the API login's lockout, one dependency for both kinds of caller, and
CSRF refusals that write nothing while bearer-token clients are untouched."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from desk.auth.models import PortalSession
from desk.auth.sessions import SESSION_COOKIE, hash_session_token
from desk.enums import Role, TicketStatus
from desk.notifications.service import notify_users
from desk.tickets.models import Ticket
from tests.support.portal import csrf_token, portal_client, sign_in
from tests.support.tickets import make_ticket
from tests.support.world import PASSWORD, bearer


@pytest.fixture
async def http(app):
    async with portal_client(app) as client:
        yield client


async def test_login_form_names_and_the_session_cookie(http, world, sessionmaker):
    org = await world.org()
    agent = await world.user(org, Role.AGENT)
    page = await http.get("/login")
    assert page.status_code == 200
    for name in ('<label for="email">Email</label>', '<label for="password">Password</label>'):
        assert name in page.text
    assert ">Sign in</button>" in page.text

    token = csrf_token(page.text)
    response = await http.post(
        "/login", data={"csrftoken": token, "email": agent.email, "password": PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/queue"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite"} <= attributes
    assert "samesite=lax" in cookie.lower()
    # Only a hash of the token is stored.
    value = cookie.split(";")[0].split("=", 1)[1]
    async with sessionmaker() as session:
        stored = await session.scalar(
            select(PortalSession).where(PortalSession.user_id == agent.id)
        )
    assert stored.token_hash == hash_session_token(value) != value
    assert (await http.get("/")).headers["location"] == "/queue"


async def test_the_cookie_is_not_secure_in_dev(app, settings):
    dev = settings.model_copy(update={"env": "dev"})
    from desk.app import create_app

    application = create_app(dev)
    async with application.router.lifespan_context(application), portal_client(application) as h:
        page = await h.get("/login")
        assert "secure" not in page.headers["set-cookie"].lower()


async def test_signed_out_visitors_are_sent_to_sign_in(http):
    response = await http.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2F"
    deep = await http.get("/tickets?status=NEW")
    assert deep.headers["location"] == "/login?next=%2Ftickets%3Fstatus%3DNEW"


@pytest.mark.parametrize(
    ("role", "home"),
    [
        (Role.CUSTOMER, "/tickets"),
        (Role.AGENT, "/queue"),
        (Role.MANAGER, "/inbox"),
        (Role.ADMIN, "/inbox"),
    ],
)
async def test_home_by_role_and_next(http, world, role, home):
    org = await world.org()
    user = await world.user(org, role)
    await sign_in(http, user)
    assert (await http.get("/")).headers["location"] == home
    # Signed in already: /login goes home, or where it was asked to, on this site only.
    assert (await http.get("/login")).headers["location"] == home
    assert (await http.get("/login?next=/notifications")).headers["location"] == "/notifications"
    assert (await http.get("/login?next=//evil.example/x")).headers["location"] == home


async def test_wrong_password_and_the_api_lockout_apply(http, client, world, settings):
    org = await world.org()
    user = await world.user(org, Role.CUSTOMER)
    token = csrf_token((await http.get("/login")).text)
    for _ in range(settings.login_max_failures - 1):
        wrong = await http.post(
            "/login", data={"csrftoken": token, "email": user.email, "password": "nope"}
        )
        assert wrong.status_code == 401
        assert "Incorrect email or password." in wrong.text
    locked = await http.post(
        "/login", data={"csrftoken": token, "email": user.email, "password": "nope"}
    )
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    # The same lock holds for the API login, and for the right password.
    api = await client.post(
        "/api/v1/auth/login", data={"username": user.email, "password": PASSWORD}
    )
    assert api.status_code == 429
    again = await http.post(
        "/login", data={"csrftoken": token, "email": user.email, "password": PASSWORD}
    )
    assert again.status_code == 429


async def test_an_expired_session_signs_nobody_in(http, world, sessionmaker, client):
    org = await world.org()
    agent = await world.user(org, Role.AGENT)
    await sign_in(http, agent)
    assert (await http.get("/queue")).status_code == 200
    cookie = http.cookies[SESSION_COOKIE]
    async with sessionmaker() as session:
        await session.execute(
            update(PortalSession)
            .where(PortalSession.token_hash == hash_session_token(cookie))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    page = await http.get("/queue")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fqueue"
    client.cookies.set(SESSION_COOKIE, cookie)
    api = await client.get("/api/v1/auth/me")
    assert api.status_code == 401
    assert api.json()["code"] == "invalid_session"


async def test_a_used_session_is_extended(http, world, sessionmaker, settings):
    org = await world.org()
    agent = await world.user(org, Role.AGENT)
    await sign_in(http, agent)
    digest = hash_session_token(http.cookies[SESSION_COOKIE])
    soon = datetime.now(UTC) + timedelta(minutes=5)
    async with sessionmaker() as session:
        await session.execute(
            update(PortalSession).where(PortalSession.token_hash == digest).values(expires_at=soon)
        )
        await session.commit()
    assert (await http.get("/queue")).status_code == 200
    async with sessionmaker() as session:
        expires = await session.scalar(
            select(PortalSession.expires_at).where(PortalSession.token_hash == digest)
        )
    assert expires > soon + timedelta(hours=settings.session_hours) - timedelta(hours=1)


async def test_logout_deletes_the_session(http, world, sessionmaker, client):
    org = await world.org()
    agent = await world.user(org, Role.AGENT)
    token = await sign_in(http, agent)
    cookie = http.cookies[SESSION_COOKIE]
    response = await http.post("/logout", data={"csrftoken": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    async with sessionmaker() as session:
        count = await session.scalar(select(func.count()).where(PortalSession.user_id == agent.id))
    assert count == 0
    assert (await http.get("/queue")).status_code == 303
    client.cookies.set(SESSION_COOKIE, cookie)
    api = await client.get("/api/v1/auth/me")
    assert api.status_code == 401


async def test_one_dependency_resolves_cookie_and_bearer_callers(http, world, settings, client):
    org = await world.org()
    agent = await world.user(org, Role.AGENT)
    await sign_in(http, agent)
    by_cookie = await http.get("/api/v1/auth/me")
    assert by_cookie.status_code == 200
    assert by_cookie.json()["id"] == str(agent.id)
    by_bearer = await client.get("/api/v1/auth/me", headers=bearer(settings, agent))
    assert by_bearer.json()["id"] == str(agent.id)
    # The same role rules: an agent's cookie is no admin's.
    assert (await http.get("/api/v1/admin/users")).status_code == 403
    # A deactivated user's session ends with them.
    async with world.sessionmaker() as session:
        await session.execute(
            update(type(agent)).where(type(agent).id == agent.id).values(is_active=False)
        )
        await session.commit()
    assert (await http.get("/api/v1/auth/me")).status_code == 401


# --- CSRF -------------------------------------------------------------------------------


async def test_a_post_without_the_token_is_refused_and_writes_nothing(http, world, sessionmaker):
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    ticket = await make_ticket(sessionmaker, org, customer)
    await sign_in(http, customer)
    for data in ({}, {"csrftoken": "forged"}):
        refused = await http.post(f"/tickets/{ticket.id}/close", data=data)
        assert refused.status_code == 403
        assert "Refused" in refused.text
        assert refused.headers["content-type"].startswith("text/html")
    forged_file = await http.post(
        "/tickets",
        data={"subject": "Forged"},
        files={"files": ("a.txt", b"hello", "text/plain")},
    )
    assert forged_file.status_code == 403
    async with sessionmaker() as session:
        statuses = list(
            await session.scalars(select(Ticket.status).where(Ticket.organization_id == org.id))
        )
    assert statuses == [TicketStatus.NEW]


async def test_a_cross_site_post_without_cookies_finds_no_session(app, world, sessionmaker):
    """What a browser sends from another site: SameSite=Lax holds the cookies back."""
    org = await world.org()
    customer = await world.user(org, Role.CUSTOMER)
    ticket = await make_ticket(sessionmaker, org, customer)
    async with portal_client(app) as stranger:
        response = await stranger.post(
            f"/tickets/{ticket.id}/close", headers={"Origin": "https://evil.example"}
        )
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
        # Signing someone in from another site (login CSRF) is refused outright.
        login = await stranger.post("/login", data={"email": customer.email, "password": PASSWORD})
        assert login.status_code == 403
    async with sessionmaker() as session:
        assert (await session.get(Ticket, ticket.id)).status == TicketStatus.NEW


async def test_api_callers_with_a_cookie_need_the_token_but_bearer_clients_do_not(
    http, world, sessionmaker, settings, client
):
    org = await world.org()
    manager = await world.user(org, Role.MANAGER)
    async with sessionmaker() as session:
        [note] = await notify_users(
            session,
            organization_id=org.id,
            user_ids=[manager.id],
            ticket_id=None,
            kind="TEST",
            title="Hello",
            dedupe_key=f"test:{uuid.uuid4()}",
        )
        await session.commit()
    token = await sign_in(http, manager)
    path = f"/api/v1/notifications/{note.id}/read"
    refused = await http.post(path)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "CSRF token missing or wrong", "code": "csrf_failed"}
    assert (await http.post(path, headers={"x-csrftoken": token})).status_code == 200
    # A bearer client: no token, with or without cookies around.
    headers = bearer(settings, manager)
    assert (await client.post(path, headers=headers)).status_code == 200
    assert (await http.post(path, headers=headers)).status_code == 200
    # The API's token endpoints authenticate by their body, not by the cookie.
    api_login = await http.post(
        "/api/v1/auth/login", data={"username": manager.email, "password": PASSWORD}
    )
    assert api_login.status_code == 200
