"""playbook runs carry the id of the remediation that asked for them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playbook_executions") as batch:
        batch.add_column(sa.Column("correlation_id", sa.String(length=64), nullable=True))
        batch.create_index("ix_playbook_executions_correlation_id", ["correlation_id"])


def downgrade() -> None:
    with op.batch_alter_table("playbook_executions") as batch:
        batch.drop_index("ix_playbook_executions_correlation_id")
        batch.drop_column("correlation_id")
