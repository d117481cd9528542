"""Request-scoped dependencies: settings, database sessions, the Temporal client.

All are ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a hop per
request for what is an attribute lookup.

SQLite note: a session holds SQLite's write lock from its first statement until it ends
(``BEGIN IMMEDIATE``), so a route must end its transaction before it waits on a workflow
whose activity writes the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from desk.settings import Settings
from desk.temporal import TemporalConnection


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.sessionmaker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session whose transaction the route owns: commit explicitly; rolled back otherwise."""
    async with request.app.state.sessionmaker() as session:
        yield session


async def get_temporal(request: Request) -> Client:
    connection: TemporalConnection = request.app.state.temporal
    return await connection.get()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionMakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
