"""The database layer on the engine under test: migrations, types, SQLite pragmas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import StatementError

from desk.auth.models import Organization
from desk.db.base import Base
from desk.db.engine import READ_ONLY, create_engine
from desk.db.migrate import include_object, upgrade_async
from tests.support.config import TEST_DB


async def test_migrations_build_every_table(engine):
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


async def test_migrations_are_idempotent_and_match_models(settings, engine):
    await upgrade_async(settings.database_url)  # at head already: a no-op, not an error

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    def _diff(connection):
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True}
        )
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        diff = await connection.run_sync(_diff)
    assert diff == []


async def test_timestamps_come_back_aware_utc(session):
    berlin = timezone(timedelta(hours=2))
    org = Organization(name="tz", created_at=datetime(2026, 6, 1, 12, 0, tzinfo=berlin))
    session.add(org)
    await session.commit()
    session.expunge_all()
    loaded = (
        await session.execute(select(Organization).where(Organization.id == org.id))
    ).scalar_one()
    assert loaded.created_at == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert loaded.created_at.tzinfo is not None


async def test_naive_timestamps_are_refused(session):
    session.add(Organization(name="naive", created_at=datetime(2026, 6, 1, 12, 0)))
    with pytest.raises(StatementError, match="naive datetime"):
        await session.flush()
    await session.rollback()


async def test_uuid_round_trips(session):
    org_id = uuid.uuid4()
    session.add(Organization(id=org_id, name="uuid"))
    await session.commit()
    assert (await session.get(Organization, org_id)).id == org_id


@pytest.mark.skipif(TEST_DB != "sqlite", reason="SQLite pragmas")
async def test_sqlite_runs_wal_with_foreign_keys_and_busy_timeout(settings):
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
            fks = (await connection.execute(text("PRAGMA foreign_keys"))).scalar()
            busy = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
    finally:
        await engine.dispose()
    assert (mode, fks) == ("wal", 1)
    assert busy >= 5000


async def test_blank_database_upgrades(tmp_path, database_url):
    """A blank database reaches head on this engine (the session one was built the same way,
    this checks it from zero in isolation)."""
    if TEST_DB == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}"
        await upgrade_async(url)
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        finally:
            await engine.dispose()
        assert set(Base.metadata.tables) <= tables
    else:
        # The session database was blank when the suite started and was upgraded by Alembic.
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                head = (
                    await connection.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
        finally:
            await engine.dispose()
        assert head


@pytest.mark.skipif(TEST_DB != "sqlite", reason="SQLite's write lock")
async def test_a_read_only_session_takes_no_write_lock(sessionmaker):
    async with sessionmaker() as reader:
        await reader.connection(execution_options=READ_ONLY)
        await reader.execute(select(Organization.id).limit(1))
        async with sessionmaker() as writer:  # would wait for the busy timeout otherwise
            writer.add(Organization(name="written beside a long read"))
            await asyncio.wait_for(writer.commit(), timeout=2)
