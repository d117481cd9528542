"""The `desk` command line against the test database (both engines) and a real Temporal
dev server: what it prints, what it writes, and one-line errors for what a user gets wrong."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import func, select
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from desk import devrun
from desk.admin.models import Service
from desk.auth.models import Organization, User
from desk.auth.security import verify_password
from desk.binaries import temporal_cli
from desk.cli import app
from desk.demo import DEMO_LOGINS, DEMO_ORGANIZATION
from desk.enums import Role
from desk.settings import Settings
from desk.sla.models import SlaPolicy
from desk.temporal import SEARCH_ATTRIBUTES, missing_search_attributes
from tests.support.ports import free_port
from tests.support.temporal import start_dev_server

UUID_LINE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$")


async def desk(*args: str, database_url: str | None = None, **env: str) -> Result:
    """Run `desk ARGS` in-process (in a thread: the commands run their own event loop)."""
    environment = dict(env)
    if database_url is not None:
        environment["DESK_DATABASE_URL"] = database_url
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, app, list(args), env=environment)


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    assert fragment in result.stderr, result.stderr


# --- desk db upgrade ---------------------------------------------------------------------


async def test_db_upgrade_builds_a_blank_sqlite_file(tmp_path):
    path = tmp_path / "fresh" / "desk.db"
    result = await desk("db", "upgrade", database_url=f"sqlite+aiosqlite:///{path}")
    assert result.exit_code == 0, result.output
    assert "latest schema" in result.stdout
    with sqlite3.connect(path) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "organizations", "users", "tickets", "sla_policies"} <= tables


async def test_db_upgrade_on_an_up_to_date_database_changes_nothing(settings):
    result = await desk("db", "upgrade", database_url=settings.database_url)
    assert result.exit_code == 0, result.output


async def test_commands_on_a_database_without_schema_say_to_upgrade(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert_one_line_error(await desk("org", "create", "Acme", database_url=url), "desk db upgrade")


async def test_unreachable_database_is_one_line():
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    result = await desk("org", "create", "Acme", database_url=url)
    assert_one_line_error(result, "database unreachable at postgresql+psycopg://postgres@")


async def test_invalid_settings_are_one_line(settings):
    result = await desk(
        "org", "create", "Acme", database_url=settings.database_url, DESK_ENV="prod"
    )
    assert_one_line_error(result, "DESK_JWT_SECRET")


# --- desk org create / desk user create --------------------------------------------------


async def test_org_create_prints_only_the_id_and_adds_default_sla_policies(settings, session):
    result = await desk("org", "create", "  Initech  ", database_url=settings.database_url)
    assert result.exit_code == 0, result.output
    assert UUID_LINE.match(result.stdout), result.stdout
    org = await session.get(Organization, uuid.UUID(result.stdout.strip()))
    assert org is not None and org.name == "Initech"
    policies = await session.scalar(
        select(func.count()).select_from(SlaPolicy).where(SlaPolicy.organization_id == org.id)
    )
    assert policies == 4


async def test_org_create_refuses_a_blank_name(settings):
    result = await desk("org", "create", "   ", database_url=settings.database_url)
    assert_one_line_error(result, "organization name")


@pytest.fixture
async def org_id(settings) -> str:
    result = await desk("org", "create", "Globex", database_url=settings.database_url)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


async def test_user_create(settings, session, org_id):
    email = f"Agent-{uuid.uuid4().hex[:8]}@Example.com"
    result = await desk(
        "user", "create", "--org", org_id, "--email", email, "--role", "agent",
        "--password", "s3cret-enough", "--full-name", "Ann Agent",
        database_url=settings.database_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert UUID_LINE.match(result.stdout), result.stdout
    user = await session.get(User, uuid.UUID(result.stdout.strip()))
    assert user is not None
    assert (user.email, user.role, user.full_name) == (email.lower(), Role.AGENT, "Ann Agent")
    assert str(user.organization_id) == org_id
    assert user.password_hash.startswith("$argon2")
    assert verify_password(user.password_hash, "s3cret-enough")


async def test_user_create_duplicate_email_is_one_line(settings, org_id):
    email = f"dup-{uuid.uuid4().hex[:8]}@example.com"
    args = ["user", "create", "--org", org_id, "--role", "CUSTOMER", "--password", "long-enough"]
    first = await desk(*args, "--email", email, database_url=settings.database_url)
    assert first.exit_code == 0, first.output
    again = await desk(*args, "--email", email.upper(), database_url=settings.database_url)
    assert_one_line_error(again, f"a user with email {email} already exists")


@pytest.mark.parametrize(
    ("org", "role", "email", "password", "message"),
    [
        (None, "boss", "x@example.com", "long-enough", "unknown role 'boss'"),
        ("not-a-uuid", "AGENT", "x@example.com", "long-enough", "is not a valid id"),
        (str(uuid.UUID(int=0)), "AGENT", "x@example.com", "long-enough", "no organization"),
        (None, "AGENT", "not-an-email", "long-enough", "invalid email address"),
        (None, "AGENT", "x@example.com", "short", "password must be"),
    ],
)
async def test_user_create_rejects_bad_input_in_one_line(
    settings, org_id, org, role, email, password, message
):
    result = await desk(
        "user", "create", "--org", org or org_id, "--email", email, "--role", role,
        "--password", password, database_url=settings.database_url,
    )  # fmt: skip
    assert_one_line_error(result, message)


# --- desk seed-demo ----------------------------------------------------------------------


async def test_seed_demo_is_idempotent(settings, session):
    first = await desk("seed-demo", database_url=settings.database_url)
    assert first.exit_code == 0, first.output
    assert "demo organization created" in first.stdout
    second = await desk("seed-demo", database_url=settings.database_url)
    assert second.exit_code == 0, second.output
    assert "already seeded" in second.stdout and "nothing to do" in second.stdout
    for result in (first, second):  # the logins are printed either way
        for login in DEMO_LOGINS:
            assert re.search(
                rf"{login.role.value}\s+{login.email}\s+{login.password}\n", result.stdout
            )

    orgs = (
        await session.scalars(select(Organization).where(Organization.name == DEMO_ORGANIZATION))
    ).all()
    assert len(orgs) == 1
    users = (await session.scalars(select(User).where(User.organization_id == orgs[0].id))).all()
    assert sorted(u.role for u in users) == sorted(login.role for login in DEMO_LOGINS)
    by_email = {u.email: u for u in users}
    for login in DEMO_LOGINS:  # the printed passwords are the real ones
        assert verify_password(by_email[login.email].password_hash, login.password)
    services = await session.scalar(
        select(func.count()).select_from(Service).where(Service.organization_id == orgs[0].id)
    )
    policies = await session.scalar(
        select(func.count()).select_from(SlaPolicy).where(SlaPolicy.organization_id == orgs[0].id)
    )
    assert (services, policies) == (1, 4)


# --- desk temporal setup -----------------------------------------------------------------


@pytest.fixture(scope="module")
async def bare_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server started without our search attributes, as a fresh production one is."""
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.mark.temporal
async def test_temporal_setup_creates_missing_search_attributes_once(bare_temporal):
    client = bare_temporal.client
    address = client.service_client.config.target_host
    names = [key.name for key in SEARCH_ATTRIBUTES]
    assert await missing_search_attributes(client, "default") == names

    assert await retention(client) == timedelta(days=1)  # the dev server's own default

    first = await desk("temporal", "setup", DESK_TEMPORAL_ADDRESS=address)
    assert first.exit_code == 0, first.output
    assert first.stdout == (
        f"created search attributes in namespace default: {', '.join(names)}\n"
        "retention of closed workflows in namespace default: set to 7 days\n"
    )
    assert await missing_search_attributes(client, "default") == []
    assert await retention(client) == timedelta(days=7)

    second = await desk("temporal", "setup", DESK_TEMPORAL_ADDRESS=address)
    assert second.exit_code == 0, second.output
    assert second.stdout == (
        f"already present in namespace default: {', '.join(names)}\n"
        "retention of closed workflows in namespace default: already 7 days\n"
    )

    shorter = await desk(
        "temporal", "setup", DESK_TEMPORAL_ADDRESS=address, DESK_TEMPORAL_RETENTION_DAYS="3"
    )
    assert shorter.exit_code == 0, shorter.output
    assert shorter.stdout.endswith("namespace default: set to 3 days\n")
    assert await retention(client) == timedelta(days=3)


async def retention(client) -> timedelta:
    """The namespace's retention of closed workflows, as the server describes it."""
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace="default")
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def test_temporal_setup_refuses_a_retention_of_zero_days():
    result = await desk("temporal", "setup", DESK_TEMPORAL_RETENTION_DAYS="0")
    assert_one_line_error(result, "temporal_retention_days")


@pytest.mark.temporal
async def test_temporal_setup_names_a_missing_namespace(bare_temporal):
    address = bare_temporal.client.service_client.config.target_host
    result = await desk(
        "temporal", "setup", DESK_TEMPORAL_ADDRESS=address, DESK_TEMPORAL_NAMESPACE="no-such-ns"
    )
    assert_one_line_error(result, "namespace 'no-such-ns' not found")


async def test_temporal_setup_unreachable_is_one_line():
    result = await desk("temporal", "setup", DESK_TEMPORAL_ADDRESS="127.0.0.1:1")
    assert_one_line_error(result, "Temporal unreachable at 127.0.0.1:1")


# --- desk dev: the port check ------------------------------------------------------------


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port something is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(("setting", "env_var", "what"), devrun.PORTS)
def test_dev_refuses_a_port_in_use_naming_its_setting(held_port, setting, env_var, what):
    ports = {name: free_port() for name, _, _ in devrun.PORTS}
    ports[setting] = held_port
    settings = Settings(**ports, _env_file=None)
    with pytest.raises(devrun.DevError) as caught:
        devrun.check_ports(settings)
    message = str(caught.value)
    assert f"port {held_port} ({what}) is already in use" in message
    assert env_var in message and "\n" not in message


def test_free_ports_pass_the_check():
    ports = {name: free_port() for name, _, _ in devrun.PORTS}
    devrun.check_ports(Settings(**ports, _env_file=None))


def test_dev_temporal_command_persists_state_and_registers_search_attributes(tmp_path):
    settings = Settings(
        data_dir=tmp_path, temporal_port=17001, temporal_ui_port=17002, _env_file=None
    )
    argv = devrun.temporal_command(settings)
    assert argv[:3] == [temporal_cli(), "server", "start-dev"]
    joined = " ".join(argv)
    assert f"--db-filename {tmp_path / 'temporal.db'}" in joined
    assert "--port 17001" in joined and "--ui-port 17002" in joined
    assert "--headless" not in argv
    assert "--sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=full" in joined
    for key in SEARCH_ATTRIBUTES:
        assert f"--search-attribute {key.name}=" in joined


STUBBORN = (
    "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(60)"
)


@pytest.mark.subprocess
def test_stop_child_kills_what_ignores_sigint_after_the_grace():
    console = devrun.Console(stream=io.StringIO())
    child = devrun.spawn("stubborn", [sys.executable, "-c", STUBBORN], dict(os.environ), console)
    while "up" not in console.stream.getvalue():
        time.sleep(0.05)
    code = devrun.stop_child(child, console, grace=0.5, force=threading.Event())
    assert code == -signal.SIGKILL
    assert "stubborn | up" in console.stream.getvalue()
    assert "stubborn did not stop in time: killing it" in console.stream.getvalue()


@pytest.mark.subprocess
def test_a_child_that_dies_is_noticed():
    run = devrun.DevRun(Settings(_env_file=None), devrun.Console(stream=io.StringIO()))
    run._start("api", [sys.executable, "-c", "raise SystemExit(3)"], {})
    run.children[0].process.wait()
    with pytest.raises(devrun.DevError, match="api exited with code 3"):
        run.alive()
    assert run.stop() == [3]


def _supervise_until(run: devrun.DevRun, done, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, run.console.stream.getvalue()
        run.supervise()
        time.sleep(0.05)


@pytest.mark.subprocess
def test_a_child_that_dies_after_start_is_restarted_with_a_doubling_backoff():
    run = devrun.DevRun(Settings(_env_file=None), devrun.Console(stream=io.StringIO()))
    # Exits 3 at once, every time: a crash loop.
    run._start("worker", [sys.executable, "-c", "raise SystemExit(3)"], {})
    entry = run.supervised[0]
    _supervise_until(run, lambda: entry.restarts == 3)
    text = run.console.stream.getvalue()
    delays = re.findall(r"worker exited with code 3; restarting in (\S+) s", text)
    assert delays[:3] == ["0.5", "1.0", "2.0"], text
    assert text.count("started worker (pid") == 4

    # A child that ran steadily before dying starts again from the shortest wait.
    _supervise_until(run, lambda: entry.restart_at is not None)
    entry.restart_at = None
    entry.child = devrun.spawn("worker", [sys.executable, "-c", "pass"], {}, run.console)
    entry.started_at = time.monotonic() - devrun.STEADY_S
    entry.child.process.wait()
    run.supervise()
    assert run.console.stream.getvalue().endswith(
        "worker exited with code 0; restarting in 0.5 s\n"
    )

    # A stop during the wait does not wait for it, and nothing is restarted.
    stopping = time.monotonic()
    assert run.stop() == []
    assert time.monotonic() - stopping < 1
    assert run.children == []


# --- README ------------------------------------------------------------------------------


def test_readme_documents_every_setting():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    missing = [
        f"DESK_{name.upper()}"
        for name in Settings.model_fields
        if f"| `DESK_{name.upper()}` |" not in readme
    ]
    assert not missing, f"README's settings table lacks {missing}"
