"""Starting Temporal servers for tests, from the binaries the project installs.

The SDK gives a server a free port it found, and the server then picks more free ports of
its own (HTTP API, metrics, cluster membership); another process can take one in between,
and the server exits. Rare, but one lost start fails every test that shares it, so a
start is tried again on a fresh port.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.testing import WorkflowEnvironment

from desk.binaries import temporal_cli, temporal_test_server

log = logging.getLogger("tests.temporal")

ATTEMPTS = 3


async def _started(start: Callable[[], Awaitable[WorkflowEnvironment]]) -> WorkflowEnvironment:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await start()
        except RuntimeError as exc:
            if attempt == ATTEMPTS:
                raise
            log.warning("Temporal server did not start (attempt %d): %s", attempt, exc)
    raise AssertionError("unreachable")


async def start_dev_server(**options: Any) -> WorkflowEnvironment:
    """``WorkflowEnvironment.start_local`` on the project's ``temporal`` CLI."""
    return await _started(
        lambda: WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(), **options)
    )


async def start_time_skipping_server(**options: Any) -> WorkflowEnvironment:
    """``WorkflowEnvironment.start_time_skipping`` on the project's test server."""
    return await _started(
        lambda: WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=temporal_test_server(), **options
        )
    )
