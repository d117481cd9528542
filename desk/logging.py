"""Process-wide logging set-up: readable text by default, JSON lines when asked."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from desk.settings import Settings


class JsonFormatter(logging.Formatter):
    _EXTRA_FIELDS = ("request_id", "user_id", "ticket_id", "workflow_id")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for field in self._EXTRA_FIELDS:
            if (value := getattr(record, field, None)) is not None:
                entry[field] = str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
