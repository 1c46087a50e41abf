"""Alembic environment: migrates the connection `pinnace.stores.sql` hands over."""

from __future__ import annotations

from alembic import context

from pinnace.stores._tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run Pinnace migrations through pinnace.stores._database.ensure_schema (opening a "
        "store does), which passes the connection in"
    )

# render_as_batch lets later migrations alter SQLite tables (copy-and-move under the hood).
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
