"""Delivery records (emails, webhook events): what makes a retried activity send only what no
earlier attempt settled.

A delivery is claimed before it is sent and settled after, each in its own short
transaction, so none is open while the SMTP server or the webhook is talked to (SQLite would
hold its write lock meanwhile). A record is ``pending`` until an attempt settles it for good
(sent, or failed); a settle only moves a record out of ``pending``, so an attempt that
overlaps another never overwrites the outcome the other recorded.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.db.insert import insert_on_conflict
from desk.db.types import utcnow
from desk.notifications.models import DeliveryRecord

PENDING, FAILED = "pending", "failed"
ERROR_MAX_LENGTH = 2000

Record = TypeVar("Record", bound=DeliveryRecord)


async def claim(
    sessionmaker: async_sessionmaker[AsyncSession],
    model: type[Record],
    key: str,
    *,
    values: Mapping[str, Any],
    current: Mapping[str, Any] | None = None,
) -> Record:
    """Record an attempt at the delivery ``key``; returns its record as this attempt found it.

    Inserts the record (``values`` and ``pending``) unless it exists, and locks it. While it
    is pending, the attempt is counted and ``current`` (columns that may have changed since
    an earlier attempt, e.g. an address) is written: the caller sends now. Otherwise an
    earlier attempt settled it and the record says how.
    """
    async with sessionmaker() as session, session.begin():
        await session.execute(
            insert_on_conflict(session, model)
            .values(
                id=uuid.uuid4(),
                dedupe_key=key,
                status=PENDING,
                attempts=0,
                created_at=utcnow(),
                **values,
            )
            .on_conflict_do_nothing(index_elements=[model.dedupe_key])
        )
        query = select(model).where(model.dedupe_key == key).with_for_update()
        record = (await session.execute(query)).scalar_one()
        if record.status == PENDING:
            record.attempts += 1
            for column, value in (current or {}).items():
                setattr(record, column, value)
    return record


async def settle(
    sessionmaker: async_sessionmaker[AsyncSession],
    model: type[DeliveryRecord],
    key: str,
    status: str,
    *,
    error: str | None = None,
    **values: Any,
) -> None:
    """Record how the attempt that claimed ``key`` ended, if the record is still pending.

    ``status`` is the outcome for good, or ``pending`` when a retry may succeed; ``error``
    is why it did not go out (None when it did); ``values`` are further columns (e.g. when
    it was sent).
    """
    last_error = None if error is None else error[:ERROR_MAX_LENGTH]
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(model)
            .where(model.dedupe_key == key, model.status == PENDING)
            .values(status=status, last_error=last_error, **values)
        )
