"""Real servers on loopback for what the desk sends out: a signature-checking HTTP receiver
for webhooks, and an SMTP server (aiosmtpd) for email. Each serves until its block ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from desk.notifications.models import Webhook
from desk.notifications.webhooks import verify_signature

SECRET = "a-webhook-secret-of-some-length"

# --- Webhooks -------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server (asyncio streams) that checks X-Desk-Signature with
    ``secret`` (401 if wrong) and answers ``status[path]`` (default 200), with a Location
    header if ``location[path]`` is set."""

    secret: str = SECRET
    status: dict[str, int] = field(default_factory=dict)
    location: dict[str, str] = field(default_factory=dict)
    delay: dict[str, float] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    handlers: set[asyncio.Task] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """Listen on a free port of 127.0.0.1 (``port``) until the block ends."""
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield
        finally:
            server.close()
            for handler in list(self.handlers):  # e.g. one still "slow" after a client timeout
                handler.cancel()
            await server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self.handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            _method, path, _version = request_line.split(" ")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in header_lines if line)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            valid = verify_signature(self.secret, body, headers.get("x-desk-signature"))
            self.requests.append(Received(path, headers, body, valid))
            if path in self.delay:
                await asyncio.sleep(self.delay[path])
            status = self.status.get(path, 200) if valid else 401
            text = b"bad signature" if not valid else b"ok"
            location = f"Location: {self.location[path]}\r\n" if path in self.location else ""
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(text)}\r\n{location}"
                f"Connection: close\r\n\r\n".encode()
                + text
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.handlers.discard(task)
            writer.close()


async def add_webhook(
    world, org, url: str, *, events=("SLA_BREACHED",), secret=SECRET, **fields
) -> Webhook:
    """A webhook of ``org`` to ``url``, written straight to the database."""
    async with world.sessionmaker() as session:
        webhook = Webhook(
            organization_id=org.id, url=url, secret=secret, events=list(events), **fields
        )
        session.add(webhook)
        await session.commit()
        return webhook


# --- Email ----------------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler: keeps what it receives; can refuse recipients with a reply."""

    received: list[Envelope] = field(default_factory=list)
    refuse_rcpt: str | None = None  # e.g. "550 5.1.1 no such user"

    async def handle_RCPT(
        self, server, session: Session, envelope: Envelope, address: str, rcpt_options
    ) -> str:
        if self.refuse_rcpt and address.startswith("refused"):
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A running ``serve_smtp()``: where it listens, and what it has received."""

    inbox: Inbox
    port: int


@asynccontextmanager
async def serve_smtp() -> AsyncIterator[SmtpServer]:
    """An SMTP server on a free port of 127.0.0.1 until the block ends."""
    inbox = Inbox()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTPServer(inbox, hostname="smtp.desk.test"), "127.0.0.1", 0
    )
    try:
        yield SmtpServer(inbox, server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
