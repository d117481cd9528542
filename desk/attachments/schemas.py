"""Attachment payloads (pydantic only: no SQLAlchemy, so workflows may import them)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class AttachmentRead(BaseModel):
    """An attachment's metadata; the bytes are at ``/api/v1/attachments/{id}/download``."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID
    comment_id: uuid.UUID | None
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: uuid.UUID
    created_at: datetime
    is_internal: bool
