"""Alembic environment: runs on the connection `upgrade_schema` passes in (online mode only).

To write a new migration: ``alembic -x url=sqlite:///tmp.db revision -m "..."`` is not wired up;
copy the newest file in ``versions/``, chain ``down_revision`` and write the operations by hand
(with ``render_as_batch`` SQLite ALTERs go through ``op.batch_alter_table``).
"""

from __future__ import annotations

from alembic import context

from planner.proposals.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through planner.proposals.db.upgrade_schema")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
