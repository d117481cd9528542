"""Run the Alembic history programmatically (`desk db upgrade`, tests, `desk dev`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


# Indexes the migrations create by hand, for one engine only; the models do not declare them,
# so schema comparison must not report them as drift.
ENGINE_SPECIFIC_INDEXES = frozenset({"ix_tickets_subject_trgm"})


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's filter for schema comparison (autogenerate, `alembic check`, the tests)."""
    return not (type_ == "index" and name in ENGINE_SPECIFIC_INDEXES)


def sync_url(url: str) -> str:
    """The synchronous twin of an async database URL (migrations run synchronously)."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite")
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    elif parsed.drivername in {"postgresql+asyncpg", "postgresql+psycopg_async"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, url, revision)
