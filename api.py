"""API entry point: ``uvicorn api:app`` or ``python api.py``."""

from __future__ import annotations

import atexit
import multiprocessing

import uvicorn

from desk.app import create_app
from desk.logging import configure_logging
from desk.procexit import exit_now
from desk.settings import get_settings

settings = get_settings()
configure_logging(settings)
app = create_app(settings)

if multiprocessing.parent_process() is not None:
    # One of uvicorn's worker processes (DESK_API_PROCESSES > 1). It ends through
    # multiprocessing's normal exit, and finalization can abort on the Temporal SDK's
    # threads (see desk.procexit); leave without finalizing, as `main` does. atexit runs
    # only on a normal exit, so an exit code set by a failed start-up is lost: uvicorn
    # then restarts the process instead of giving up, which the health check shows.
    atexit.register(exit_now, 0)


def main() -> None:
    options = dict(
        host=settings.api_host,
        port=settings.api_port,
        timeout_graceful_shutdown=30,  # in-flight requests finish on SIGTERM/SIGINT
        log_config=None,
        access_log=False,  # desk.access writes one line per request, with its request id
    )
    if settings.api_processes > 1:
        # uvicorn's own supervisor: one socket, bound here, shared by the worker processes
        # (the kernel spreads connections), each restarted if it dies. Each process has
        # its own engine, Temporal client and live-event loop, all fed from the database.
        # A worker process must answer the supervisor's ping within the health-check
        # timeout, start-up included (imports take seconds on a busy machine): uvicorn's
        # 5 s default killed healthy ones still starting.
        uvicorn.run(
            "api:app",
            workers=settings.api_processes,
            timeout_worker_healthcheck=30,
            **options,
        )
    else:
        uvicorn.run(app, **options)
    exit_now(0)  # not a normal exit: see desk.procexit


if __name__ == "__main__":
    main()
