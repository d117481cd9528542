"""INSERT statements that can say what to do on a conflict, on either engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_on_conflict(session: AsyncSession, target: Any) -> Any:
    """An INSERT into ``target`` (a model or table) supporting ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` on this session's engine."""
    return insert_for_dialect(session.get_bind().dialect.name, target)


def insert_for_dialect(dialect: str, target: Any) -> Any:
    """:func:`insert_on_conflict` for a dialect named ``postgresql`` or ``sqlite``."""
    if dialect == "postgresql":
        return postgresql.insert(target)
    if dialect == "sqlite":
        return sqlite.insert(target)
    raise NotImplementedError(f"no INSERT ... ON CONFLICT for dialect {dialect!r}")
