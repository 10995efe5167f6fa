"""Alembic's environment for the centre: runs on the connection sync.central.schema
opened, locked and will commit, so every revision applies in that one transaction."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit(
        "the centre's migrations run through `edge-central db migrate` (which takes the lock);"
        " use alembic directly only to write a new revision"
    )
# transactional_ddl: SQLite's DDL is transactional too; everything runs in the
# caller's locked transaction and commits (or rolls back) as one.
sqlite = connection.dialect.name == "sqlite"
context.configure(connection=connection, render_as_batch=sqlite, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
