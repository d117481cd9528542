"""What an attachment is called and what it is: the stored name, the sniffed type, the type
a download goes out under. Pure functions: no I/O, no database."""

from __future__ import annotations

import codecs
import unicodedata

import filetype

MAX_FILENAME_BYTES = 255
MAX_EXTENSION_CHARS = 16
DEFAULT_FILENAME = "file"
OCTET_STREAM = "application/octet-stream"
_STRIPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})

# Never rendered by a browser, whatever the upload looked like: served as opaque downloads.
_UNSAFE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/wasm",
        "application/x-executable",
        "application/x-msdownload",
        "application/x-dosexec",
        "application/x-mach-binary",
        "application/x-sh",
        "application/x-msi",
        "application/vnd.microsoft.portable-executable",
        "application/vnd.ms-cab-compressed",
        "application/x-shockwave-flash",
        "application/java-archive",
        "application/x-google-chrome-extension",
        "application/x-deb",
        "application/x-rpm",
    }
)


def sanitize_filename(raw: str | None) -> str:
    """A display name safe to store and echo: the last path segment, without control or
    format characters and leading dots, NFC-normalized, at most 255 UTF-8 bytes with the
    extension kept. Unicode letters stay; an empty result becomes ``"file"``."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Controls, bidi overrides and other invisible format characters, surrogates, private
    # use and line separators: none belongs in a name a person reads.
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _STRIPPED_CATEGORIES)
    name = name.strip().lstrip(".").strip()
    name = name.rstrip(". ")  # Windows drops these silently; keep what the user will see
    if not name:
        return DEFAULT_FILENAME
    return _cap_utf8(name, MAX_FILENAME_BYTES)


def _cap_utf8(name: str, limit: int) -> str:
    if len(name.encode()) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > MAX_EXTENSION_CHARS:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    budget = limit - len(suffix.encode())
    cut = stem.encode()[:budget].decode(errors="ignore").rstrip(". ")
    return (cut + suffix) if cut else DEFAULT_FILENAME


def sniff_content_type(head: bytes) -> str:
    """The content type the first bytes show (magic numbers), else text/plain for UTF-8
    text without NULs, else application/octet-stream. The client's claim is not used."""
    kind = filetype.guess(head) if head else None
    if kind is not None:
        return kind.mime
    if head and b"\x00" not in head:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        except UnicodeDecodeError:
            return OCTET_STREAM
        return "text/plain"
    return OCTET_STREAM


def served_content_type(stored: str | None) -> str:
    """The Content-Type a download is served with: active or executable content never
    goes out under its own type."""
    base = (stored or "").split(";", 1)[0].strip().lower()
    if (
        "/" not in base
        or base in _UNSAFE_TYPES
        or base.endswith(("+xml", "/xml"))
        or "html" in base
        or "javascript" in base
    ):
        return OCTET_STREAM
    return base
