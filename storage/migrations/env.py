"""Alembic environment: always run through storage.migrate with a live connection."""

from __future__ import annotations

from alembic import context

from storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `tandem migrate`, which passes a connection")

# Batch mode lets later ALTERs run on SQLite, which rebuilds tables instead.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
