"""Live events to browsers: one fetch loop per API process, fanned out in memory to every
open stream of that process.

New rows are found by id (``id > last seen``): on PostgreSQL a ``LISTEN`` connection wakes
the loop at each commit that wrote events (``pg_notify`` in :mod:`desk.live.feed`), with a
slow poll behind it in case a notification is lost; on SQLite the loop polls, one query
for all the process's streams. Ids are handed out before commit, so a transaction can
commit a lower id after a higher one was read: ids skipped over are looked for again for
``GAP_SECONDS`` before they count as rolled back. Rows older than the retention are
pruned by the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.db.types import utcnow
from desk.live.feed import CHANNEL, latest_event_id
from desk.live.models import LiveEvent

log = logging.getLogger("desk.live")

SQLITE_POLL_SECONDS = 0.3
POSTGRES_POLL_SECONDS = 2.0  # behind LISTEN: only for a lost notification
GAP_SECONDS = 10.0
PRUNE_EVERY_SECONDS = 60.0
RETENTION = timedelta(hours=1)
FETCH_LIMIT = 1000
QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Viewer:
    """Whose stream: their organization, and whether they are staff (customers see only
    their own tickets' public events)."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    staff: bool


@dataclass(frozen=True)
class Event:
    id: int
    organization_id: uuid.UUID
    kind: str
    ticket_id: uuid.UUID | None
    requester_id: uuid.UUID | None
    user_id: uuid.UUID | None
    is_internal: bool
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: LiveEvent) -> Event:
        return cls(
            id=row.id,
            organization_id=row.organization_id,
            kind=row.kind,
            ticket_id=row.ticket_id,
            requester_id=row.requester_id,
            user_id=row.user_id,
            is_internal=row.is_internal,
            data=dict(row.data or {}),
        )

    def sse(self) -> str:
        """The event as a Server-Sent Events message."""
        payload = {"ticket_id": str(self.ticket_id) if self.ticket_id else None, **self.data}
        return f"id: {self.id}\nevent: {self.kind}\ndata: {json.dumps(payload)}\n\n"


def visible_to(event: Event, viewer: Viewer) -> bool:
    """Whether ``viewer`` may hear of ``event``: the same organization; a notification only
    by its recipient; staff everything else; a customer only their own tickets' public
    events."""
    if event.organization_id != viewer.organization_id:
        return False
    if event.user_id is not None:
        return event.user_id == viewer.user_id
    if viewer.staff:
        return True
    return not event.is_internal and event.requester_id == viewer.user_id


RESET = "reset"  # the stream cannot resume where the browser left off: reload


@dataclass(eq=False)
class Subscription:
    viewer: Viewer
    queue: asyncio.Queue[Event | str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    _sent: deque[int] = field(default_factory=lambda: deque(maxlen=QUEUE_SIZE))

    def offer(self, event: Event) -> None:
        if not visible_to(event, self.viewer) or event.id in self._sent:
            return
        self._sent.append(event.id)
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A stream this far behind starts over: the browser reconnects and resumes.
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:
                    self.queue.get_nowait()
            self.queue.put_nowait(RESET)


class LiveHub:
    """The process's one reader of ``live_events``; streams subscribe to it."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        database_url: str,
        *,
        retention: timedelta = RETENTION,
    ):
        self._sessionmaker = sessionmaker
        self._url = make_url(database_url)
        self._postgres = self._url.get_backend_name() == "postgresql"
        self._retention = retention
        self._subscriptions: set[Subscription] = set()
        self._last_id: int | None = None
        self._gaps: dict[int, float] = {}  # id skipped over -> until when to look for it
        self._wake = asyncio.Event()
        self._positioning = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = False
        self._next_prune = 0.0

    # --- streams ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(
        self, viewer: Viewer, *, after: int | None = None
    ) -> AsyncIterator[Subscription]:
        """A subscription to what ``viewer`` may see from now on and, with ``after`` (the
        stream's Last-Event-ID), what they missed since that id."""
        self._start()
        subscription = Subscription(viewer)
        async with self._positioning:
            if self._last_id is None:
                # Where live delivery starts; a replay (below) covers what came before.
                async with self._sessionmaker() as session:
                    self._last_id = await latest_event_id(session)
            self._subscriptions.add(subscription)
        self._wake.set()
        try:
            if after is not None:
                await self._replay(subscription, after)
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            if not self._subscriptions:
                # Nobody listens: a later subscriber starts from its own moment.
                self._last_id = None
                self._gaps.clear()

    async def _replay(self, subscription: Subscription, after: int) -> None:
        viewer = subscription.viewer
        async with self._sessionmaker() as session:
            oldest = await session.scalar(select(func.min(LiveEvent.id)))
            rows = (
                await session.scalars(
                    select(LiveEvent)
                    .where(
                        LiveEvent.id > after,
                        LiveEvent.organization_id == viewer.organization_id,
                    )
                    .order_by(LiveEvent.id)
                    .limit(FETCH_LIMIT + 1)
                )
            ).all()
        if (oldest is not None and after + 1 < oldest) or len(rows) > FETCH_LIMIT:
            subscription.queue.put_nowait(RESET)  # pruned, or too much to replay
            return
        for row in rows:
            subscription.offer(Event.from_row(row))

    # --- the loop -----------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop (it prunes old rows even while no stream is open)."""
        if not self._tasks:
            self._tasks.append(asyncio.create_task(self._run(), name="live-events"))

    def _start(self) -> None:
        self.start()
        if self._postgres and not self._listening:
            self._listening = True
            self._tasks.append(asyncio.create_task(self._listen(), name="live-events-listen"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._listening = False

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live events: reading the feed failed; retrying")
                await asyncio.sleep(1)
            interval = POSTGRES_POLL_SECONDS if self._postgres else SQLITE_POLL_SECONDS
            if not self._subscriptions:
                interval = PRUNE_EVERY_SECONDS
            elif self._gaps and self._postgres:
                interval = SQLITE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()

    async def _step(self) -> None:
        now = time.monotonic()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_SECONDS
            await self._prune()
        if not self._subscriptions or self._last_id is None:
            return
        async with self._sessionmaker() as session:
            floor = min([self._last_id, *(gap - 1 for gap in self._gaps)])
            rows = (
                await session.scalars(
                    select(LiveEvent)
                    .where(LiveEvent.id > floor)
                    .order_by(LiveEvent.id)
                    .limit(FETCH_LIMIT)
                )
            ).all()
        self._dispatch([Event.from_row(row) for row in rows], now)

    def _dispatch(self, events: list[Event], now: float) -> None:
        for event in events:
            if self._last_id is None:
                return  # the last stream left while this was read
            if event.id <= self._last_id and self._gaps.pop(event.id, None) is None:
                continue  # delivered already
            if event.id > self._last_id:
                skipped = range(self._last_id + 1, event.id)
                if len(skipped) <= FETCH_LIMIT:
                    self._gaps.update(dict.fromkeys(skipped, now + GAP_SECONDS))
                self._last_id = event.id
            for subscription in list(self._subscriptions):
                subscription.offer(event)
        for gap, until in list(self._gaps.items()):
            if until < now:
                del self._gaps[gap]  # rolled back

    async def _prune(self) -> None:
        async with self._sessionmaker() as session:
            await session.execute(
                delete(LiveEvent).where(LiveEvent.created_at < utcnow() - self._retention)
            )
            await session.commit()

    async def _listen(self) -> None:
        """LISTEN on PostgreSQL: each notification wakes the loop (reconnects on errors)."""
        conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self._wake.set()  # anything committed while not listening
                    async for _ in connection.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("live events: LISTEN connection lost; reconnecting", exc_info=True)
                self._wake.set()
                await asyncio.sleep(1)
