"""a snapshot row stands in for its monitoring event in the event log

Snapshots get the id of their event, and a snapshot's id becomes its event's position in the
log: events and snapshots draw their positions from one sequence, handed out by Grace under
the event-log lock, so on PostgreSQL the two columns lose their own serial defaults.
A downgrade leaves the snapshots of this revision out of the older log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SERIALS = (("snapshots", "id"), ("events", "seq"))


def upgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("event_id", sa.String(length=64), nullable=True))
    if op.get_context().dialect.name == "postgresql":
        for table, column in _SERIALS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
            op.execute(f"DROP SEQUENCE IF EXISTS {table}_{column}_seq")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table, column in _SERIALS:
            sequence = f"{table}_{column}_seq"
            op.execute(f"CREATE SEQUENCE {sequence} OWNED BY {table}.{column}")
            start = f"(SELECT coalesce(max({column}), 0) + 1 FROM {table})"  # noqa: S608
            op.execute(f"SELECT setval('{sequence}', {start}, false)")
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT nextval('{sequence}')"
            )
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("event_id")
