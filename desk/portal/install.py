"""Mounting the portal on the app: its pages, its static files, CSRF protection."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from desk.portal.csrf import CsrfMiddleware
from desk.portal.pages import router
from desk.portal.report_page import router as report_router
from desk.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


def install_portal(app: FastAPI, settings: Settings, *, api_prefix: str) -> None:
    app.add_middleware(CsrfMiddleware, settings=settings, api_prefix=api_prefix)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.include_router(report_router)
