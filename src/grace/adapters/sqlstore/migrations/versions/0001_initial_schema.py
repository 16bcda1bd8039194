"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 22:47:35.545697
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import grace.adapters.sqlstore.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "seq",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("resource_id", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_event_type_seq", ["event_type", "seq"], unique=False)
        batch_op.create_index("ix_events_resource_id_seq", ["resource_id", "seq"], unique=False)

    op.create_table(
        "incidents",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=100), nullable=False),
        sa.Column("resource_id", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "context", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("dedup_key", sa.String(length=400), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("created_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("resolved_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_resource_id_id", ["resource_id", "id"], unique=False)
        batch_op.create_index("ix_incidents_status_id", ["status", "id"], unique=False)
        batch_op.create_index(
            "uq_incidents_open_dedup_key",
            ["dedup_key"],
            unique=True,
            sqlite_where=sa.text("status != 'resolved'"),
            postgresql_where=sa.text("status != 'resolved'"),
        )

    op.create_table(
        "models",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("auto_remediate", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=True),
        sa.Column("error_rate_warning", sa.Float(), nullable=True),
        sa.Column("error_rate_critical", sa.Float(), nullable=True),
        sa.Column("latency_factor", sa.Float(), nullable=True),
        sa.Column("ood_rate", sa.Float(), nullable=True),
        sa.Column("input_drift", sa.Float(), nullable=True),
        sa.Column("min_snapshots", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("model_id", name=op.f("uq_models_model_id")),
    )
    op.create_table(
        "playbook_executions",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("playbook", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=100), nullable=False),
        sa.Column("resource_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "context", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "steps", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_executions")),
    )
    with op.batch_alter_table("playbook_executions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_playbook_executions_resource_id_id", ["resource_id", "id"], unique=False
        )

    op.create_table(
        "incident_timeline",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "incident_id", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), nullable=False
        ),
        sa.Column("at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_timeline_incident_id_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_timeline")),
    )
    with op.batch_alter_table("incident_timeline", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_timeline_incident_id_id", ["incident_id", "id"], unique=False
        )

    op.create_table(
        "model_versions",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "model_pk", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), nullable=False
        ),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=True),
        sa.Column("expected_latency_p95_ms", sa.Float(), nullable=True),
        sa.Column("constitutional_compliance", sa.Boolean(), nullable=False),
        sa.Column("bias_check_passed", sa.Boolean(), nullable=False),
        sa.Column("calibration_error", sa.Float(), nullable=True),
        sa.Column("trust_score", sa.Float(), nullable=False),
        sa.Column(
            "metadata", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("registered_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("stage_changed_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("deployed_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_pk"], ["models.id"], name=op.f("fk_model_versions_model_pk_models")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index("ix_model_versions_stage", ["stage", "model_pk"], unique=False)
        batch_op.create_index(
            "uq_model_versions_model_pk_version", ["model_pk", "version"], unique=True
        )
        batch_op.create_index(
            "uq_model_versions_one_production",
            ["model_pk"],
            unique=True,
            sqlite_where=sa.text("stage = 'production'"),
            postgresql_where=sa.text("stage = 'production'"),
        )

    op.create_table(
        "snapshots",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "version_pk", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), nullable=False
        ),
        sa.Column("ts", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("latency_p50_ms", sa.Float(), nullable=False),
        sa.Column("latency_p95_ms", sa.Float(), nullable=False),
        sa.Column("latency_p99_ms", sa.Float(), nullable=False),
        sa.Column("requests_per_second", sa.Float(), nullable=False),
        sa.Column("error_rate", sa.Float(), nullable=False),
        sa.Column("ood_rate", sa.Float(), nullable=False),
        sa.Column("input_drift_score", sa.Float(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.id"],
            name=op.f("fk_snapshots_version_pk_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshots")),
    )
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_snapshots_window",
            [
                "version_pk",
                "ts",
                "error_rate",
                "latency_p95_ms",
                "ood_rate",
                "input_drift_score",
                "accuracy",
            ],
            unique=False,
        )

    op.create_table(
        "stage_changes",
        sa.Column(
            "id",
            sa.Integer().with_variant(sa.BigInteger(), "postgresql"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "model_pk", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), nullable=False
        ),
        sa.Column(
            "version_pk", sa.Integer().with_variant(sa.BigInteger(), "postgresql"), nullable=False
        ),
        sa.Column("from_stage", sa.String(length=20), nullable=True),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("at", grace.adapters.sqlstore.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("cause", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_pk"], ["models.id"], name=op.f("fk_stage_changes_model_pk_models")
        ),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["model_versions.id"],
            name=op.f("fk_stage_changes_version_pk_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage_changes")),
    )
    with op.batch_alter_table("stage_changes", schema=None) as batch_op:
        batch_op.create_index("ix_stage_changes_model_pk_id", ["model_pk", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stage_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_stage_changes_model_pk_id")

    op.drop_table("stage_changes")
    with op.batch_alter_table("snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_window")

    op.drop_table("snapshots")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_model_versions_one_production",
            sqlite_where=sa.text("stage = 'production'"),
            postgresql_where=sa.text("stage = 'production'"),
        )
        batch_op.drop_index("uq_model_versions_model_pk_version")
        batch_op.drop_index("ix_model_versions_stage")

    op.drop_table("model_versions")
    with op.batch_alter_table("incident_timeline", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_timeline_incident_id_id")

    op.drop_table("incident_timeline")
    with op.batch_alter_table("playbook_executions", schema=None) as batch_op:
        batch_op.drop_index("ix_playbook_executions_resource_id_id")

    op.drop_table("playbook_executions")
    op.drop_table("models")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_incidents_open_dedup_key",
            sqlite_where=sa.text("status != 'resolved'"),
            postgresql_where=sa.text("status != 'resolved'"),
        )
        batch_op.drop_index("ix_incidents_status_id")
        batch_op.drop_index("ix_incidents_resource_id_id")

    op.drop_table("incidents")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_resource_id_seq")
        batch_op.drop_index("ix_events_event_type_seq")

    op.drop_table("events")
