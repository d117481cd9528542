"""The `desk` command line."""

from __future__ import annotations

import typer

from desk.attachments.cli import attachments_app

app = typer.Typer(help="ATUM Desk administration and the embedded dev run.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
temporal_app = typer.Typer(help="Temporal namespace set-up.", no_args_is_help=True)

app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(temporal_app, name="temporal")
app.add_typer(attachments_app, name="attachments")
