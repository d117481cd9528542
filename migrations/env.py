"""Alembic environment: one linear history for SQLite and PostgreSQL.

Migrations run on a synchronous engine (pysqlite / psycopg), so they can be called from any
context, including from inside a running event loop via a thread.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import desk.db.models  # noqa: F401  (registers every table on the metadata)
from desk.db.base import Base
from desk.db.migrate import include_object, sync_url
from desk.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return sync_url(config.get_main_option("sqlalchemy.url") or get_settings().database_url)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),  # SQLite alters tables by copying them
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
