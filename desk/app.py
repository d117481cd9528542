"""Builds the FastAPI application; engines and clients are made in its lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from temporalio.client import Client

import desk.db.models  # noqa: F401 - every mapper, so foreign-key column types resolve
from desk import metrics
from desk.admin.organization_router import router as organization_router
from desk.admin.router import router as admin_router
from desk.attachments.router import router as attachments_router
from desk.auth.callers import CallerCache
from desk.auth.router import router as auth_router
from desk.auth.security import configure_password_hashing
from desk.db.engine import create_engine, create_sessionmaker
from desk.http.errors import install_error_handlers
from desk.http.health import router as health_router
from desk.http.middleware import SecurityHeadersMiddleware, install_request_context
from desk.http.openapi import install_openapi, operation_id
from desk.live.hub import LiveHub
from desk.notifications.admin_router import router as webhooks_admin_router
from desk.notifications.router import router as notifications_router
from desk.portal.install import install_portal
from desk.reports.router import router as reports_router
from desk.settings import Settings, get_settings
from desk.sla.admin_router import router as sla_admin_router
from desk.temporal import TemporalConnection
from desk.tickets.gateway import TicketGateway
from desk.tickets.router import comments_router
from desk.tickets.router import router as tickets_router
from desk.tickets.service import TicketService

API_PREFIX = "/api/v1"
# What a browser client may send and read cross-site (CORS).
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-ID",
    "If-None-Match",
    "If-Range",
    "Range",
]
CORS_RESPONSE_HEADERS = [
    "Link",
    "X-Next-Cursor",
    "X-Request-ID",
    "Retry-After",
    "ETag",
    "Content-Range",
    "Content-Disposition",
]


def create_app(
    settings: Settings | None = None, *, temporal_client: Client | None = None
) -> FastAPI:
    """The ASGI app. Tests pass their own settings and, optionally, a connected client."""
    settings = settings or get_settings()
    configure_password_hashing(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.temporal = TemporalConnection(settings, temporal_client)
        app.state.tickets = TicketService(
            app.state.sessionmaker, TicketGateway(app.state.temporal, settings)
        )
        app.state.live = LiveHub(app.state.sessionmaker, settings.database_url)
        app.state.live.start()
        try:
            yield
        finally:
            await app.state.live.close()
            await engine.dispose()

    app = FastAPI(
        title="ATUM Desk",
        version="0.1.0",
        description="A service desk whose every ticket is a durable Temporal workflow.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.callers = CallerCache(settings.principal_cache_seconds)
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(
        SecurityHeadersMiddleware, api_prefix=API_PREFIX, hsts=settings.env == "prod"
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
            max_age=600,
        )
    install_portal(app, settings, api_prefix=API_PREFIX)
    install_request_context(app)
    app.include_router(health_router)
    if settings.metrics_enabled:
        app.add_api_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
        app.state.ticket_counts = metrics.TicketCounts()
    app.include_router(auth_router, prefix=f"{API_PREFIX}/auth", tags=["auth"])
    # Admin routes live with their domain, all under /admin: the organization's users and
    # services, its SLA policies and calendars, its webhooks.
    app.include_router(admin_router, prefix=f"{API_PREFIX}/admin")
    app.include_router(organization_router, prefix=f"{API_PREFIX}/admin")
    app.include_router(sla_admin_router, prefix=f"{API_PREFIX}/admin")
    app.include_router(webhooks_admin_router, prefix=f"{API_PREFIX}/admin", tags=["webhooks"])
    app.include_router(tickets_router, prefix=API_PREFIX)
    app.include_router(comments_router, prefix=API_PREFIX)
    app.include_router(attachments_router, prefix=f"{API_PREFIX}/attachments", tags=["attachments"])
    app.include_router(
        notifications_router, prefix=f"{API_PREFIX}/notifications", tags=["notifications"]
    )
    app.include_router(reports_router, prefix=API_PREFIX)
    return app


async def _metrics(request: Request) -> Response:
    """Prometheus exposition; unauthenticated, for the operators' network (see README)."""
    body, content_type = await metrics.render(
        request.app.state.sessionmaker, request.app.state.ticket_counts
    )
    return Response(body, media_type=content_type)
