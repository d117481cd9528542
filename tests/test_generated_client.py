"""A client generated from the live OpenAPI document (openapi-python-client, a test
dependency only) runs the old system's walkthrough and reads a 409 through its own types:
the contract is enough to write a working client, without reading our code."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from desk.app import create_app
from desk.enums import Role
from tests.support.world import PASSWORD

PACKAGE = "desk_api_client"
BASE_URL = "http://desk.test"


@pytest.fixture(scope="module")
def generated(settings, tmp_path_factory) -> Iterator[ModuleType]:
    """The client package generated from the app's document, importable."""
    work = tmp_path_factory.mktemp("client")
    document = work / "openapi.json"
    document.write_text(json.dumps(create_app(settings).openapi()))
    config = work / "config.yaml"
    # Literal enums: IANA zones like GMT+0 and GMT-0 are one Python name otherwise.
    config.write_text("post_hooks: []\nliteral_enums: true\n")
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert generator, "openapi-python-client is a test dependency: `make test` installs it"
    result = subprocess.run(
        [
            generator,
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(work / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _api(name: str) -> ModuleType:
    """An operation module of the generated client, by its operation id's parts."""
    tag, _, operation = name.partition(":")
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")


def _models() -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.models")


async def test_the_generated_client_runs_the_old_walkthrough(generated, desk_app, world):
    client_module = importlib.import_module(f"{PACKAGE}.client")
    models = _models()
    transport = httpx.ASGITransport(app=desk_app, raise_app_exceptions=False)
    org = await world.org(f"Generated {uuid.uuid4().hex[:6]}")
    people = {role: await world.user(org, role) for role in Role}

    async def signed_in(role: Role):
        anonymous = client_module.Client(base_url=BASE_URL, raise_on_unexpected_status=True)
        anonymous.set_async_httpx_client(httpx.AsyncClient(transport=transport, base_url=BASE_URL))
        tokens = await _api("auth:auth_login").asyncio(
            client=anonymous,
            body=models.LoginForm(username=people[role].email, password=PASSWORD),
        )
        assert isinstance(tokens, models.TokenPair), tokens
        client = client_module.AuthenticatedClient(
            base_url=BASE_URL, token=tokens.access_token, raise_on_unexpected_status=True
        )
        client.set_async_httpx_client(
            httpx.AsyncClient(
                transport=transport,
                base_url=BASE_URL,
                headers={"Authorization": f"Bearer {tokens.access_token}"},
            )
        )
        return client

    customer = await signed_in(Role.CUSTOMER)
    manager = await signed_in(Role.MANAGER)
    agent = await signed_in(Role.AGENT)

    async def moved(who, status: str, ticket_id: uuid.UUID):
        ticket = await _api("tickets:tickets_set_status").asyncio(
            ticket_id, client=who, body=models.StatusBody(status=status)
        )
        assert isinstance(ticket, models.TicketOut), ticket
        assert ticket.status == status
        return ticket

    # 1. The customer files a ticket: NEW, no SLA yet.
    filed = await _api("tickets:tickets_create").asyncio(
        client=customer,
        body=models.TicketCreate(subject="Login issue", description="Cannot log in"),
    )
    assert isinstance(filed, models.TicketOut), filed
    assert filed.status == "NEW" and filed.sla_started_at is None
    # 2. The manager finds it in the inbox, accepts it (the SLA starts) and assigns it.
    inbox = await _api("tickets:tickets_inbox").asyncio(client=manager)
    assert filed.id in [t.id for t in inbox]
    accepted = await _api("tickets:tickets_accept").asyncio(filed.id, client=manager)
    assert accepted.status == "ACCEPTED" and accepted.sla_started_at is not None
    assigned = await _api("tickets:tickets_assign").asyncio(
        filed.id, client=manager, body=models.AssignBody(assigned_to=people[Role.AGENT].id)
    )
    assert assigned.assigned_to == people[Role.AGENT].id
    # 3. The agent works it, asks the customer, whose reply resumes it; then resolves.
    await moved(agent, "IN_PROGRESS", filed.id)
    reply = await _api("comments:comments_create").asyncio(
        filed.id, client=agent, body=models.CommentCreate(content="Can you send a log?")
    )
    assert isinstance(reply, models.CommentOut), reply
    await moved(agent, "WAITING_CUSTOMER", filed.id)
    await _api("comments:comments_create").asyncio(
        filed.id, client=customer, body=models.CommentCreate(content="Here it is")
    )
    resumed = await _api("tickets:tickets_get").asyncio(filed.id, client=customer)
    assert resumed.status == "IN_PROGRESS"
    await moved(agent, "RESOLVED", filed.id)

    # A move the lifecycle refuses: a 409 the client reads through its own Error type.
    refused = await _api("tickets:tickets_accept").asyncio_detailed(filed.id, client=manager)
    assert refused.status_code == 409
    error = refused.parsed
    assert isinstance(error, models.Error), error
    assert error.code == "invalid_transition"
    assert error.current_status == "RESOLVED"
    assert set(error.allowed) == {"IN_PROGRESS", "CLOSED"}

    closed = await _api("tickets:tickets_close").asyncio(filed.id, client=agent)
    assert closed.status == "CLOSED"
    comments = await _api("comments:comments_list").asyncio(filed.id, client=customer)
    assert [c.content for c in comments] == ["Can you send a log?", "Here it is"]
