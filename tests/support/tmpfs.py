"""A tiny tmpfs, mounted for one test, for what only a full disk shows.

Mounted with the mount(2) system call (no ``mount`` process): it needs root, or
CAP_SYS_ADMIN; where that is refused the caller skips with the reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from pathlib import Path

MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


class MountRefused(OSError):
    """This process may not mount a file system here."""


@contextlib.contextmanager
def tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    """``path`` (created if missing) as a tmpfs of ``size_bytes``, until the block ends."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size_bytes},mode=0755".encode()
    if _libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", 0, options) != 0:
        errno = ctypes.get_errno()
        raise MountRefused(errno, f"mount tmpfs on {path}: {os.strerror(errno)}")
    try:
        yield path
    finally:
        _libc.umount2(os.fsencode(path), MNT_DETACH)


def fill(directory: Path, *, leave: int = 0) -> Path:
    """Fill the file system of ``directory`` with one file, leaving about ``leave`` bytes."""
    filler = directory / "filler"
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    with filler.open("ab") as handle:
        remaining = max(free - leave, 0)
        chunk = b"\0" * 65536
        with contextlib.suppress(OSError):  # ENOSPC: full is what we want
            while remaining > 0:
                handle.write(chunk[: min(len(chunk), remaining)])
                remaining -= len(chunk)
            handle.flush()
    return filler
