"""The fast tier: what ``make test-fast`` leaves out, decided without anyone remembering.

Two marks say what a test needs beyond this process (``pytest --markers`` lists them):

- ``temporal``: a Temporal server. Set here, at collection, on every test whose fixtures
  include one that starts a server (``TEMPORAL_FIXTURES``), however indirectly: ``desk``,
  ``ticket_worker`` and a module's own ``api`` all lead to ``dev_server``.
- ``subprocess``: processes of its own (``python -m api``, ``desk dev``...).

A test that starts a server or a process by hand (not through those fixtures) carries the
mark itself, ``@pytest.mark.temporal`` or ``@pytest.mark.subprocess`` (or ``pytestmark``
for a whole module). One that does not fails, in any run, naming the mark it lacks: a test
with neither mark, one of the fast tier, may start neither.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from temporalio.testing import WorkflowEnvironment

TEMPORAL_FIXTURES = frozenset({"dev_server", "time_skipping_server"})

_running: pytest.Item | None = None  # the test being set up, run or torn down


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by these marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TEMPORAL_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.temporal)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    global _running
    _running = item
    try:
        return (yield)
    finally:
        _running = None


def _require(mark: str, what: str) -> None:
    if _running is not None and not any(
        _running.get_closest_marker(name) for name in ("temporal", "subprocess")
    ):
        pytest.fail(
            f"{_running.nodeid} starts {what} but is not marked @pytest.mark.{mark}: "
            "mark it, so that `make test-fast` leaves it out (tests/support/tiers.py)",
            pytrace=False,
        )


def _guarded(original: Callable, mark: str, what: str) -> Callable:
    def guarded(*args, **kwargs):
        _require(mark, what)
        return original(*args, **kwargs)

    return guarded


def pytest_configure(config: pytest.Config) -> None:
    patch = pytest.MonkeyPatch()
    config.add_cleanup(patch.undo)
    # asyncio's subprocesses are subprocess.Popen underneath.
    popen = _guarded(subprocess.Popen.__init__, "subprocess", "a process")
    patch.setattr(subprocess.Popen, "__init__", popen)
    for name in ("start_local", "start_time_skipping", "start_time_skipping_v2"):
        original = getattr(WorkflowEnvironment, name)
        server = _guarded(original, "temporal", "a Temporal server")
        patch.setattr(WorkflowEnvironment, name, server)
