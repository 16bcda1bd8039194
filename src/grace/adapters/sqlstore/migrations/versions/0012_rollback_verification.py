"""a rollback's verification: when the restored version's health is judged

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import grace.adapters.sqlstore.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playbook_executions") as batch:
        batch.add_column(
            sa.Column("verify_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=True)
        )
        batch.create_index("ix_playbook_executions_verify_at", ["verify_at"])


def downgrade() -> None:
    with op.batch_alter_table("playbook_executions") as batch:
        batch.drop_index("ix_playbook_executions_verify_at")
        batch.drop_column("verify_at")
