"""The one place where exceptions become JSON ``{"detail", "code"}`` responses, and where
the OpenAPI document learns that shape (:class:`Error`) for every error a route answers."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from desk.enums import TicketStatus
from desk.errors import DeskError

log = logging.getLogger("desk.http")


class FieldError(BaseModel):
    """One invalid part of a request."""

    loc: list[str | int] = Field(description="where: body, query, path or header, then names")
    msg: str
    type: str


class Error(BaseModel):
    """The body of every error answer."""

    detail: str = Field(description="what went wrong, for people")
    code: str = Field(description="what went wrong, for programs: stable, snake_case")
    errors: list[FieldError] | None = Field(None, description="422: each invalid field")
    current_status: TicketStatus | None = Field(
        None, description="409 on a ticket change: the ticket's status now"
    )
    allowed: list[TicketStatus] | None = Field(
        None, description="409 on a ticket change: the statuses it may move to from here"
    )


# Why a route answers each error status, as the document says it when the route does not.
ERROR_DESCRIPTIONS = {
    400: "The request body is malformed (not JSON, or not UTF-8).",
    401: "Not authenticated: no bearer token, or an invalid or expired one.",
    403: "Authenticated, but not allowed to do this.",
    404: "Not found in your organization (another tenant's looks the same).",
    409: "Conflicts with the current state.",
    410: "Gone.",
    413: "The request body is over the size limit.",
    415: "The request body is not in a supported format.",
    416: "The requested byte range lies outside the file.",
    422: "Invalid input: `errors` names each invalid field.",
    429: "Too many attempts; retry after `Retry-After` seconds.",
    503: "The database or the workflow engine is unavailable; retry after `Retry-After`.",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}
# Routes that answer without the database or Temporal (so never 503).
_ALWAYS_UP = frozenset({"/healthz"})


def document_errors(schema: dict[str, Any]) -> None:
    """Give every operation of the OpenAPI ``schema`` each error status it can answer, with
    :class:`Error` as the body: the ones its route declares, plus 400 (a body), 401
    (authenticated routes), 404 (a path with ids), 422 (any input) and 503 (anything
    reaching the database or Temporal). FastAPI's own validation-error schema goes: it is
    not our body.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error_schema = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["Error"] = error_schema
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            statuses = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
            parameters = operation.get("parameters", [])
            if operation.get("security"):
                statuses.add(401)
            if any(p.get("in") == "path" for p in parameters):
                statuses.add(404)
            if parameters or "requestBody" in operation:
                statuses.add(422)
            if "requestBody" in operation:
                statuses.add(400)  # a body that is not even well-formed JSON or form data
            if path not in _ALWAYS_UP:
                statuses.add(503)
            for status in sorted(statuses):
                entry = responses.setdefault(str(status), {})
                if entry.get("description") in (None, "", "Validation Error"):
                    entry["description"] = ERROR_DESCRIPTIONS[status]
                entry["content"] = {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                }
                if status in _ERROR_HEADERS:
                    entry.setdefault("headers", {}).update(_ERROR_HEADERS[status])
            operation["responses"] = dict(sorted(responses.items()))


_CODES_BY_STATUS = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}


def _path_patterns(app: FastAPI) -> list[tuple[re.Pattern[str], list[str]]]:
    """Each documented path as a pattern, with its documented methods (built once)."""
    patterns = getattr(app.state, "documented_paths", None)
    if patterns is None:
        patterns = []
        for template, item in app.openapi().get("paths", {}).items():
            literal_parts = re.split(r"\{[^/]+?\}", template)  # around each {parameter}
            regex = "[^/]+".join(re.escape(part) for part in literal_parts)
            patterns.append((re.compile(f"^{regex}$"), sorted(m.upper() for m in item)))
        app.state.documented_paths = patterns
    return patterns


def _documented_methods(app: FastAPI, path: str) -> list[str]:
    for pattern, methods in _path_patterns(app):
        if pattern.match(path):
            return methods
    return []


def _json(status: int, body: dict, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=jsonable_encoder(body), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DeskError)
    async def _desk_error(_request: Request, exc: DeskError) -> JSONResponse:
        return _json(exc.status_code, exc.body(), exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        summary = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or e['loc'][0] if e['loc'] else 'body'}: "
            f"{e['msg']}"
            for e in errors
        )
        return _json(
            422,
            {"detail": summary or "invalid request", "code": "validation_error", "errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES_BY_STATUS.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and (allowed := _documented_methods(app, request.url.path)):
            # The router knows only the first route that matched the path; the document
            # knows every method of it.
            headers["Allow"] = ", ".join(allowed)
        return _json(exc.status_code, {"detail": detail, "code": code}, headers or None)

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", exc.orig)
        return _json(409, {"detail": "conflicts with existing data", "code": "conflict"})

    @app.exception_handler(DataError)
    async def _data_error(_request: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot store (e.g. NUL in PostgreSQL text) that slipped past
        # the request schemas: the client's input, not our failure.
        log.warning("data error: %s", exc.orig)
        return _json(422, {"detail": "a value cannot be stored", "code": "invalid_value"})

    @app.exception_handler(OperationalError)
    async def _db_unavailable(_request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", exc.orig)
        return _json(
            503,
            {"detail": "database unavailable", "code": "database_unavailable"},
            {"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json(500, {"detail": "internal server error", "code": "internal_error"})
