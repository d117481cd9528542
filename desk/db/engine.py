"""Engines and session factories, built at start-up (never at import time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 15_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The API and the worker write the same file: WAL lets readers run beside a writer,
    # the busy timeout makes a second writer wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    dbapi_connection.isolation_level = None  # the driver must not BEGIN: we do (below)


# Execution options of a connection that only reads (``session.connection(
# execution_options=READ_ONLY)`` before its first statement): on SQLite its transaction
# begins DEFERRED, so it takes no write lock, and in WAL mode neither it nor the writer
# waits for the other. For long reads (reports): ticket writes must not queue behind them.
READ_ONLY = {"desk_read_only": True}


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock when the transaction starts, so two writers queue on the busy
    # timeout instead of one failing with "database is locked" when it upgrades its lock.
    read_only = conn.get_execution_options().get("desk_read_only", False)
    conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


def create_engine(
    url: str, *, pool_size: int = 10, echo: bool = False, pooled: bool = True
) -> AsyncEngine:
    """An async engine for ``url``, with SQLite made fit for two writing processes.

    ``pooled=False`` opens a connection per session (tests that cut database access).
    """
    pool_args: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **pool_args
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    if pooled:
        pool_args = {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
    return create_async_engine(url, echo=echo, **pool_args)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
