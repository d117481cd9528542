"""`desk attachments ...` commands."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from desk.attachments.storage import AttachmentStorage
from desk.attachments.verify import VerifyReport, verify_store
from desk.db.engine import create_engine, create_sessionmaker
from desk.settings import Settings

attachments_app = typer.Typer(help="Attachment storage maintenance.", no_args_is_help=True)

EXIT_PROBLEMS = 1  # the check ran and found something wrong
EXIT_CANNOT_RUN = 2  # bad settings or database unreachable: nothing was checked


@attachments_app.command("verify")
def verify(
    organization: Annotated[
        uuid.UUID | None,
        typer.Option(help="Check one organization's files only (default: the whole store)."),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="Database to read (default: DESK_DATABASE_URL).")
    ] = None,
    upload_dir: Annotated[
        Path | None, typer.Option(help="Store to check (default: DESK_UPLOAD_DIR).")
    ] = None,
) -> None:
    """Re-hash every stored file against its recorded SHA-256 and size; report mismatches,
    rows without files and files without rows. Exit 1 if anything is wrong, 2 if the
    check could not run. Progress goes to stderr, findings to stdout."""
    if database_url is None or upload_dir is None:
        try:
            settings = Settings()
        except ValidationError as exc:
            typer.echo(f"error: invalid settings: {exc}", err=True)
            raise typer.Exit(EXIT_CANNOT_RUN) from None
        database_url = database_url or settings.database_url
        upload_dir = upload_dir or settings.upload_dir
    storage = AttachmentStorage(upload_dir)

    def progress(done: int, total: int, size: int) -> None:
        typer.echo(f"checked {done}/{total} files, {size / 2**20:.1f} MiB", err=True)

    async def run() -> VerifyReport:
        engine = create_engine(database_url)
        try:
            return await verify_store(
                create_sessionmaker(engine),
                storage,
                organization_id=organization,
                progress=progress,
            )
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(run())
    except DBAPIError as exc:
        reason = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
        typer.echo(f"error: cannot read the attachments table: {reason}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from None

    for line in report.mismatched:
        typer.echo(f"MISMATCH {line}")
    for line in report.missing:
        typer.echo(f"MISSING {line}")
    for line in report.orphans:
        typer.echo(f"ORPHAN {line}")
    typer.echo(
        f"{report.checked} files checked ({report.bytes_checked / 2**20:.1f} MiB): "
        f"{len(report.mismatched)} mismatched, {len(report.missing)} missing, "
        f"{len(report.orphans)} orphaned"
    )
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)
