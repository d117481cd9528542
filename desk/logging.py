"""Process-wide logging set-up: readable text by default, JSON lines when asked.

Every line carries what is known about the work it belongs to: the request id, the
authenticated user and the ticket (API), or the workflow and ticket (worker). The API's
middleware opens a :class:`LogContext` per request (a context variable, so concurrent
requests never mix); code that learns more binds it with :func:`bind`, e.g. the auth
dependency binds the user id. In the worker, the ticket comes from the Temporal workflow id
(``ticket-<uuid>``) of the running activity or workflow.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from desk.settings import Settings

CONTEXT_FIELDS = ("request_id", "user_id", "ticket_id", "workflow_id")
TICKET_WORKFLOW_PREFIX = "ticket-"
TEXT_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"


@dataclass
class LogContext:
    """What the current unit of work (one HTTP request) is about. Mutable on purpose: a
    dependency running in a copied context still updates the request's one object."""

    request_id: str | None = None
    user_id: str | None = None
    ticket_id: str | None = None
    # The request's routing scope: once the router has matched, its path parameters name
    # the ticket (read lazily, because routing happens after the middleware opened us).
    scope: Mapping[str, Any] | None = None

    def current_ticket_id(self) -> str | None:
        if self.ticket_id is not None:
            return self.ticket_id
        if self.scope is not None:
            value = self.scope.get("path_params", {}).get("ticket_id")
            return str(value) if value is not None else None
        return None


_context: ContextVar[LogContext | None] = ContextVar("desk_log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[LogContext]:
    """Open a context for one unit of work; lines logged inside carry its fields."""
    context = LogContext(**fields)
    token = _context.set(context)
    try:
        yield context
    finally:
        _context.reset(token)


def current_context() -> LogContext | None:
    return _context.get()


def bind(**fields: Any) -> None:
    """Add ``user_id`` / ``ticket_id`` / ``request_id`` to the current context (no-op
    outside one). Values are stored as strings."""
    context = _context.get()
    if context is None:
        return
    for name, value in fields.items():
        if name not in ("request_id", "user_id", "ticket_id"):
            raise TypeError(f"unknown log context field {name!r}")
        setattr(context, name, None if value is None else str(value))


def _ticket_of(workflow_id: str | None) -> str | None:
    if workflow_id and workflow_id.startswith(TICKET_WORKFLOW_PREFIX):
        return workflow_id.removeprefix(TICKET_WORKFLOW_PREFIX)
    return None


def _temporal_workflow_id(record: logging.LogRecord) -> str | None:
    """The workflow a line belongs to: from the SDK's logger extras (``workflow.logger``,
    ``activity.logger``), or from the activity running in this context (any logger)."""
    for extra in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, extra, None)
        if isinstance(details, Mapping) and details.get("workflow_id"):
            return str(details["workflow_id"])
    if activity.in_activity():
        return activity.info().workflow_id
    return None


class ContextFilter(logging.Filter):
    """Copies the context fields onto every record (fields passed in ``extra`` win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        if context is not None:
            self._set(record, "request_id", context.request_id)
            self._set(record, "user_id", context.user_id)
            self._set(record, "ticket_id", context.current_ticket_id())
        workflow_id = getattr(record, "workflow_id", None) or _temporal_workflow_id(record)
        if workflow_id is not None:
            self._set(record, "workflow_id", workflow_id)
            self._set(record, "ticket_id", _ticket_of(workflow_id))
        return True

    @staticmethod
    def _set(record: logging.LogRecord, name: str, value: str | None) -> None:
        if value is not None and getattr(record, name, None) is None:
            setattr(record, name, value)


def context_fields(record: logging.LogRecord) -> dict[str, str]:
    return {
        name: str(value)
        for name in CONTEXT_FIELDS
        if (value := getattr(record, name, None)) is not None
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(context_fields(record))
        for name, value in getattr(record, "fields", {}).items():  # extra={"fields": {...}}
            entry.setdefault(name, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the context fields appended as ``[name=value ...]``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = context_fields(record)
        if not fields:
            return line
        suffix = " ".join(f"{name}={value}" for name, value in fields.items())
        head, newline, tail = line.partition("\n")  # keep a traceback below the line
        return f"{head} [{suffix}]{newline}{tail}"


def build_handler(settings: Settings, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    root.handlers[:] = [build_handler(settings)]
    root.setLevel(settings.log_level.upper())
