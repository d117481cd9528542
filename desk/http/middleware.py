"""Per HTTP request: a request id, a log context, one access-log line and the HTTP metrics.

Pure ASGI (no BaseHTTPMiddleware): the app runs in the request's own task, so the log
context opened here is the one every line of the request sees.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desk import metrics
from desk.logging import log_context

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and plain: it goes into every log line.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes arrive every few seconds, and every open portal page renews its event
# stream as often: their access lines are DEBUG, not INFO.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics", "/events"})

access_log = logging.getLogger("desk.access")


def request_id_from(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` if usable, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _VALID_REQUEST_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/tickets/{ticket_id}``), never the raw
    path, so the metrics have one series per route."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return metrics.UNMATCHED_ROUTE
    # FastAPI may keep an included router's route with its own path, without the prefix
    # it was included under: recover the prefix from the path the request matched.
    params: Mapping[str, Any] = scope.get("path_params") or {}
    rendered = template
    for name, value in params.items():
        rendered = rendered.replace(f"{{{name}}}", str(value))
    path: str = scope.get("path", "")
    if path != rendered and path.endswith(rendered):
        template = path[: len(path) - len(rendered)] + template
    return template


class RequestContextMiddleware:
    """Request id in (``X-Request-ID``, generated if absent) and out; the log context;
    ``desk_http_*`` metrics by method, route template and status; one access line."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        started = time.perf_counter()
        status = 500  # if the app fails before answering

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with log_context(request_id=request_id, scope=scope):
            try:
                await self.app(scope, receive, send_with_request_id)
            finally:
                self._record(scope, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = route_template(scope)
        labels = {"method": method, "route": route, "status": str(status)}
        metrics.HTTP_REQUESTS.labels(**labels).inc()
        metrics.HTTP_REQUEST_DURATION.labels(**labels).observe(seconds)
        level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
        if access_log.isEnabledFor(level):
            duration_ms = round(seconds * 1000, 1)
            access_log.log(
                level,
                "%s %s %s %.1fms",
                method,
                scope.get("path", ""),
                status,
                duration_ms,
                extra={
                    "fields": {
                        "method": method,
                        "path": scope.get("path", ""),
                        "route": route,
                        "status": status,
                        "duration_ms": duration_ms,
                    }
                },
            )


def install_request_context(app: FastAPI) -> None:
    """Wrap the whole app, outside Starlette's ServerErrorMiddleware: the 500 answer of
    the catch-all error handler then carries the request id too, and its log line (the
    traceback) is written inside the request's log context. ``add_middleware`` would
    place us inside ServerErrorMiddleware."""
    build = app.build_middleware_stack

    def build_with_request_context() -> ASGIApp:
        return RequestContextMiddleware(build())

    app.build_middleware_stack = build_with_request_context  # type: ignore[method-assign]


# Every answer: no MIME sniffing, no referrer, never framed.
_ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# JSON API answers carry caller data: never cached, never rendered as a page.
_API = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
_HSTS = {"Strict-Transport-Security": "max-age=31536000; includeSubDomains"}


class SecurityHeadersMiddleware:
    """The security headers a JSON API sends (a header the app set itself wins)."""

    def __init__(self, app: ASGIApp, *, api_prefix: str, hsts: bool):
        self.app = app
        self.api_prefix = api_prefix
        self.always = {**_ALWAYS, **(_HSTS if hsts else {})}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.always
        if scope.get("path", "").startswith(self.api_prefix):
            extra = {**extra, **_API}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
