"""remediation playbook: the playbook a model's automatic remediation runs

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("remediation_policies") as batch:
        batch.add_column(sa.Column("playbook", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("remediation_policies") as batch:
        batch.drop_column("playbook")
