"""A blank database of its own, on the engine under test, for tests that run the migrations
from an earlier revision (the session's database is already at head)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.support.config import POSTGRES_URL, TEST_DB


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def scratch_database(directory: Path) -> AsyncIterator[str]:
    """The URL of a new, empty database (a file in ``directory`` on SQLite), dropped after."""
    if TEST_DB == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / f'scratch-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"desk_scratch_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(
        _libpq(POSTGRES_URL), autocommit=True
    ) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with await psycopg.AsyncConnection.connect(
            _libpq(POSTGRES_URL), autocommit=True
        ) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
