"""trust: a model's minimum for promotion, and when a version was last credited healthy time

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 18:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import grace.adapters.sqlstore.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("remediation_policies") as batch:
        batch.add_column(sa.Column("min_trust", sa.Float(), nullable=True))
    op.create_table(
        "trust_credits",
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("credited_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "version", name=op.f("pk_trust_credits")),
    )


def downgrade() -> None:
    op.drop_table("trust_credits")
    with op.batch_alter_table("remediation_policies") as batch:
        batch.drop_column("min_trust")
