"""Alembic's entry point, run by `releases.state.store.upgrade` with the connection to migrate
(there is no alembic.ini: the store configures Alembic in code)."""

from __future__ import annotations

from alembic import context

from releases.state.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
