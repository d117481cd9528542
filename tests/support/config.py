"""How this run is set up: the database engine under test and the dev server's config."""

from __future__ import annotations

import os

# Pick the engine with ``DESK_TEST_DB=sqlite|postgres`` (``make test`` runs both).
TEST_DB = os.environ.get("DESK_TEST_DB", "sqlite")

# Dynamic config of the dev server used by the tests; a low continue-as-new suggestion lets
# a test reach it with a dozen updates. Not lower: a ticket that continues as new within a
# second of its run's start can have the next run's first task sent to the old worker's
# sticky queue, refused there ("should have a build ID directive on versioned sticky
# queue"), and held for the sticky timeout (10 s). No real ticket's run is that short.
DEV_SERVER_DYNAMIC_CONFIG = {
    "limit.historyCount.suggestContinueAsNew": "120",
}

# Where PostgreSQL runs for the tests (each run, and each scratch database, its own database).
POSTGRES_URL = os.environ.get(
    "DESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
