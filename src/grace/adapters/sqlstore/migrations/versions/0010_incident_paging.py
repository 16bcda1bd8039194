"""incidents record when they were paged, and the maintenance window holding their page

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import grace.adapters.sqlstore.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("paged_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=True)
        )
        batch.add_column(sa.Column("page_held_by", sa.BigInteger(), nullable=True))
        batch.create_index("ix_incidents_page_held_by", ["page_held_by"])


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_page_held_by")
        batch.drop_column("page_held_by")
        batch.drop_column("paged_at")
