"""Streamed multipart/form-data parsing: the file part goes to a writer chunk by chunk, the
other small fields are collected, and the size limit holds before bytes reach the disk."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from desk.attachments.storage import HashingWriter
from desk.errors import DeskError, PayloadTooLarge, Unprocessable

FILE_FIELD = "file"
COMMENT_FIELD = "comment_id"
# Room for the multipart framing around the file: boundaries, part headers, small fields.
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_FIELD_BYTES = 1024
MAX_FIELDS = 16
SNIFF_BYTES = 8192


class UnsupportedMediaType(DeskError):
    """The request body is not in a supported format."""

    status_code = 415
    code = "unsupported_media_type"


_UUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass
class ReceivedForm:
    """What the multipart body held besides the file bytes (those went to the writer)."""

    filename: str | None = None
    claimed_content_type: str | None = None
    head: bytes = b""
    fields: dict[str, str] = field(default_factory=dict)
    has_file: bool = False

    def comment_id(self) -> uuid.UUID | None:
        """The comment the file belongs to, if the form has the field; 422 unless it is a
        UUID in its usual hyphenated form (as the document says), even when empty."""
        if COMMENT_FIELD not in self.fields:
            return None
        raw = self.fields[COMMENT_FIELD]
        if not _UUID.match(raw):
            raise Unprocessable("comment_id is not a UUID", code="invalid_comment_id")
        return uuid.UUID(raw)


class _FormCollector:
    """python-multipart callbacks for one request. Callbacks are synchronous, so file
    bytes are queued in ``pending`` and written by the caller after each chunk; the size
    limit is enforced here, before anything over it reaches the disk."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.form = ReceivedForm()
        self.pending: list[memoryview] = []
        self.file_size = 0
        self.ended = False
        self._head = bytearray()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._part: str | None = None  # "file", "field", or None (ignored field)
        self._field_name = ""
        self._field_value = bytearray()
        self._field_count = 0

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._part = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        name = options.get(b"name")
        if disposition != b"form-data" or name is None:
            raise DeskError("a multipart part lacks its form-data name", code="invalid_multipart")
        field_name = name.decode("utf-8", errors="replace")
        if field_name == FILE_FIELD:
            if self.form.has_file:
                raise Unprocessable("send one file per request", code="too_many_files")
            self.form.has_file = True
            raw = options.get(b"filename")
            self.form.filename = raw.decode("utf-8", errors="replace") if raw else None
            claimed = self._headers.get(b"content-type", b"").decode("latin-1").strip()
            self.form.claimed_content_type = claimed[:255] or None
            self._part = "file"
            return
        self._field_count += 1
        if self._field_count > MAX_FIELDS:
            raise Unprocessable("too many form fields", code="too_many_fields")
        self._part = "field" if field_name == COMMENT_FIELD else None
        self._field_name = field_name
        self._field_value.clear()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            self.file_size += end - start
            if self.file_size > self.max_bytes:
                raise _too_large(self.max_bytes)
            chunk = memoryview(data)[start:end]
            if len(self._head) < SNIFF_BYTES:
                self._head += chunk[: SNIFF_BYTES - len(self._head)]
            self.pending.append(chunk)
        elif self._part == "field":
            self._field_value += data[start:end]
            if len(self._field_value) > MAX_FIELD_BYTES:
                raise Unprocessable(f"field {self._field_name} is too long", code="field_too_long")

    def on_part_end(self) -> None:
        if self._part == "file":
            self.form.head = bytes(self._head)
        elif self._part == "field":
            self.form.fields[self._field_name] = self._field_value.decode("utf-8", "replace")
        self._part = None

    def on_end(self) -> None:
        self.ended = True


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data body, or 415."""
    media_type, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            "send the file as multipart/form-data in a field named 'file'",
            code="multipart_required",
        )
    return boundary


def check_declared_length(declared: int | None, max_bytes: int) -> None:
    """Refuse a body whose declared size cannot fit, before reading any of it."""
    if declared is not None and declared > max_bytes + FORM_OVERHEAD_BYTES:
        raise _too_large(max_bytes)


async def receive_form(
    stream: AsyncIterator[bytes], boundary: bytes, writer: HashingWriter, max_bytes: int
) -> ReceivedForm:
    """Parse a multipart body as it arrives, writing the file part's bytes to ``writer``.

    Memory stays at about one network chunk whatever the file size. Raises 413 as soon as
    the file (or the whole body) passes the limit; the caller discards the writer.
    """
    collector = _FormCollector(max_bytes)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
    except FormParserError as exc:
        raise DeskError("invalid multipart boundary", code="invalid_multipart") from exc
    body_limit = max_bytes + FORM_OVERHEAD_BYTES
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > body_limit:
                raise _too_large(max_bytes)
            if collector.ended:
                continue  # epilogue after the closing boundary: ignored
            parser.write(chunk)
            if collector.pending:
                await writer.write(collector.pending)
                collector.pending = []
    except FormParserError as exc:
        raise DeskError("the multipart body is malformed", code="invalid_multipart") from exc
    if not collector.ended:
        raise DeskError("the multipart body is incomplete", code="invalid_multipart")
    await writer.finish()
    return collector.form


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the file is over the {max_bytes} byte limit", code="file_too_large")


async def receive_file(
    chunks: AsyncIterator[bytes],
    writer: HashingWriter,
    max_bytes: int,
    *,
    filename: str | None,
    content_type: str | None,
    comment_id: uuid.UUID | None = None,
) -> ReceivedForm:
    """A file already parsed out of its form (a portal form's upload), written to
    ``writer`` chunk by chunk under the same size limit as :func:`receive_form`."""
    form = ReceivedForm(
        filename=filename,
        claimed_content_type=(content_type or "")[:255] or None,
        fields={COMMENT_FIELD: str(comment_id)} if comment_id else {},
        has_file=True,
    )
    head, size = bytearray(), 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        await writer.write([chunk])
    await writer.finish()
    form.head = bytes(head)
    return form
