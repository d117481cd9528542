"""API entry point: ``uvicorn api:app`` or ``python api.py``."""

from __future__ import annotations

import uvicorn

from desk.app import create_app
from desk.logging import configure_logging
from desk.procexit import exit_now
from desk.settings import get_settings

settings = get_settings()
configure_logging(settings)
app = create_app(settings)


def main() -> None:
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        timeout_graceful_shutdown=30,  # in-flight requests finish on SIGTERM/SIGINT
        log_config=None,
        access_log=False,  # desk.access writes one line per request, with its request id
    )
    exit_now(0)  # not a normal exit: see desk.procexit


if __name__ == "__main__":
    main()
