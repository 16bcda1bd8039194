"""subscriptions route by severity and tags; incidents record their last alert refresh

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import grace.adapters.sqlstore.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("min_severity", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("tags", _JSON, nullable=True))
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column(
                "alert_refreshed_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("alert_refreshed_at")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("tags")
        batch.drop_column("min_severity")
