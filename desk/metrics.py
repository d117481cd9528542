"""Prometheus metrics of the API and the worker (one registry per process).

The API serves them at ``GET /metrics``; the worker at ``DESK_WORKER_METRICS_PORT``
(:func:`start_worker_metrics_server`), together with the Temporal SDK's own metrics. The
SLA and notification counters live here so activities can increment them::

    from desk import metrics
    metrics.SLA_BREACHES.inc()
    metrics.NOTIFICATION_DELIVERY_FAILURES.labels(channel="webhook").inc()
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from desk.enums import TicketStatus
from desk.tickets.models import Ticket

log = logging.getLogger("desk.metrics")

# --- HTTP (API) ----------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "desk_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "desk_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status code.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED_ROUTE = "<unmatched>"  # 404s of unknown paths: one series, not one per path

# --- Tickets (API, read from the projection) -----------------------------------------------

TICKETS = Gauge(
    "desk_tickets",
    "Tickets by status across all organizations, read from the projection (cached).",
    ["status"],
)
TICKET_COUNTS_TTL_S = 15.0  # a scrape every few seconds costs one GROUP BY per 15 s

# --- SLA and notifications (worker: incremented by activities) ----------------------------

SLA_WARNINGS = Counter(
    "desk_sla_warnings_total", "SLA warning thresholds reached (one per ticket and target)."
)
SLA_BREACHES = Counter(
    "desk_sla_breaches_total", "SLA deadlines breached (one per ticket and target)."
)
NOTIFICATION_DELIVERY_FAILURES = Counter(
    "desk_notification_delivery_failures_total",
    "Failed notification delivery attempts, by channel (each retry counts).",
    ["channel"],
)
NOTIFICATION_CHANNELS = ("in_app", "email", "webhook")
for _channel in NOTIFICATION_CHANNELS:  # every series exists (at 0) from the start
    NOTIFICATION_DELIVERY_FAILURES.labels(channel=_channel)


class TicketCounts:
    """Keeps ``desk_tickets{status}`` fresh enough: one query per TTL however often
    Prometheus scrapes, and one at a time however many scrapes arrive together.

    Deliberately unscoped (every organization): /metrics is an operator endpoint.
    """

    def __init__(self, ttl_s: float = TICKET_COUNTS_TTL_S):
        self._ttl_s = ttl_s
        self._fresh_until = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        if time.monotonic() < self._fresh_until:
            return
        async with self._lock:
            if time.monotonic() < self._fresh_until:
                return
            counts = await self.count(sessionmaker)
            for status in TicketStatus:
                TICKETS.labels(status=status.value).set(counts.get(status.value, 0))
            self._fresh_until = time.monotonic() + self._ttl_s

    @staticmethod
    async def count(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
        async with sessionmaker() as session:
            rows = await session.execute(
                select(Ticket.status, func.count()).group_by(Ticket.status)
            )
            return {status: count for status, count in rows}


async def render(
    sessionmaker: async_sessionmaker[AsyncSession], counts: TicketCounts
) -> tuple[bytes, str]:
    """The API's exposition: body and content type. A failing count query leaves the last
    values in place rather than failing the scrape (the HTTP metrics still matter)."""
    try:
        await counts.refresh(sessionmaker)
    except Exception as exc:  # the database being down must not blind the scrape
        log.warning("ticket counts unavailable for /metrics: %s", exc)
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# --- The worker's endpoint -----------------------------------------------------------------


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def install_sdk_metrics_runtime() -> str:
    """Make the Temporal SDK (its Rust core) export Prometheus metrics on a private
    loopback port, for :func:`start_worker_metrics_server` to include; returns that URL.

    Must run before the first Temporal client of the process is created.
    """
    address = f"127.0.0.1:{_free_loopback_port()}"
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))
    Runtime.set_default(runtime, error_if_already_set=True)
    return f"http://{address}/metrics"


def _fetch_sdk_metrics(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
            return response.read()
    except OSError as exc:
        log.warning("Temporal SDK metrics unavailable at %s: %s", url, exc)
        return b"# Temporal SDK metrics unavailable\n"


def start_worker_metrics_server(
    host: str,
    port: int,
    *,
    sdk_metrics_url: str | None,
    healthy: Callable[[], bool],
    registry: CollectorRegistry = REGISTRY,
) -> ThreadingHTTPServer:
    """Serve ``/metrics`` (this process's registry, then the Temporal SDK's exposition
    fetched from ``sdk_metrics_url``) and ``/healthz`` (200 while ``healthy()``), in a
    daemon thread. One scrape target per worker. Raises OSError if the port is taken."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body = generate_latest(registry)
                if sdk_metrics_url:
                    body += _fetch_sdk_metrics(sdk_metrics_url)
                self._answer(200, body, CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                ok = healthy()
                self._answer(200 if ok else 503, b"ok\n" if ok else b"stopping\n", "text/plain")
            else:
                self._answer(404, b"not found\n", "text/plain")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return server
