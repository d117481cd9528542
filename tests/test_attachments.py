"""Attachments over HTTP on the engine under test: streamed upload, limits, scoping,
downloads with ranges; plus the pure helpers (filenames, ranges, served types)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from desk.app import create_app
from desk.attachments.content import sanitize_filename, served_content_type, sniff_content_type
from desk.attachments.headers import RangeNotSatisfiable, content_disposition, parse_byte_range
from desk.attachments.models import Attachment
from desk.attachments.service import AttachmentService, UploadLimits
from desk.attachments.storage import AttachmentStorage
from desk.enums import Role, TicketStatus
from desk.errors import TicketClosed
from desk.settings import Settings
from desk.tickets.models import AuditLog, Comment, Ticket
from tests.support.attachments import API, BOUNDARY, FORM_HEADERS, form_envelope, form_parts, upload
from tests.support.ports import free_port
from tests.support.tickets import make_ticket
from tests.support.tmpfs import MountRefused, fill, tmpfs

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


# --- Factories and helpers ------------------------------------------------------------


async def make_comment(sessionmaker, ticket, author, *, internal=False) -> Comment:
    async with sessionmaker() as session:
        comment = Comment(
            organization_id=ticket.organization_id,
            ticket_id=ticket.id,
            author_id=author.id,
            content="see attached",
            is_internal=internal,
        )
        session.add(comment)
        await session.commit()
        return comment


@asynccontextmanager
async def app_client(settings: Settings, **overrides) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app built with changed settings (e.g. a small upload limit)."""
    application = create_app(settings.model_copy(update=overrides))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://desk.test") as http:
            yield http


def files_under(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


async def attachment_rows(sessionmaker, ticket_id: uuid.UUID) -> int:
    async with sessionmaker() as session:
        return await session.scalar(
            select(func.count()).select_from(Attachment).where(Attachment.ticket_id == ticket_id)
        )


class Desk:
    """One organization with a customer, an agent and a ticket of that customer; other
    people (a second customer, another organization's users) are made on first use."""

    def __init__(self, world, login):
        self._world, self._login = world, login
        self.auth: dict[str, dict[str, str]] = {}

    async def setup(self, sessionmaker) -> Desk:
        self.org = await self._world.org("Acme")
        self.customer = await self.person("customer", self.org, Role.CUSTOMER)
        self.agent = await self.person("agent", self.org, Role.AGENT)
        self.ticket = await make_ticket(sessionmaker, self.org, self.customer)
        return self

    async def person(self, name: str, org, role: Role):
        user = await self._world.user(org, role)
        self.auth[name] = await self._login(user)
        return user

    async def strangers(self) -> None:
        self.other_customer = await self.person("other_customer", self.org, Role.CUSTOMER)
        other_org = await self._world.org("Globex")
        await self.person("stranger", other_org, Role.CUSTOMER)
        await self.person("stranger_agent", other_org, Role.AGENT)


@pytest.fixture
async def desk(world, sessionmaker, login) -> Desk:
    return await Desk(world, login).setup(sessionmaker)


# --- Upload and download --------------------------------------------------------------


async def test_round_trip_keeps_bytes_and_hash(client, desk, settings, sessionmaker):
    response = await upload(
        client, desk.auth["customer"], desk.ticket.id, PNG, "Screenshot 1.png",
        content_type="text/plain",
    )  # fmt: skip
    assert response.status_code == 201, response.text
    meta = response.json()
    assert meta["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert meta["size"] == len(PNG)
    assert meta["filename"] == "Screenshot 1.png"
    assert meta["content_type"] == "image/png"  # sniffed, not the client's claim
    assert meta["ticket_id"] == str(desk.ticket.id)
    assert meta["uploaded_by"] == str(desk.customer.id)
    assert meta["is_internal"] is False and meta["comment_id"] is None

    stored = settings.upload_dir / str(desk.org.id) / str(desk.ticket.id) / meta["id"]
    assert stored.read_bytes() == PNG
    assert files_under(stored.parent) == [stored]  # no temp file left beside it

    async with sessionmaker() as session:
        row = await session.get(Attachment, uuid.UUID(meta["id"]))
        assert row.claimed_content_type == "text/plain"
        audit = (
            await session.scalars(select(AuditLog).where(AuditLog.ticket_id == desk.ticket.id))
        ).all()
    assert [(a.action, a.ticket_version, a.is_internal) for a in audit] == [
        ("attachment_added", None, False)
    ]
    assert audit[0].actor_id == desk.customer.id
    assert audit[0].details["sha256"] == meta["sha256"]

    download = await client.get(f"{API}/{meta['id']}/download", headers=desk.auth["agent"])
    assert download.status_code == 200
    assert download.content == PNG
    assert hashlib.sha256(download.content).hexdigest() == meta["sha256"]
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-length"] == str(len(PNG))
    assert download.headers["etag"] == f'"{meta["sha256"]}"'
    assert download.headers["accept-ranges"] == "bytes"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"Screenshot 1.png\"; filename*=UTF-8''Screenshot%201.png"
    )

    listing = await client.get(f"{API}/ticket/{desk.ticket.id}", headers=desk.auth["customer"])
    assert listing.status_code == 200
    assert listing.json() == [meta]


async def test_streamed_chunked_upload(client, desk):
    chunks = [os.urandom(50_000) for _ in range(8)]
    response = await upload(
        client, desk.auth["agent"], desk.ticket.id, chunks, "big.bin", streamed=True
    )
    assert response.status_code == 201, response.text
    data = b"".join(chunks)
    assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert response.json()["size"] == len(data)


async def test_over_the_limit_is_413_and_leaves_nothing(settings, desk, sessionmaker):
    ticket_dir = settings.upload_dir / str(desk.org.id) / str(desk.ticket.id)
    async with app_client(settings, upload_max_bytes=1000) as small:
        exactly = await upload(small, desk.auth["customer"], desk.ticket.id, b"x" * 1000)
        assert exactly.status_code == 201, exactly.text
        before = files_under(ticket_dir)

        for streamed in (False, True):
            response = await upload(
                small, desk.auth["customer"], desk.ticket.id, b"x" * 1001, streamed=streamed
            )
            assert response.status_code == 413, response.text
            assert response.json()["code"] == "file_too_large"
        # A declared Content-Length far over the limit is refused before the body is read.
        huge = await upload(small, desk.auth["customer"], desk.ticket.id, b"x" * 200_000)
        assert huge.status_code == 413
        assert huge.json()["code"] == "file_too_large"

    assert files_under(ticket_dir) == before  # no partial file, no temp file
    assert await attachment_rows(sessionmaker, desk.ticket.id) == 1
    async with sessionmaker() as session:
        audits = await session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.ticket_id == desk.ticket.id)
        )
    assert audits == 1


async def test_empty_file_is_422(client, desk, sessionmaker):
    response = await upload(client, desk.auth["customer"], desk.ticket.id, b"")
    assert response.status_code == 422
    assert response.json()["code"] == "empty_file"
    assert await attachment_rows(sessionmaker, desk.ticket.id) == 0


async def test_malformed_requests_are_clear_errors(client, desk):
    auth = desk.auth["customer"]
    url = f"{API}/ticket/{desk.ticket.id}"
    not_multipart = await client.post(url, content=b"hello", headers=auth)
    assert not_multipart.status_code == 415
    assert not_multipart.json()["code"] == "multipart_required"

    no_file = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n'
    no_file += f"--{BOUNDARY}--\r\n"
    response = await client.post(url, content=no_file.encode(), headers={**auth, **FORM_HEADERS})
    assert response.status_code == 422
    assert response.json()["code"] == "file_required"

    truncated = b"".join(form_parts("a.txt", b"abc"))[:-20]
    response = await client.post(url, content=truncated, headers={**auth, **FORM_HEADERS})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_multipart"

    bad_comment = await upload(client, auth, desk.ticket.id, b"abc", fields={"comment_id": "7"})
    assert bad_comment.status_code == 422
    assert bad_comment.json()["code"] == "invalid_comment_id"

    unknown_ticket = await upload(client, auth, uuid.uuid4(), b"abc")
    assert unknown_ticket.status_code == 404


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/absolute/path/x.txt", "x.txt"),
        ("a\x1b[31mred\x07\x00.txt", "a[31mred.txt"),
        ("invoice\u202egnp.exe", "invoicegnp.exe"),  # the bidi override is gone
        (".htaccess", "htaccess"),
        ("...", "file"),
        ("", "file"),
        (None, "file"),
        ("  résumé 履歴書.pdf  ", "résumé 履歴書.pdf"),
        ("cafe\u0301.txt", "café.txt"),  # NFC
        ("trailing. ", "trailing"),
    ],
)
def test_sanitize_filename(raw, expected):
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_caps_bytes_and_keeps_the_extension():
    name = sanitize_filename("é" * 300 + ".tar.gz")
    assert len(name.encode()) <= 255
    assert name.endswith("é.gz") and name.startswith("éé")
    assert sanitize_filename("x" * 400) == "x" * 255
    long_ext = sanitize_filename("a." + "b" * 300)
    assert len(long_ext.encode()) == 255


async def test_hostile_filenames_are_stored_safely(client, desk, settings, sessionmaker):
    ticket_dir = settings.upload_dir / str(desk.org.id) / str(desk.ticket.id)
    outside = settings.upload_dir / "etc"
    cases = {
        b"../../etc/passwd": "passwd",
        b"..%2F..%2Fsecret": "%2F..%2Fsecret",
        b"ctl\x01\x1b\x7fname.txt": "ctlname.txt",
        "снимок экрана.png".encode(): "снимок экрана.png",
    }
    for raw, expected in cases.items():
        response = await upload(client, desk.auth["customer"], desk.ticket.id, b"data", raw)
        assert response.status_code == 201, response.text
        meta = response.json()
        assert meta["filename"] == expected
        stored = ticket_dir / meta["id"]
        assert stored.read_bytes() == b"data"  # named by id under <org>/<ticket>
        download = await client.get(f"{API}/{meta['id']}/download", headers=desk.auth["agent"])
        disposition = download.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="')
        assert "/" not in disposition.split("filename*=")[0]
    assert not outside.exists()
    assert len(files_under(ticket_dir)) == len(cases)


# --- Who may see what -----------------------------------------------------------------


async def test_other_tenants_and_other_customers_get_404(client, desk, sessionmaker):
    await desk.strangers()
    created = await upload(client, desk.auth["customer"], desk.ticket.id, b"private")
    assert created.status_code == 201
    attachment_id = created.json()["id"]
    for who in ("stranger", "stranger_agent", "other_customer"):
        auth = desk.auth[who]
        posted = await upload(client, auth, desk.ticket.id, b"intrusion")
        assert posted.status_code == 404, who
        assert posted.json()["code"] == "ticket_not_found"
        listed = await client.get(f"{API}/ticket/{desk.ticket.id}", headers=auth)
        assert listed.status_code == 404, who
        fetched = await client.get(f"{API}/{attachment_id}/download", headers=auth)
        assert fetched.status_code == 404, who
        assert fetched.json()["code"] == "attachment_not_found"
    assert await attachment_rows(sessionmaker, desk.ticket.id) == 1

    anonymous = await client.get(f"{API}/{attachment_id}/download")
    assert anonymous.status_code == 401


async def test_internal_files_are_hidden_from_customers(client, desk, sessionmaker):
    internal = await make_comment(sessionmaker, desk.ticket, desk.agent, internal=True)
    public = await make_comment(sessionmaker, desk.ticket, desk.agent)
    staff_only = await upload(
        client, desk.auth["agent"], desk.ticket.id, b"internal notes", "notes.txt",
        fields={"comment_id": str(internal.id)},
    )  # fmt: skip
    assert staff_only.status_code == 201, staff_only.text
    assert staff_only.json()["is_internal"] is True
    assert staff_only.json()["comment_id"] == str(internal.id)
    shared = await upload(
        client, desk.auth["agent"], desk.ticket.id, b"for you", "answer.txt",
        fields={"comment_id": str(public.id)},
    )  # fmt: skip
    assert shared.json()["is_internal"] is False

    as_customer = await client.get(f"{API}/ticket/{desk.ticket.id}", headers=desk.auth["customer"])
    assert [a["id"] for a in as_customer.json()] == [shared.json()["id"]]
    as_agent = await client.get(f"{API}/ticket/{desk.ticket.id}", headers=desk.auth["agent"])
    assert {a["id"] for a in as_agent.json()} == {staff_only.json()["id"], shared.json()["id"]}

    hidden = await client.get(
        f"{API}/{staff_only.json()['id']}/download", headers=desk.auth["customer"]
    )
    assert hidden.status_code == 404
    visible = await client.get(
        f"{API}/{staff_only.json()['id']}/download", headers=desk.auth["agent"]
    )
    assert visible.content == b"internal notes"

    # A customer cannot attach to an internal comment, nor to another ticket's comment.
    other_ticket = await make_ticket(sessionmaker, desk.org, desk.customer)
    foreign = await make_comment(sessionmaker, other_ticket, desk.customer)
    for comment in (internal, foreign):
        refused = await upload(
            client, desk.auth["customer"], desk.ticket.id, b"x",
            fields={"comment_id": str(comment.id)},
        )  # fmt: skip
        assert refused.status_code == 404
        assert refused.json()["code"] == "comment_not_found"

    async with sessionmaker() as session:
        audit = (
            await session.scalars(
                select(AuditLog.is_internal)
                .where(AuditLog.ticket_id == desk.ticket.id)
                .order_by(AuditLog.created_at)
            )
        ).all()
    assert sorted(audit) == [False, True]


async def test_comment_id_may_follow_the_file(client, desk, sessionmaker):
    internal = await make_comment(sessionmaker, desk.ticket, desk.agent, internal=True)
    head, _tail = form_envelope("late.txt")
    body = (
        head
        + b"late field"
        + (
            f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="comment_id"\r\n\r\n'
            f"{internal.id}\r\n--{BOUNDARY}--\r\n"
        ).encode()
    )
    url = f"{API}/ticket/{desk.ticket.id}"
    response = await client.post(url, content=body, headers={**desk.auth["agent"], **FORM_HEADERS})
    assert response.status_code == 201, response.text
    assert response.json()["comment_id"] == str(internal.id)
    assert response.json()["is_internal"] is True


async def test_listing_is_paginated(client, desk):
    ids = []
    for n in range(3):
        response = await upload(client, desk.auth["customer"], desk.ticket.id, b"n%d" % n)
        ids.append(response.json()["id"])
    url = f"{API}/ticket/{desk.ticket.id}"
    first = await client.get(url, params={"limit": 2}, headers=desk.auth["customer"])
    rest = await client.get(url, params={"limit": 2, "offset": 2}, headers=desk.auth["customer"])
    assert [a["id"] for a in first.json() + rest.json()] == ids
    too_many = await client.get(url, params={"limit": 1000}, headers=desk.auth["customer"])
    assert too_many.status_code == 422


# --- Ticket state and limits ----------------------------------------------------------


async def test_closed_ticket_refuses_uploads(client, desk, world, sessionmaker, settings):
    closed = await make_ticket(sessionmaker, desk.org, desk.customer, TicketStatus.CLOSED)
    response = await upload(client, desk.auth["agent"], closed.id, b"too late")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "ticket is closed",
        "code": "ticket_closed",
        "current_status": "CLOSED",
        "allowed": [],
    }
    assert await attachment_rows(sessionmaker, closed.id) == 0
    assert files_under(settings.upload_dir / str(desk.org.id) / str(closed.id)) == []


async def test_a_ticket_closed_during_the_transfer_gets_no_file(desk, sessionmaker, settings):
    """The service holds no transaction while the body arrives (so on SQLite another writer
    can close the ticket meanwhile), and checks the ticket again before recording."""
    attachments = AttachmentService(
        sessionmaker, AttachmentStorage(settings.upload_dir), UploadLimits(1000, 10)
    )
    head, tail = form_envelope("late.txt")

    async def body() -> AsyncIterator[bytes]:
        yield head + b"first half, "
        async with sessionmaker() as session:
            ticket = await session.get(Ticket, desk.ticket.id)
            ticket.status = TicketStatus.CLOSED
            await session.commit()
        yield b"second half" + tail

    with pytest.raises(TicketClosed):
        await attachments.upload(
            desk.customer, desk.ticket.id, body(), boundary=BOUNDARY.encode(), declared_length=None
        )
    assert await attachment_rows(sessionmaker, desk.ticket.id) == 0
    assert files_under(settings.upload_dir / str(desk.org.id) / str(desk.ticket.id)) == []


async def test_per_ticket_file_limit(settings, desk, sessionmaker):
    async with app_client(settings, upload_max_per_ticket=2) as limited:
        for n in range(2):
            ok = await upload(limited, desk.auth["customer"], desk.ticket.id, b"%d" % n)
            assert ok.status_code == 201
        third = await upload(limited, desk.auth["customer"], desk.ticket.id, b"3")
    assert third.status_code == 409
    assert third.json()["code"] == "too_many_attachments"
    assert await attachment_rows(sessionmaker, desk.ticket.id) == 2


# --- Download details -----------------------------------------------------------------


async def test_range_requests(client, desk):
    data = os.urandom(200_000)
    meta = (await upload(client, desk.auth["customer"], desk.ticket.id, data)).json()
    url = f"{API}/{meta['id']}/download"
    auth = desk.auth["customer"]

    part = await client.get(url, headers={**auth, "Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert part.headers["content-length"] == "1000"

    resume = await client.get(url, headers={**auth, "Range": "bytes=150000-"})
    assert resume.status_code == 206 and resume.content == data[150000:]
    tail = await client.get(url, headers={**auth, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    clipped = await client.get(url, headers={**auth, "Range": "bytes=199990-999999"})
    assert clipped.content == data[199990:]

    beyond = await client.get(url, headers={**auth, "Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert beyond.json()["code"] == "range_not_satisfiable"

    stale = await client.get(url, headers={**auth, "Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == data
    fresh = await client.get(
        url, headers={**auth, "Range": "bytes=0-9", "If-Range": f'"{meta["sha256"]}"'}
    )
    assert fresh.status_code == 206 and fresh.content == data[:10]

    cached = await client.get(url, headers={**auth, "If-None-Match": f'"{meta["sha256"]}"'})
    assert cached.status_code == 304 and cached.content == b""


def test_parse_byte_range():
    assert parse_byte_range(None, 100) is None
    assert parse_byte_range("bytes=0-0", 100) == (0, 0)
    assert parse_byte_range("bytes=10-", 100) == (10, 99)
    assert parse_byte_range("bytes=-200", 100) == (0, 99)
    assert parse_byte_range("bytes=90-500", 100) == (90, 99)
    assert parse_byte_range("bytes=0-1,5-6", 100) is None  # several ranges: whole file
    assert parse_byte_range("items=0-1", 100) is None
    assert parse_byte_range("bytes=5-1", 100) is None
    assert parse_byte_range("bytes=٣-", 100) is None  # non-ASCII digits
    for header in ("bytes=100-", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            parse_byte_range(header, 100)


async def test_active_content_is_never_served_inline(client, desk):
    html = b"<!doctype html><script>alert(document.cookie)</script>"
    exe = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + os.urandom(512)
    for content, name in ((html, "page.html"), (exe, "setup.exe")):
        meta = (
            await upload(
                client, desk.auth["customer"], desk.ticket.id, content, name,
                content_type="text/html",
            )
        ).json()  # fmt: skip
        download = await client.get(f"{API}/{meta['id']}/download", headers=desk.auth["agent"])
        assert download.headers["content-type"].split(";")[0] in {
            "text/plain",
            "application/octet-stream",
        }
        assert download.headers["content-disposition"].startswith("attachment;")
        assert download.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "stored",
    ["text/html", "image/svg+xml", "application/xml", "text/javascript", "application/x-msdownload",
     "application/x-executable", "application/xhtml+xml", "", "garbage"],
)  # fmt: skip
def test_served_content_type_blocks_active_types(stored):
    assert served_content_type(stored) == "application/octet-stream"


def test_served_and_sniffed_types():
    assert served_content_type("image/png") == "image/png"
    assert served_content_type("application/pdf") == "application/pdf"
    assert sniff_content_type(PNG) == "image/png"
    assert sniff_content_type("héllo wörld".encode()) == "text/plain"
    assert sniff_content_type(b"\x00\x01\x02") == "application/octet-stream"


def test_content_disposition_has_ascii_fallback_and_utf8_name():
    value = content_disposition('日本 "résumé".pdf')
    assert value == (
        'attachment; filename="__ _resume_.pdf"; '
        "filename*=UTF-8''%E6%97%A5%E6%9C%AC%20%22r%C3%A9sum%C3%A9%22.pdf"
    )
    value.encode("latin-1")  # a valid header value


async def test_missing_or_damaged_file_is_410(client, desk, settings):
    meta = (await upload(client, desk.auth["customer"], desk.ticket.id, b"soon gone")).json()
    (settings.upload_dir / str(desk.org.id) / str(desk.ticket.id) / meta["id"]).unlink()
    response = await client.get(f"{API}/{meta['id']}/download", headers=desk.auth["customer"])
    assert response.status_code == 410
    assert response.json()["code"] == "attachment_missing"

    meta = (await upload(client, desk.auth["customer"], desk.ticket.id, b"soon cut short")).json()
    (settings.upload_dir / str(desk.org.id) / str(desk.ticket.id) / meta["id"]).write_bytes(b"x")
    response = await client.get(f"{API}/{meta['id']}/download", headers=desk.auth["customer"])
    assert response.status_code == 410
    assert response.json()["code"] == "attachment_corrupt"


# --- Memory: a 200 MB upload through a real server ------------------------------------

BIG_UPLOAD_BYTES = 200 * 1024 * 1024
SERVER_MEMORY_HEADROOM = 40 * 1024 * 1024  # far below the file: the body is never held


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


@asynccontextmanager
async def uvicorn_server(settings: Settings, upload_dir: Path) -> AsyncIterator[tuple[str, int]]:
    """The API in its own process, as deployed; yields its base URL and pid."""
    port = free_port()
    env = {
        **os.environ,
        "DESK_ENV": "test",
        "DESK_DATABASE_URL": settings.database_url,
        "DESK_JWT_SECRET": settings.jwt_secret.get_secret_value(),
        "DESK_UPLOAD_DIR": str(upload_dir),
        "DESK_UPLOAD_MAX_BYTES": str(BIG_UPLOAD_BYTES + 1024),
        "DESK_TEMPORAL_ADDRESS": settings.temporal_address,
        "DESK_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "desk.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        env=env,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as probe:
            for _ in range(200):
                assert process.returncode is None, "the API server exited"
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the API server did not start")
        yield base_url, process.pid
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)


def _reset_peak_rss(pid: int) -> int:
    """Reset the process's peak RSS to its current RSS (Linux >= 4.0); returns the KiB the
    peak now starts from."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return _rss_kib(pid, "VmRSS")
    except OSError:  # not permitted: the old peak is the (conservative) baseline
        return _rss_kib(pid, "VmHWM")


@pytest.mark.subprocess
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
async def test_200_mb_upload_streams_in_little_memory(desk, settings, tmp_path):
    """A 200 MB upload through uvicorn: the server's peak RSS grows by far less than the
    file (Linux /proc accounting), and the stored bytes hash as sent."""
    block = os.urandom(1024 * 1024)
    expected = hashlib.sha256()

    head, tail = form_envelope("big.bin")

    async def body() -> AsyncIterator[bytes]:
        yield head
        for n in range(BIG_UPLOAD_BYTES // len(block)):  # 200 blocks, each a bit different
            chunk = n.to_bytes(4, "big") + block[4:]
            expected.update(chunk)
            yield chunk
        yield tail

    auth = {**desk.auth["agent"], **FORM_HEADERS}
    declared = {"Content-Length": str(len(head) + BIG_UPLOAD_BYTES + len(tail))}
    async with (
        uvicorn_server(settings, tmp_path) as (base_url, pid),
        httpx.AsyncClient(base_url=base_url, timeout=120) as http,
    ):
        url = f"{API}/ticket/{desk.ticket.id}"
        warm_up = b"".join(form_parts("w.txt", b"warm up"))
        warm = await http.post(url, content=warm_up, headers=auth)
        assert warm.status_code == 201, warm.text
        baseline = _reset_peak_rss(pid)  # so the peak read below is this upload's alone
        started = time.monotonic()
        response = await http.post(url, content=body(), headers={**auth, **declared})
        elapsed = time.monotonic() - started
        peak = _rss_kib(pid, "VmHWM")

    assert response.status_code == 201, response.text
    meta = response.json()
    assert meta["size"] == BIG_UPLOAD_BYTES
    assert meta["sha256"] == expected.hexdigest()
    stored = tmp_path / str(desk.org.id) / str(desk.ticket.id) / meta["id"]
    assert stored.stat().st_size == BIG_UPLOAD_BYTES
    growth = (peak - baseline) * 1024
    print(
        f"\n200 MiB upload in {elapsed:.1f} s ({BIG_UPLOAD_BYTES / 2**20 / elapsed:.0f} MiB/s); "
        f"server peak RSS grew by {growth / 2**20:.1f} MiB (baseline {baseline / 1024:.0f} MiB)"
    )
    assert growth < SERVER_MEMORY_HEADROOM


# --- A full disk ----------------------------------------------------------------------


async def test_a_full_disk_is_507_and_leaves_nothing(settings, desk, sessionmaker, tmp_path):
    try:
        store = tmpfs(tmp_path / "store", 1024 * 1024)
        root = store.__enter__()
    except MountRefused as exc:
        pytest.skip(f"cannot mount a tmpfs to fill ({exc}); needs root or CAP_SYS_ADMIN")
    try:
        async with app_client(settings, upload_dir=root) as http:
            filler = fill(root, leave=4096)
            for streamed in (False, True):
                response = await upload(
                    http,
                    desk.auth["customer"],
                    desk.ticket.id,
                    os.urandom(64_000),
                    streamed=streamed,
                )
                assert response.status_code == 507, response.text
                assert response.json()["code"] == "insufficient_storage"
            assert [p for p in files_under(root) if p != filler] == []
            assert await attachment_rows(sessionmaker, desk.ticket.id) == 0

            filler.unlink()  # space again: the same upload goes through
            response = await upload(http, desk.auth["customer"], desk.ticket.id, b"x" * 64_000)
            assert response.status_code == 201, response.text
            assert await attachment_rows(sessionmaker, desk.ticket.id) == 1
    finally:
        store.__exit__(None, None, None)
