"""Temporal activities: everything with I/O that a workflow needs done."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.notifications import NotificationActivities
from activities.tickets import TicketActivities
from desk.settings import Settings


def build_activities(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> list[Callable[..., Any]]:
    """The activity callables the worker registers, bound to their dependencies."""
    tickets = TicketActivities(sessionmaker)
    notifications = NotificationActivities(settings, sessionmaker)
    return [
        tickets.project_ticket,
        notifications.notify_email,
        notifications.notify_webhooks,
    ]


async def close_activities(activities: Iterable[Callable[..., Any]]) -> None:
    """Release what the activities' owners hold (e.g. an HTTP client), once per owner: at
    worker shutdown, after the worker stopped running them."""
    owners = {id(owner): owner for fn in activities if (owner := getattr(fn, "__self__", None))}
    for owner in owners.values():
        if (aclose := getattr(owner, "aclose", None)) is not None:
            await aclose()
