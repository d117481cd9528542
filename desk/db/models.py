"""Imports every ORM model so the metadata is complete (Alembic, mapper configuration)."""

from desk.admin.models import Service
from desk.attachments.models import Attachment
from desk.auth.models import Organization, PortalSession, RefreshToken, User
from desk.db.base import Base
from desk.live.models import LiveEvent
from desk.notifications.models import EmailDelivery, Notification, Webhook, WebhookDelivery
from desk.sla.models import BusinessCalendar, SlaFact, SlaPolicy
from desk.tickets.models import AuditLog, Comment, Ticket

__all__ = [
    "Attachment",
    "AuditLog",
    "Base",
    "BusinessCalendar",
    "Comment",
    "EmailDelivery",
    "LiveEvent",
    "Notification",
    "Organization",
    "PortalSession",
    "RefreshToken",
    "Service",
    "SlaFact",
    "SlaPolicy",
    "Ticket",
    "User",
    "Webhook",
    "WebhookDelivery",
]
