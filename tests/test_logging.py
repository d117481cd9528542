"""Structured logs: request id in and out, user and ticket ids on every line of a request,
JSON lines when asked, and the worker's lines tagged with their ticket."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from desk.app import create_app
from desk.auth.security import create_access_token
from desk.db.types import utcnow
from desk.logging import ContextFilter, build_handler, log_context
from desk.settings import Settings


class Captured:
    """Lines the root logger wrote while the fixture was active."""

    def __init__(self, stream: io.StringIO):
        self._stream = stream

    def lines(self) -> list[str]:
        return [line for line in self._stream.getvalue().splitlines() if line.strip()]

    def json(self) -> list[dict]:
        return [json.loads(line) for line in self.lines() if line.startswith("{")]

    def access(self) -> list[dict]:
        return [entry for entry in self.json() if entry["logger"] == "desk.access"]


def _capture(settings: Settings, log_format: str) -> Iterator[Captured]:
    stream = io.StringIO()
    handler = build_handler(settings.model_copy(update={"log_format": log_format}), stream)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield Captured(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


@pytest.fixture
def json_logs(settings: Settings) -> Iterator[Captured]:
    yield from _capture(settings, "json")


@pytest.fixture
def text_logs(settings: Settings) -> Iterator[Captured]:
    yield from _capture(settings, "text")


def _bearer(settings: Settings, user) -> dict[str, str]:
    token = create_access_token(
        settings,
        user_id=user.id,
        organization_id=user.organization_id,
        role=str(user.role),
        now=utcnow(),
    )
    return {"Authorization": f"Bearer {token}"}


async def test_a_callers_request_id_is_echoed_and_logged_with_the_user(
    client, world, settings, json_logs
):
    user = await world.user(await world.org())

    response = await client.get(
        "/api/v1/auth/me", headers={**_bearer(settings, user), "X-Request-ID": "req-42.a:b"}
    )

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "req-42.a:b"
    [line] = [e for e in json_logs.access() if e.get("request_id") == "req-42.a:b"]
    assert line["user_id"] == str(user.id)
    assert line["route"] == "/api/v1/auth/me"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["level"] == "INFO"
    assert "ticket_id" not in line


async def test_a_request_without_an_id_gets_a_new_one(client, json_logs):
    response = await client.get("/api/v1/auth/me")

    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    [line] = [e for e in json_logs.access() if e.get("request_id") == request_id]
    assert line["status"] == 401
    assert "user_id" not in line  # not authenticated


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", "new\tline"])
async def test_an_unusable_request_id_is_replaced(client, bad):
    response = await client.get("/healthz", headers={"X-Request-ID": bad})

    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


async def test_a_ticket_route_logs_the_ticket_id(client, world, settings, json_logs):
    user = await world.user(await world.org())
    ticket_id = uuid.uuid4()

    response = await client.get(f"/api/v1/tickets/{ticket_id}", headers=_bearer(settings, user))

    assert response.status_code == 404
    request_id = response.headers["X-Request-ID"]
    [line] = [e for e in json_logs.access() if e.get("request_id") == request_id]
    assert line["ticket_id"] == str(ticket_id)
    assert line["user_id"] == str(user.id)
    assert line["route"] == "/api/v1/tickets/{ticket_id}"
    assert line["path"] == f"/api/v1/tickets/{ticket_id}"


async def test_concurrent_requests_keep_their_own_context(client, world, settings, json_logs):
    org = await world.org()
    users = [await world.user(org) for _ in range(5)]

    responses = await asyncio.gather(
        *(
            client.get(
                "/api/v1/auth/me", headers={**_bearer(settings, u), "X-Request-ID": f"conc-{i}"}
            )
            for i, u in enumerate(users)
        )
    )

    assert [r.status_code for r in responses] == [200] * 5
    by_request = {e["request_id"]: e for e in json_logs.access() if "request_id" in e}
    for i, user in enumerate(users):
        assert by_request[f"conc-{i}"]["user_id"] == str(user.id)


async def test_an_unhandled_error_answers_500_with_the_request_id_and_logs_it(settings, json_logs):
    app = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("kaboom")

    app.add_api_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http,
    ):
        response = await http.get("/boom", headers={"X-Request-ID": "boom-1"})

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "kaboom" not in response.text
    assert response.headers["X-Request-ID"] == "boom-1"
    lines = [e for e in json_logs.json() if e.get("request_id") == "boom-1"]
    [error] = [e for e in lines if e["level"] == "ERROR"]
    assert "RuntimeError: kaboom" in error["exc"]
    [access] = [e for e in lines if e["logger"] == "desk.access"]
    assert access["status"] == 500


async def test_text_format_appends_the_context(client, world, settings, text_logs):
    user = await world.user(await world.org())

    await client.get("/api/v1/auth/me", headers={**_bearer(settings, user), "X-Request-ID": "t-1"})

    [line] = [x for x in text_logs.lines() if "desk.access" in x and "request_id=t-1" in x]
    assert line.endswith(f"[request_id=t-1 user_id={user.id}]")
    assert " GET /api/v1/auth/me 200 " in line


def test_every_json_line_is_one_object(settings):
    stream = io.StringIO()
    logger = logging.getLogger("desk.test.json")
    handler = build_handler(settings.model_copy(update={"log_format": "json"}), stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with log_context(request_id="r-1"):
            logger.warning('quote " and\nnewline')
            try:
                raise ValueError("bad")
            except ValueError:
                logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == 'quote " and\nnewline'
    assert first["request_id"] == "r-1"
    assert first["level"] == "WARNING"
    assert "ValueError: bad" in second["exc"]


@pytest.mark.parametrize("extra", ["temporal_activity", "temporal_workflow"])
def test_worker_lines_carry_the_ticket_of_their_workflow(extra):
    ticket_id = uuid.uuid4()
    record = logging.LogRecord("activities", logging.INFO, __file__, 1, "projected", (), None)
    setattr(record, extra, {"workflow_id": f"ticket-{ticket_id}", "attempt": 1})

    ContextFilter().filter(record)

    assert record.ticket_id == str(ticket_id)
    assert record.workflow_id == f"ticket-{ticket_id}"


def test_other_workflows_carry_no_ticket_id():
    record = logging.LogRecord("wf", logging.INFO, __file__, 1, "x", (), None)
    record.temporal_workflow = {"workflow_id": "cleanup-nightly"}

    ContextFilter().filter(record)

    assert record.workflow_id == "cleanup-nightly"
    assert getattr(record, "ticket_id", None) is None
