"""Waiting for something that happens elsewhere (a worker, a server, another process)."""

from __future__ import annotations

import asyncio


async def eventually(check, *, timeout: float = 30.0, interval: float = 0.2):
    """Poll ``check`` (an async callable) until it returns a truthy value, or fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {result!r})")
        await asyncio.sleep(interval)
