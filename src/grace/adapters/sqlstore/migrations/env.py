"""Alembic environment: always driven programmatically by grace.adapters.sqlstore.migrate.

The caller passes an open connection, already inside a transaction that holds
the migration lock, in ``config.attributes['connection']``.
"""

from alembic import context

from grace.adapters.sqlstore.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `grace db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
