"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(Health):
    checks: dict[Literal["database", "temporal"], Literal["ok", "unavailable"]]


@router.get("/healthz", name="live", response_model=Health)
async def healthz() -> Health:
    """The process is up."""
    return Health()


async def _database_ok(request: Request) -> bool:
    try:
        async with request.app.state.engine.connect() as connection:
            await asyncio.wait_for(connection.execute(text("SELECT 1")), timeout=3)
        return True
    except Exception:
        return False


@router.get("/readyz", name="ready", response_model=Readiness)
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database and Temporal both answer; 503 naming whichever does not."""
    database, temporal = await asyncio.gather(
        _database_ok(request), request.app.state.temporal.ping()
    )
    checks = {
        "database": "ok" if database else "unavailable",
        "temporal": "ok" if temporal else "unavailable",
    }
    if database and temporal:
        return JSONResponse(Readiness(checks=checks).model_dump())
    down = [name for name, state in checks.items() if state != "ok"]
    return JSONResponse(
        status_code=503,
        content={
            "detail": f"not ready: {', '.join(down)} unavailable",
            "code": "not_ready",
            "checks": checks,
        },
        headers={"Retry-After": "5"},
    )
