"""Temporal worker entry point: ``python -m worker`` (or ``python worker.py``)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import timedelta
from http.server import ThreadingHTTPServer
from typing import Any

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import desk.db.models  # noqa: F401 - every mapper, so foreign-key column types resolve
from activities import build_activities, close_activities
from desk import metrics
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


def build_worker(client: Client, settings: Settings, sessionmaker, **options: Any) -> Worker:
    """The worker for our task queue; ``options`` go to ``Worker`` (tests turn the workflow
    cache off to replay every task)."""
    if not settings.workflow_sandbox:
        options.setdefault("workflow_runner", UnsandboxedWorkflowRunner())
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(settings, sessionmaker),
        graceful_shutdown_timeout=timedelta(seconds=30),
        **options,
    )


def serve_metrics(
    settings: Settings, sdk_metrics_url: str | None, healthy: Callable[[], bool]
) -> ThreadingHTTPServer | None:
    """The worker's /metrics and /healthz on DESK_WORKER_METRICS_PORT (0: none). A taken
    port is logged, not fatal: the worker's job is the tickets."""
    if not settings.worker_metrics_port:
        return None
    host, port = settings.worker_metrics_host, settings.worker_metrics_port
    try:
        server = metrics.start_worker_metrics_server(
            host, port, sdk_metrics_url=sdk_metrics_url, healthy=healthy
        )
    except OSError as exc:
        log.error("worker metrics endpoint not started on %s:%s: %s", host, port, exc)
        return None
    log.info("worker metrics at http://%s:%s/metrics", host, port)
    return server


async def run(settings: Settings) -> None:
    sdk_metrics_url = None
    if settings.worker_metrics_port:  # the SDK's runtime must exist before the client does
        try:
            sdk_metrics_url = metrics.install_sdk_metrics_runtime()
        except Exception as exc:  # metrics are worth a log line, not the worker
            log.error("Temporal SDK metrics not exported: %s", exc)
    client = await connect(settings)
    await check_search_attributes(client, settings.temporal_namespace)
    engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    server = None
    worker: Worker | None = None
    try:
        worker = build_worker(client, settings, create_sessionmaker(engine))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = serve_metrics(
            settings, sdk_metrics_url, healthy=lambda: worker.is_running and not stop.is_set()
        )
        async with worker:
            log.info("worker polling task queue %s", settings.temporal_task_queue)
            await stop.wait()
            # Leaving the block shuts the worker down gracefully: polling stops, running
            # activities get up to graceful_shutdown_timeout to finish.
            log.info("shutting down: draining running activities")
    finally:
        if server is not None:
            server.shutdown()
        if worker is not None:  # release the activities' HTTP client
            await close_activities(worker.config()["activities"])
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
