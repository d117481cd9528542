"""The `desk` command line.

Expected failures (bad input, unknown organization, duplicate email, database or Temporal
unreachable) print one line, ``error: ...``, on stderr and exit 1; only a bug shows a
traceback.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.service import RPCError, RPCStatusCode

from desk.attachments.cli import attachments_app
from desk.auth.security import configure_password_hashing
from desk.errors import DeskError, NotFound
from desk.procexit import exit_now
from desk.settings import Settings

T = TypeVar("T")


class _DeskApp(typer.Typer):
    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        """The console script: runs the command, then ends without interpreter finalization
        (desk.procexit: some commands use the Temporal client). Tests invoke the command
        through CliRunner, which does not come here."""
        try:
            super().__call__(*args, **kwargs)
        except SystemExit as exc:
            if isinstance(exc.code, str):
                typer.echo(exc.code, err=True)
                exit_now(1)
            exit_now(exc.code or 0)
        exit_now(0)


app = _DeskApp(
    help="ATUM Desk administration and the embedded dev run.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
temporal_app = typer.Typer(help="Temporal namespace set-up.", no_args_is_help=True)

app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(temporal_app, name="temporal")
app.add_typer(attachments_app, name="attachments")


# --- Shared plumbing ---------------------------------------------------------------------


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def load_settings() -> Settings:
    """Fresh settings from the environment (not the process-wide cache: tests vary it)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            (".".join(str(part) for part in error["loc"]) + ": " if error["loc"] else "")
            + error["msg"]
            for error in exc.errors()
        )
        fail(f"invalid settings: {problems}")
    configure_password_hashing(settings)
    return settings


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def cli_errors(settings: Settings) -> Iterator[None]:
    """Turn the failures a user can fix into one-line errors."""
    try:
        yield
    except DeskError as exc:
        fail(exc.detail)
    except DBAPIError as exc:
        reason = _first_line(exc)
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            fail(
                f"the database at {_safe_url(settings.database_url)} has no schema yet "
                f"({reason}); run `desk db upgrade`"
            )
        fail(f"database unreachable at {_safe_url(settings.database_url)}: {reason}")


def in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in a session on the configured database; the engine is disposed after."""
    import desk.db.models  # noqa: F401  (every table registered: flushes resolve foreign keys)
    from desk.db.engine import create_engine, create_sessionmaker

    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{what} {value!r} is not a valid id (expected a UUID)")


# --- desk db -----------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database (DESK_DATABASE_URL) to the latest schema."""
    from desk.db.migrate import upgrade

    settings = load_settings()
    with cli_errors(settings):
        upgrade(settings.database_url)
    typer.echo(f"database at {_safe_url(settings.database_url)} is at the latest schema")


# --- desk org / desk user ----------------------------------------------------------------


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Argument(help="The organization's display name.")],
) -> None:
    """Create an organization with its default SLA policies; prints its id."""
    from desk.admin.organizations import create_organization

    name = name.strip()
    if not 1 <= len(name) <= 200:
        fail("the organization name must be 1 to 200 characters")
    settings = load_settings()

    async def work(session: AsyncSession) -> uuid.UUID:
        org = await create_organization(session, name)
        await session.commit()
        return org.id

    with cli_errors(settings):
        org_id = in_session(settings, work)
    typer.echo(str(org_id))


@user_app.command("create")
def user_create(
    org: Annotated[str, typer.Option("--org", help="The organization id (UUID).")],
    email: Annotated[str, typer.Option(help="Login email, unique across organizations.")],
    role: Annotated[str, typer.Option(help="CUSTOMER, AGENT, MANAGER or ADMIN.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="Asked if omitted."
        ),
    ],
    full_name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create a user in an organization; prints the user's id."""
    from desk.admin.service import create_user
    from desk.auth.models import Organization

    organization_id = parse_uuid(org, "organization")
    settings = load_settings()

    async def work(session: AsyncSession) -> uuid.UUID:
        if await session.get(Organization, organization_id) is None:
            raise NotFound(f"no organization with id {organization_id}")
        user = await create_user(
            session,
            organization_id=organization_id,
            email=email,
            role=role,
            password=password,
            full_name=full_name,
        )
        await session.commit()
        return user.id

    with cli_errors(settings):
        user_id = in_session(settings, work)
    typer.echo(str(user_id))


# --- desk seed-demo ----------------------------------------------------------------------


@app.command("seed-demo")
def seed_demo_command() -> None:
    """Create the demo organization unless it exists; print its logins.

    One user per role, a service and the default SLA policies; run again, it does nothing.
    """
    from desk.demo import format_logins, seed_demo

    settings = load_settings()
    with cli_errors(settings):
        result = in_session(settings, seed_demo)
    if result.created:
        typer.echo(f"demo organization created: {result.organization_id}")
    else:
        typer.echo(f"demo organization already seeded ({result.organization_id}): nothing to do")
    typer.echo("logins:")
    typer.echo(format_logins())


# --- desk temporal -----------------------------------------------------------------------


@temporal_app.command("setup")
def temporal_setup() -> None:
    """Create the custom search attributes on the Temporal server and set the namespace's
    retention of closed workflows (DESK_TEMPORAL_RETENTION_DAYS); idempotent.

    Connects to DESK_TEMPORAL_ADDRESS, namespace DESK_TEMPORAL_NAMESPACE.
    """
    from desk.temporal import (
        SEARCH_ATTRIBUTES,
        connect,
        ensure_retention,
        ensure_search_attributes,
    )

    settings = load_settings()
    address, namespace = settings.temporal_address, settings.temporal_namespace
    days = settings.temporal_retention_days

    async def setup() -> tuple[list[str], bool]:
        client = await asyncio.wait_for(connect(settings), timeout=10)
        created = await ensure_search_attributes(client, namespace)
        return created, await ensure_retention(client, namespace, days)

    try:
        created, retention_changed = asyncio.run(setup())
    except (TimeoutError, RuntimeError, OSError) as exc:
        fail(f"Temporal unreachable at {address}: {_first_line(exc)}")
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            fail(
                f"namespace {namespace!r} not found at {address}; create it first "
                f"(`temporal operator namespace create --namespace {namespace}`)"
            )
        fail(f"Temporal at {address} refused: {exc.message}")
    present = [key.name for key in SEARCH_ATTRIBUTES if key.name not in created]
    if created:
        typer.echo(f"created search attributes in namespace {namespace}: {', '.join(created)}")
    if present:
        typer.echo(f"already present in namespace {namespace}: {', '.join(present)}")
    verb = "now keeps" if retention_changed else "keeps"
    typer.echo(f"namespace {namespace} {verb} closed workflows {days} days")


# --- desk dev ----------------------------------------------------------------------------


@app.command("dev")
def dev() -> None:
    """Run everything on this machine; Ctrl-C stops it all.

    The Temporal dev server and its Web UI, migrations, demo data, the worker and the API.
    """
    from desk import devrun

    settings = load_settings()
    with cli_errors(settings):
        try:
            code = devrun.run(settings)
        except devrun.DevError as exc:
            fail(str(exc))
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
