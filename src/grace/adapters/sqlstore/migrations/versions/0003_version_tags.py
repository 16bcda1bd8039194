"""version tags, indexed

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "version_tags",
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column(
            "version_pk", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.id"],
            name=op.f("fk_version_tags_version_pk_model_versions"),
        ),
        sa.PrimaryKeyConstraint("tag", "version_pk", name=op.f("pk_version_tags")),
    )
    # Existing versions keep their tags in their JSON list; copy them, a batch at a time.
    conn = op.get_bind()
    versions = sa.table("model_versions", sa.column("id"), sa.column("tags", sa.JSON()))
    rows = conn.execute(sa.select(versions.c.id, versions.c.tags)).yield_per(1000)
    batch: list[dict[str, object]] = []
    for pk, tags in rows:
        batch.extend({"tag": tag, "version_pk": pk} for tag in dict.fromkeys(tags or ()))
        if len(batch) >= 1000:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    op.drop_table("version_tags")
