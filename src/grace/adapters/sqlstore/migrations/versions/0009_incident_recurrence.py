"""incidents name the one they recur and the model's runbook; indexes for the statistics

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("recurrence_of", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("runbook_url", sa.Text(), nullable=True))
        batch.create_index("ix_incidents_dedup_key_id", ["dedup_key", "id"])
        batch.create_index("ix_incidents_created_at", ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_created_at")
        batch.drop_index("ix_incidents_dedup_key_id")
        batch.drop_column("runbook_url")
        batch.drop_column("recurrence_of")
