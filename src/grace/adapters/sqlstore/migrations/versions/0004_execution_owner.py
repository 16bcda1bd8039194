"""playbook runs record their owner and heartbeat

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 11:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import grace.adapters.sqlstore.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playbook_executions") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("heartbeat_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=True)
        )
        batch.create_index("ix_playbook_executions_status", ["status"])


def downgrade() -> None:
    with op.batch_alter_table("playbook_executions") as batch:
        batch.drop_index("ix_playbook_executions_status")
        batch.drop_column("heartbeat_at")
        batch.drop_column("owner")
