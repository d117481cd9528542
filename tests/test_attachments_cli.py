"""`desk attachments verify` against real files and rows on the engine under test."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

from typer.testing import CliRunner

from desk.cli import app as desk_cli
from desk.enums import Role
from tests.support.attachments import upload
from tests.support.tickets import make_ticket


async def run_verify(settings, *args: str):
    """The command as an operator runs it (in a thread: it runs its own event loop)."""
    argv = ["attachments", "verify", "--database-url", settings.database_url]
    argv += ["--upload-dir", str(settings.upload_dir), *args]
    return await asyncio.to_thread(CliRunner().invoke, desk_cli, argv)


async def test_verify_finds_tampered_missing_and_orphaned_files(
    client, world, login, sessionmaker, settings
):
    org = await world.org("Verify Ltd")
    customer = await world.user(org, Role.CUSTOMER)
    auth = await login(customer)
    ticket = await make_ticket(sessionmaker, org, customer)
    metas = []
    for n in range(3):
        response = await upload(client, auth, ticket.id, os.urandom(3000 + n), f"f{n}.bin")
        assert response.status_code == 201, response.text
        metas.append(response.json())
    ticket_dir = settings.upload_dir / str(org.id) / str(ticket.id)

    clean = await run_verify(settings, "--organization", str(org.id))
    assert clean.exit_code == 0, clean.output
    assert "3 files checked" in clean.stdout
    assert "0 mismatched, 0 missing, 0 orphaned" in clean.stdout
    assert "checked 3/3 files" in clean.stderr  # progress

    tampered = ticket_dir / metas[0]["id"]
    data = bytearray(tampered.read_bytes())
    data[100] ^= 0xFF  # same size, different bytes: only the hash can tell
    tampered.write_bytes(bytes(data))
    missing = ticket_dir / metas[1]["id"]
    missing.unlink()
    orphan = ticket_dir / str(uuid.uuid4())
    orphan.write_bytes(b"a file nobody recorded")
    stray = settings.upload_dir / str(org.id) / "notes.txt"
    stray.write_bytes(b"not ours either")
    in_flight = ticket_dir / f".upload-{uuid.uuid4()}.part"
    in_flight.write_bytes(b"an upload still arriving")
    abandoned = ticket_dir / f".upload-{uuid.uuid4()}.part"
    abandoned.write_bytes(b"an upload that died")
    two_hours_ago = time.time() - 7200
    os.utime(abandoned, (two_hours_ago, two_hours_ago))

    damaged = await run_verify(settings, "--organization", str(org.id))
    assert damaged.exit_code == 1, damaged.output
    lines = damaged.stdout.splitlines()
    mismatches = [line for line in lines if line.startswith("MISMATCH")]
    assert len(mismatches) == 1
    assert mismatches[0].startswith(f"MISMATCH {metas[0]['id']} {tampered}: expected 3000 bytes")
    assert f"MISSING {metas[1]['id']} {missing}" in lines
    orphans = {line.removeprefix("ORPHAN ") for line in lines if line.startswith("ORPHAN")}
    assert orphans == {str(orphan), str(stray), str(abandoned)}
    assert "3 files checked" in damaged.stdout
    assert "1 mismatched, 1 missing, 3 orphaned" in damaged.stdout


async def test_verify_reports_an_unreachable_database(settings, tmp_path):
    result = await asyncio.to_thread(
        CliRunner().invoke,
        desk_cli,
        ["attachments", "verify", "--database-url", f"sqlite+aiosqlite:///{tmp_path}/none.db",
         "--upload-dir", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "error: cannot read the attachments table" in result.stderr
