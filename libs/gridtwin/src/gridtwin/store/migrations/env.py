"""Alembic environment: always run with a live connection passed in ``config.attributes``.

``gridtwin.store.db.migrate(engine)`` is the only entry point; there is no alembic.ini and no
offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context
from gridtwin.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guard for a direct `alembic` CLI call
    raise RuntimeError("run migrations through gridtwin.store.db.migrate(engine)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
