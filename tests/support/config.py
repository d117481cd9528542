"""How this run is set up: the database engine under test and the dev server's config."""

from __future__ import annotations

import os

# Pick the engine with ``DESK_TEST_DB=sqlite|postgres`` (``make test`` runs both).
TEST_DB = os.environ.get("DESK_TEST_DB", "sqlite")

# Dynamic config of the dev server used by the tests; a low continue-as-new suggestion lets
# a test reach it with a handful of updates.
DEV_SERVER_DYNAMIC_CONFIG = {
    "limit.historyCount.suggestContinueAsNew": "60",
}

# Where PostgreSQL runs for the tests (each run, and each scratch database, its own database).
POSTGRES_URL = os.environ.get(
    "DESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
