"""Temporal worker entry point: ``python -m worker`` (or ``python worker.py``)."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

import desk.db.models  # noqa: F401 - every mapper, so foreign-key column types resolve
from activities import build_activities
from desk.db.engine import create_engine, create_sessionmaker
from desk.logging import configure_logging
from desk.procexit import exit_now
from desk.settings import Settings, get_settings
from desk.temporal import connect, create_search_attributes_command, missing_search_attributes
from workflows import WORKFLOWS

log = logging.getLogger("desk.worker")


class MissingSearchAttributes(RuntimeError):
    pass


async def check_search_attributes(client: Client, namespace: str) -> None:
    """Refuse to run against a namespace lacking our search attributes: an upsert of an
    unregistered attribute stalls the workflow task silently."""
    missing = await missing_search_attributes(client, namespace)
    if missing:
        raise MissingSearchAttributes(
            f"namespace {namespace!r} lacks the search attributes {', '.join(missing)}; "
            f"create them with `desk temporal setup` or "
            f"`{create_search_attributes_command(missing, namespace)}`"
        )


def build_worker(client: Client, settings: Settings, sessionmaker) -> Worker:
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(settings, sessionmaker),
        graceful_shutdown_timeout=timedelta(seconds=30),
    )


async def run(settings: Settings) -> None:
    client = await connect(settings)
    await check_search_attributes(client, settings.temporal_namespace)
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    try:
        worker = build_worker(client, settings, create_sessionmaker(engine))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            log.info("worker polling task queue %s", settings.temporal_task_queue)
            await stop.wait()
            log.info("shutting down: draining running activities")
    finally:
        await engine.dispose()


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    try:
        asyncio.run(run(settings))
    except MissingSearchAttributes as exc:
        log.error("%s", exc)
        exit_now(2)
    exit_now(0)  # not a normal exit: see desk.procexit


if __name__ == "__main__":
    main()
