"""A short-lived, per-process memory of who a bearer token belongs to.

Looking the caller up costs a database session and a query on every request (about a
fifth of the API's own CPU on a ticket change). A token whose user was found active a
moment ago is trusted again for ``principal_cache_seconds``; the token itself (signature,
expiry, claims) is still checked on every request. How soon a change to a user is seen:

- in the process that made it (the admin route): at once, it forgets that user;
- in other API processes, or a change made straight in the database: within the TTL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from desk.auth.models import User

MAX_ENTRIES = 10_000  # bounds memory; a full cache is emptied, not evicted one by one


class CallerCache:
    """Token -> the active ``User`` found for it (detached, read-only), until it expires."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, User]] = {}

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def get(self, token: str) -> User | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        expires, user = entry
        if self._clock() >= expires:
            del self._entries[token]
            return None
        return user

    def put(self, token: str, user: User) -> None:
        if not self.enabled:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[token] = (self._clock() + self.ttl_s, user)

    def forget_user(self, user_id: uuid.UUID) -> None:
        """Drop every token of a user (deactivated, demoted, password changed)."""
        stale = [token for token, (_, user) in self._entries.items() if user.id == user_id]
        for token in stale:
            del self._entries[token]
