"""remediation policies, maintenance windows, and why a remediation's run did not act

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import grace.adapters.sqlstore.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.Integer().with_variant(sa.BigInteger(), "postgresql")
_TIME = grace.adapters.sqlstore.types.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("playbook_executions") as batch:
        batch.add_column(sa.Column("reason_code", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("window_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("expires_at", _TIME(), nullable=True))
        batch.add_column(sa.Column("decided_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("decided_at", _TIME(), nullable=True))
        batch.create_index("ix_playbook_executions_started_at", ["started_at"])
    op.create_table(
        "remediation_policies",
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("require_approval", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("max_per_hour", sa.Integer(), nullable=True),
        sa.Column("runbook_url", sa.Text(), nullable=True),
        sa.Column("breaker_opened_at", _TIME(), nullable=True),
        sa.Column("breaker_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", _TIME(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_remediation_policies")),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=True),
        sa.Column("starts_at", _TIME(), nullable=False),
        sa.Column("ends_at", _TIME(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("on_end", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", _TIME(), nullable=False),
        sa.Column("removed_at", _TIME(), nullable=True),
        sa.Column("released_at", _TIME(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    op.create_index("ix_maintenance_windows_ends_at", "maintenance_windows", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_windows_ends_at", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
    op.drop_table("remediation_policies")
    with op.batch_alter_table("playbook_executions") as batch:
        batch.drop_index("ix_playbook_executions_started_at")
        for column in ("decided_at", "decided_by", "expires_at", "window_id", "reason_code"):
            batch.drop_column(column)
