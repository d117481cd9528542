"""`desk attachments verify`: every stored file re-hashed against its row, rows without
files and files without rows found."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from desk.attachments.models import Attachment
from desk.attachments.storage import AttachmentStorage, hash_file, is_stale_temp


@dataclass
class VerifyReport:
    """What `desk attachments verify` found."""

    checked: int = 0
    bytes_checked: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.orphans)


ProgressFn = Callable[[int, int, int], None]  # (files checked, files in total, bytes checked)
VERIFY_PAGE = 500
PROGRESS_EVERY_SECONDS = 2.0


async def verify_store(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: AttachmentStorage,
    *,
    organization_id: uuid.UUID | None = None,
    progress: ProgressFn | None = None,
) -> VerifyReport:
    """Re-hash every stored file against its row; find rows without files and files
    without rows. Rows are read in short pages so no transaction (or SQLite write lock)
    lasts while files are hashed."""
    report = VerifyReport()
    base = select(Attachment)
    if organization_id:
        base = base.where(Attachment.organization_id == organization_id)
    async with sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(base.subquery())) or 0
    known: set[Path] = set()
    last_report = time.monotonic()
    after: uuid.UUID | None = None
    while True:
        page = base.order_by(Attachment.id).limit(VERIFY_PAGE)
        if after is not None:
            page = page.where(Attachment.id > after)
        async with sessionmaker() as session:
            rows = list((await session.scalars(page)).all())
        if not rows:
            break
        after = rows[-1].id
        for row in rows:
            path = storage.path(row.organization_id, row.ticket_id, row.id)
            known.add(path)
            await _verify_one(report, row, path)
            if progress and time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
                progress(report.checked, total, report.bytes_checked)
                last_report = time.monotonic()
    await _find_orphans(sessionmaker, storage, organization_id, known, report)
    if progress:
        progress(report.checked, total, report.bytes_checked)
    return report


async def _verify_one(report: VerifyReport, row: Attachment, path: Path) -> None:
    report.checked += 1
    try:
        size, digest = await anyio.to_thread.run_sync(hash_file, path)
    except FileNotFoundError:
        report.missing.append(f"{row.id} {path}")
        return
    report.bytes_checked += size
    if size != row.size or digest != row.sha256:
        report.mismatched.append(
            f"{row.id} {path}: expected {row.size} bytes sha256 {row.sha256}, "
            f"found {size} bytes sha256 {digest}"
        )


async def _find_orphans(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: AttachmentStorage,
    organization_id: uuid.UUID | None,
    known: set[Path],
    report: VerifyReport,
) -> None:
    candidates = await anyio.to_thread.run_sync(
        lambda: [
            stored
            for stored in storage.walk(organization_id)
            if stored.path not in known and (not stored.is_temp or is_stale_temp(stored))
        ]
    )
    # A file published after its page was read has a row by now: look again before blaming.
    ids = [c.attachment_id for c in candidates if c.attachment_id]
    rows: set[Path] = set()
    for start in range(0, len(ids), VERIFY_PAGE):
        async with sessionmaker() as session:
            found = await session.scalars(
                select(Attachment).where(Attachment.id.in_(ids[start : start + VERIFY_PAGE]))
            )
            rows |= {storage.path(r.organization_id, r.ticket_id, r.id) for r in found}
    report.orphans.extend(str(c.path) for c in candidates if c.path not in rows)
