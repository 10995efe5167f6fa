"""Command-line options every `edge-central` command group shares, defined once."""

from __future__ import annotations

import click

# The embedded default: one SQLite file beside the centre, for trying it out.
DEFAULT_DB = "sqlite://edge-central.sqlite3"

db_option = click.option(
    "--db",
    "db_url",
    envvar="EDGE_CENTRAL_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="postgresql://user@host/dbname, or sqlite://PATH (the embedded default).",
)
