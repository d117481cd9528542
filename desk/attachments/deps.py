"""The attachment service as a request dependency, wired from the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from desk.attachments.service import AttachmentService, UploadLimits
from desk.attachments.storage import AttachmentStorage
from desk.http.deps import SessionMakerDep, SettingsDep


async def get_attachment_service(
    settings: SettingsDep, sessionmaker: SessionMakerDep
) -> AttachmentService:
    """The attachment use cases on this app's database, store and upload limits."""
    return AttachmentService(
        sessionmaker,
        AttachmentStorage(settings.upload_dir),
        UploadLimits(settings.upload_max_bytes, settings.upload_max_per_ticket),
    )


AttachmentServiceDep = Annotated[AttachmentService, Depends(get_attachment_service)]
