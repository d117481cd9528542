"""Attachment bytes on disk: ``<root>/<organization_id>/<ticket_id>/<attachment_id>``.

Uploads are written to a hidden temp file in the final directory (same file system, so the
rename that publishes them is atomic) and hashed as they are written.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from desk.errors import InsufficientStorage

CHUNK_SIZE = 1024 * 1024
TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".part"
# A temp file untouched for this long belongs to no running upload any more.
STALE_TEMP_SECONDS = 3600

# What a full file system (or a quota) answers a write: the client's 507, not our 500.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT})

_DIR_MODE = 0o750
_FILE_MODE = 0o640


@dataclass(frozen=True)
class StoredFile:
    """A regular file found under the store's root."""

    path: Path
    organization_id: uuid.UUID | None
    ticket_id: uuid.UUID | None
    attachment_id: uuid.UUID | None  # None: not named like an attachment (temp or stray file)
    is_temp: bool
    mtime: float


class AttachmentStorage:
    """Where attachment files live; every path is built from ids, never from client input."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def ticket_dir(self, organization_id: uuid.UUID, ticket_id: uuid.UUID) -> Path:
        return self.root / str(organization_id) / str(ticket_id)

    def path(
        self, organization_id: uuid.UUID, ticket_id: uuid.UUID, attachment_id: uuid.UUID
    ) -> Path:
        return self.ticket_dir(organization_id, ticket_id) / str(attachment_id)

    def temp_path(
        self, organization_id: uuid.UUID, ticket_id: uuid.UUID, attachment_id: uuid.UUID
    ) -> Path:
        name = f"{TEMP_PREFIX}{attachment_id}{TEMP_SUFFIX}"
        return self.ticket_dir(organization_id, ticket_id) / name

    def open_writer(
        self, organization_id: uuid.UUID, ticket_id: uuid.UUID, attachment_id: uuid.UUID
    ) -> HashingWriter:
        """A new temp file for an upload (its directories are made as needed)."""
        directory = self.ticket_dir(organization_id, ticket_id)
        with no_room_is_507():
            directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            return HashingWriter(
                self.temp_path(organization_id, ticket_id, attachment_id),
                self.path(organization_id, ticket_id, attachment_id),
            )

    def walk(self, organization_id: uuid.UUID | None = None) -> Iterator[StoredFile]:
        """Every regular file in the store (or in one organization's part of it)."""
        top = self.root / str(organization_id) if organization_id else self.root
        if not top.is_dir():
            return
        for dirpath, _dirnames, filenames in os.walk(top):
            parts = Path(dirpath).relative_to(self.root).parts
            for name in filenames:
                path = Path(dirpath) / name
                try:
                    info = path.lstat()
                except FileNotFoundError:  # removed while we walk (an upload cleaning up)
                    continue
                yield _classify(path, parts, name, info.st_mtime)


def _classify(path: Path, parts: tuple[str, ...], name: str, mtime: float) -> StoredFile:
    org = ticket = attachment = None
    is_temp = name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)
    if len(parts) == 2:
        org, ticket = _uuid_or_none(parts[0]), _uuid_or_none(parts[1])
        if org and ticket and not is_temp:
            attachment = _uuid_or_none(name)
    return StoredFile(path, org, ticket, attachment, is_temp, mtime)


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        value = uuid.UUID(text)
    except ValueError:
        return None
    return value if str(value) == text else None  # only the canonical spelling is ours


def is_stale_temp(stored: StoredFile, now: float | None = None) -> bool:
    return stored.is_temp and (now or time.time()) - stored.mtime > STALE_TEMP_SECONDS


class HashingWriter:
    """Writes an upload to its temp file while computing size and SHA-256.

    Blocking file work runs in a worker thread so the event loop keeps serving.
    """

    def __init__(self, temp_path: Path, final_path: Path):
        self.temp_path = temp_path
        self.final_path = final_path
        self.size = 0
        self._hash = hashlib.sha256()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        self._fd: int | None = os.open(temp_path, flags, _FILE_MODE)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def write(self, chunks: list[memoryview | bytes]) -> None:
        await anyio.to_thread.run_sync(self._write_sync, chunks)

    def _write_sync(self, chunks: list[memoryview | bytes]) -> None:
        assert self._fd is not None, "writer is closed"
        with no_room_is_507():
            for chunk in chunks:
                self._hash.update(chunk)
                view = memoryview(chunk)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
                self.size += len(chunk)

    async def finish(self) -> None:
        """Flush the bytes to stable storage and close the temp file."""
        await anyio.to_thread.run_sync(self._finish_sync)

    def _finish_sync(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                with no_room_is_507():  # a delayed allocation can fail only here
                    os.fsync(fd)
            finally:
                os.close(fd)

    async def publish(self) -> None:
        """Move the finished temp file to its final name (atomic on one file system)."""
        await anyio.to_thread.run_sync(os.replace, self.temp_path, self.final_path)

    async def discard(self) -> None:
        """Remove whatever this upload left on disk: temp file and, if published, the file."""
        await anyio.to_thread.run_sync(self._discard_sync)

    def _discard_sync(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        for path in (self.temp_path, self.final_path):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def no_room_is_507() -> Iterator[None]:
    """Turn "no space left" (or "quota exceeded") into the client's 507."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        raise InsufficientStorage(
            "no room left to store the file; try again later", code="insufficient_storage"
        ) from None


def hash_file(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
