"""Temporal activities: everything with I/O that a workflow needs done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.tickets import TicketActivities
from desk.settings import Settings


def build_activities(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> list[Callable[..., Any]]:
    """The activity callables the worker registers, bound to their dependencies."""
    tickets = TicketActivities(sessionmaker)
    return [tickets.project_ticket]
