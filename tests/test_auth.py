"""Login, lockout, access tokens, refresh rotation with reuse detection, logout, /me."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from jose import jwt
from sqlalchemy import select, update

from desk.auth.models import RefreshToken, User
from desk.auth.security import create_access_token, hash_refresh_token, needs_rehash
from desk.enums import Role
from tests.support.world import PASSWORD

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


async def _login(client, email: str, password: str = PASSWORD):
    return await client.post(LOGIN, data={"username": email, "password": password})


async def _tokens(client, user: User) -> dict:
    response = await _login(client, user.email)
    assert response.status_code == 200, response.text
    return response.json()


async def _me(client, token: str):
    return await client.get(ME, headers={"Authorization": f"Bearer {token}"})


async def _db_user(sessionmaker, user_id: uuid.UUID) -> User:
    async with sessionmaker() as session:
        return await session.get(User, user_id)


async def _set(sessionmaker, model, row_id, **values) -> None:
    async with sessionmaker() as session:
        await session.execute(update(model).where(model.id == row_id).values(**values))
        await session.commit()


def _assert_no_stack_trace(response) -> None:
    assert "Traceback" not in response.text
    assert set(response.json()) >= {"detail", "code"}


# --- Login ----------------------------------------------------------------------------


async def test_login_returns_a_working_token_pair(client, world):
    org = await world.org()
    user = await world.user(org, Role.AGENT)

    response = await _login(client, user.email)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    assert body["access_token"] and body["refresh_token"]
    assert (await _me(client, body["access_token"])).status_code == 200


async def test_login_ignores_email_case_and_surrounding_spaces(client, world):
    org = await world.org()
    user = await world.user(org)

    response = await _login(client, f"  {user.email.upper()} ")

    assert response.status_code == 200, response.text


async def test_wrong_password_and_unknown_email_give_the_same_401(client, world):
    org = await world.org()
    user = await world.user(org)

    wrong = await _login(client, user.email, "not the password")
    unknown = await _login(client, "nobody-" + uuid.uuid4().hex + "@example.com")

    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {
            "detail": "incorrect email or password",
            "code": "invalid_credentials",
        }
    )
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"] == "Bearer"


async def test_inactive_user_cannot_log_in(client, world):
    org = await world.org()
    user = await world.user(org, is_active=False)

    response = await _login(client, user.email)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_login_form_fields_are_required(client):
    response = await client.post(LOGIN, data={"username": "a@example.com"})

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert ["body", "password"] in [e["loc"] for e in body["errors"]]


async def test_login_refuses_a_json_body(client, world):
    # The contract is the OAuth2 password *form*; JSON is a validation error, not a 500.
    response = await client.post(LOGIN, json={"username": "a@example.com", "password": "x"})

    assert response.status_code == 422
    _assert_no_stack_trace(response)


# --- Lockout --------------------------------------------------------------------------


async def test_five_failures_lock_the_account_with_retry_after(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)

    for _ in range(4):
        assert (await _login(client, user.email, "wrong password")).status_code == 401
    fifth = await _login(client, user.email, "wrong password")
    with_right_password = await _login(client, user.email)

    for response in (fifth, with_right_password):
        assert response.status_code == 429
        assert response.json()["code"] == "account_locked"
        assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    stored = await _db_user(sessionmaker, user.id)
    assert stored.failed_login_count == 5
    assert stored.locked_until > datetime.now(UTC) + timedelta(minutes=14)


async def test_lock_expires_and_a_success_resets_the_count(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await _set(sessionmaker, User, user.id, failed_login_count=5, locked_until=past)

    response = await _login(client, user.email)

    assert response.status_code == 200, response.text
    stored = await _db_user(sessionmaker, user.id)
    assert stored.failed_login_count == 0
    assert stored.locked_until is None
    assert stored.last_login_at is not None


async def test_failures_after_an_expired_lock_count_from_zero(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await _set(sessionmaker, User, user.id, failed_login_count=5, locked_until=past)

    response = await _login(client, user.email, "wrong password")

    assert response.status_code == 401
    stored = await _db_user(sessionmaker, user.id)
    assert (stored.failed_login_count, stored.locked_until) == (1, None)


async def test_a_successful_login_resets_the_failure_count(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)
    for _ in range(3):
        await _login(client, user.email, "wrong password")

    assert (await _login(client, user.email)).status_code == 200
    for _ in range(4):
        assert (await _login(client, user.email, "wrong password")).status_code == 401

    assert (await _db_user(sessionmaker, user.id)).failed_login_count == 4


async def test_concurrent_failures_all_count(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)

    responses = await asyncio.gather(*(_login(client, user.email, f"wrong {i}") for i in range(5)))

    assert {r.status_code for r in responses} <= {401, 429}
    stored = await _db_user(sessionmaker, user.id)
    assert stored.failed_login_count == 5
    assert stored.locked_until is not None
    assert (await _login(client, user.email)).status_code == 429


async def test_unknown_emails_never_report_a_lock(client):
    email = f"ghost-{uuid.uuid4().hex}@example.com"
    codes = [(await _login(client, email, "guess")).status_code for _ in range(6)]

    assert codes == [401] * 6


async def test_login_rehashes_a_password_with_outdated_parameters(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    await _set(sessionmaker, User, user.id, password_hash=weak)
    assert needs_rehash(weak)

    assert (await _login(client, user.email)).status_code == 200

    stored = await _db_user(sessionmaker, user.id)
    assert stored.password_hash != weak
    assert not needs_rehash(stored.password_hash)
    assert (await _login(client, user.email)).status_code == 200


# --- Access tokens --------------------------------------------------------------------


def _claims(settings, user: User, **overrides) -> dict:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user.id),
        "org": str(user.organization_id),
        "role": user.role,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "typ": "access",
    }
    claims.update(overrides)
    return claims


def _sign(settings, claims: dict, secret: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret or settings.jwt_secret.get_secret_value(), algorithm=algorithm)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_a_crafted_valid_token_is_accepted(client, world, settings):
    # Guards the rejection tests below: they differ from this one in one claim only.
    org = await world.org()
    user = await world.user(org)

    response = await _me(client, _sign(settings, _claims(settings, user)))

    assert response.status_code == 200


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "wrong_audience",
        "wrong_issuer",
        "wrong_secret",
        "alg_none",
        "other_hmac_alg",
        "tampered_payload",
        "tampered_signature",
        "refresh_type",
        "other_org",
        "garbage",
    ],
)
async def test_bad_access_tokens_are_401(client, world, settings, case):
    org = await world.org()
    user = await world.user(org, Role.ADMIN)
    past = datetime.now(UTC) - timedelta(minutes=20)
    good = _sign(settings, _claims(settings, user))
    header, payload, signature = good.split(".")
    token = {
        "expired": lambda: _sign(
            settings,
            _claims(
                settings,
                user,
                iat=int(past.timestamp()),
                nbf=int(past.timestamp()),
                exp=int((past + timedelta(minutes=15)).timestamp()),
            ),
        ),
        "wrong_audience": lambda: _sign(settings, _claims(settings, user, aud="someone-else")),
        "wrong_issuer": lambda: _sign(settings, _claims(settings, user, iss="evil")),
        "wrong_secret": lambda: _sign(settings, _claims(settings, user), secret="guessed"),
        "alg_none": lambda: (
            _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(_claims(settings, user)) + "."
        ),
        "other_hmac_alg": lambda: _sign(settings, _claims(settings, user), algorithm="HS512"),
        # Same signature, payload claiming another role: the signature no longer matches.
        "tampered_payload": lambda: (
            f"{header}.{_b64(_claims(settings, user, role='SUPERUSER'))}.{signature}"
        ),
        "tampered_signature": lambda: (
            f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
        ),
        "refresh_type": lambda: _sign(settings, _claims(settings, user, typ="refresh")),
        "other_org": lambda: _sign(settings, _claims(settings, user, org=str(uuid.uuid4()))),
        "garbage": lambda: "not-a-jwt",
    }[case]()

    response = await _me(client, token)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    _assert_no_stack_trace(response)


async def test_missing_token_is_401(client):
    response = await client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_a_deactivated_users_access_token_stops_working(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)
    tokens = await _tokens(client, user)

    await _set(sessionmaker, User, user.id, is_active=False)

    assert (await _me(client, tokens["access_token"])).status_code == 401


async def test_issued_access_token_carries_checked_claims(world, settings):
    org = await world.org()
    user = await world.user(org, Role.MANAGER)
    token = create_access_token(
        settings,
        user_id=user.id,
        organization_id=org.id,
        role=user.role,
        now=datetime.now(UTC),
    )

    header = jwt.get_unverified_header(token)
    claims = jwt.get_unverified_claims(token)

    assert header["alg"] == "HS256"
    assert claims["iss"] == settings.jwt_issuer
    assert claims["aud"] == settings.jwt_audience
    assert claims["exp"] - claims["iat"] == 15 * 60


# --- Refresh --------------------------------------------------------------------------


async def _refresh(client, token: str):
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_refresh_rotates_the_token(client, world):
    org = await world.org()
    user = await world.user(org)
    first = await _tokens(client, user)

    rotated = await _refresh(client, first["refresh_token"])

    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["token_type"] == "bearer"
    assert body["refresh_token"] != first["refresh_token"]
    assert (await _me(client, body["access_token"])).status_code == 200
    assert (await _refresh(client, body["refresh_token"])).status_code == 200


async def test_reusing_a_rotated_token_revokes_the_whole_family(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)
    first = await _tokens(client, user)
    other_session = await _tokens(client, user)
    second = (await _refresh(client, first["refresh_token"])).json()

    replay = await _refresh(client, first["refresh_token"])

    assert replay.status_code == 401
    assert replay.json()["code"] == "refresh_token_reused"
    # The thief's rotation and the owner's both die with the family...
    after = await _refresh(client, second["refresh_token"])
    assert after.status_code == 401
    assert after.json()["code"] == "invalid_refresh_token"
    # ...while another login of the same user is untouched.
    assert (await _refresh(client, other_session["refresh_token"])).status_code == 200
    async with sessionmaker() as session:
        family = (
            await session.execute(
                select(RefreshToken).where(
                    RefreshToken.token_hash == hash_refresh_token(first["refresh_token"])
                )
            )
        ).scalar_one()
        rows = (
            await session.execute(
                select(RefreshToken).where(RefreshToken.family_id == family.family_id)
            )
        ).scalars()
        assert all(row.revoked_at is not None for row in rows)


async def test_concurrent_refreshes_of_one_token_rotate_once(client, world):
    org = await world.org()
    user = await world.user(org)
    token = (await _tokens(client, user))["refresh_token"]

    results = await asyncio.gather(*(_refresh(client, token) for _ in range(3)))

    assert sorted(r.status_code for r in results).count(200) <= 1
    assert {r.status_code for r in results} <= {200, 401}


async def test_only_a_hash_of_the_refresh_token_is_stored(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)
    token = (await _tokens(client, user))["refresh_token"]

    async with sessionmaker() as session:
        rows = (
            await session.execute(select(RefreshToken).where(RefreshToken.user_id == user.id))
        ).scalars()
        hashes = [row.token_hash for row in rows]

    assert hashes == [hash_refresh_token(token)]
    assert token not in hashes


async def test_unknown_refresh_token_is_401(client):
    response = await _refresh(client, "made-up-token")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


async def test_expired_refresh_token_is_401(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)
    token = (await _tokens(client, user))["refresh_token"]
    async with sessionmaker() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == hash_refresh_token(token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()

    response = await _refresh(client, token)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_refresh_token"


async def test_inactive_user_cannot_refresh(client, world, sessionmaker):
    org = await world.org()
    user = await world.user(org)
    token = (await _tokens(client, user))["refresh_token"]
    await _set(sessionmaker, User, user.id, is_active=False)

    response = await _refresh(client, token)

    assert response.status_code == 401
    await _set(sessionmaker, User, user.id, is_active=True)
    # Refused refreshes of an inactive user end that session for good.
    assert (await _refresh(client, token)).status_code == 401


async def test_refresh_body_is_validated(client):
    response = await client.post(REFRESH, json={})

    assert response.status_code == 422
    assert ["body", "refresh_token"] in [e["loc"] for e in response.json()["errors"]]


# --- Logout and /me -------------------------------------------------------------------


async def test_logout_revokes_the_session_and_is_idempotent(client, world):
    org = await world.org()
    user = await world.user(org)
    first = await _tokens(client, user)
    rotated = (await _refresh(client, first["refresh_token"])).json()

    response = await client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})

    assert response.status_code == 204
    assert response.content == b""
    assert (await _refresh(client, rotated["refresh_token"])).status_code == 401
    again = await client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 204
    unknown = await client.post(LOGOUT, json={"refresh_token": "never-issued"})
    assert unknown.status_code == 204


async def test_me_returns_user_role_and_organization(client, world):
    org = await world.org("Me Corp")
    user = await world.user(org, Role.MANAGER)
    tokens = await _tokens(client, user)

    response = await _me(client, tokens["access_token"])

    assert response.status_code == 200
    assert response.json() == {
        "id": str(user.id),
        "email": user.email,
        "full_name": "Test Manager",
        "role": "MANAGER",
        "is_active": True,
        "organization": {"id": str(org.id), "name": "Me Corp"},
    }


def test_hashes_carry_the_configured_cost(settings):
    """DESK_PASSWORD_HASH_*: new hashes use them; a hash of another cost asks to be redone."""
    from desk.auth.security import configure_password_hashing, hash_password

    try:
        configure_password_hashing(
            settings.model_copy(
                update={"password_hash_time_cost": 2, "password_hash_memory_kib": 2048}
            )
        )
        stronger = hash_password(PASSWORD)
        assert "m=2048,t=2" in stronger and not needs_rehash(stronger)
    finally:
        configure_password_hashing(settings)
    assert needs_rehash(stronger)
