"""`desk attachments ...` commands."""

import typer

attachments_app = typer.Typer(help="Attachment storage maintenance.", no_args_is_help=True)
