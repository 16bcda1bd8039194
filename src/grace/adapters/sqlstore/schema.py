"""The tables.  Alembic migrations are the only way this schema reaches a database;
a test proves the migrations and these definitions agree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)

from grace.adapters.sqlstore.types import JSONDoc, UTCDateTime

__all__ = [
    "api_tokens",
    "deliveries",
    "delivery_attempts",
    "events",
    "incident_timeline",
    "incidents",
    "maintenance_windows",
    "metadata",
    "model_versions",
    "models",
    "playbook_executions",
    "remediation_policies",
    "snapshots",
    "stage_changes",
    "subscriptions",
    "trust_credits",
    "version_tags",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Id columns are BIGINT on PostgreSQL and INTEGER (the rowid alias) on SQLite.
_BigId = Integer().with_variant(BigInteger(), "postgresql")

models = Table(
    "models",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("model_id", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Monitoring settings; NULL means "the service-wide default".
    Column("auto_remediate", Boolean(), nullable=False, server_default=false()),
    Column("window_minutes", Integer(), nullable=True),
    Column("error_rate_warning", Float(), nullable=True),
    Column("error_rate_critical", Float(), nullable=True),
    Column("latency_factor", Float(), nullable=True),
    Column("ood_rate", Float(), nullable=True),
    Column("input_drift", Float(), nullable=True),
    Column("min_snapshots", Integer(), nullable=True),
)

SETTING_COLUMNS = (
    "window_minutes",
    "error_rate_warning",
    "error_rate_critical",
    "latency_factor",
    "ood_rate",
    "input_drift",
    "min_snapshots",
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("model_pk", ForeignKey("models.id"), nullable=False),
    Column("version", String(200), nullable=False),
    Column("stage", String(20), nullable=False),
    Column("name", String(200), nullable=True),
    Column("description", Text(), nullable=True),
    Column("owner", String(200), nullable=True),
    Column("tags", JSONDoc, nullable=False),
    Column("artifact_uri", Text(), nullable=True),
    Column("expected_latency_p95_ms", Float(), nullable=True),
    Column("constitutional_compliance", Boolean(), nullable=False),
    Column("bias_check_passed", Boolean(), nullable=False),
    Column("calibration_error", Float(), nullable=True),
    Column("trust_score", Float(), nullable=False),
    Column("metadata", JSONDoc, nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("stage_changed_at", UTCDateTime(), nullable=False),
    Column("deployed_at", UTCDateTime(), nullable=True),
    Index("uq_model_versions_model_pk_version", "model_pk", "version", unique=True),
    # The invariant "at most one production version per model", held by the database.
    Index(
        "uq_model_versions_one_production",
        "model_pk",
        unique=True,
        sqlite_where=text("stage = 'production'"),
        postgresql_where=text("stage = 'production'"),
    ),
    Index("ix_model_versions_stage", "stage", "model_pk"),
)

stage_changes = Table(
    "stage_changes",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("model_pk", ForeignKey("models.id"), nullable=False),
    Column("version_pk", ForeignKey("model_versions.id"), nullable=False),
    Column("from_stage", String(20), nullable=True),
    Column("to_stage", String(20), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=True),
    Column("reason", Text(), nullable=True),
    Column("cause", String(40), nullable=False),
    Index("ix_stage_changes_model_pk_id", "model_pk", "id"),
)

snapshots = Table(
    "snapshots",
    metadata,
    # A snapshot stands in for its monitoring event in the event log: ``id`` is the event's
    # seq (handed out with the events', see SqlSession.log_positions), ``event_id`` its id.
    # Rows from before that (and bulk loads) have no event_id and are not in the log.
    Column("id", _BigId, primary_key=True, autoincrement=False),
    Column("version_pk", ForeignKey("model_versions.id"), nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("latency_p50_ms", Float(), nullable=False),
    Column("latency_p95_ms", Float(), nullable=False),
    Column("latency_p99_ms", Float(), nullable=False),
    Column("requests_per_second", Float(), nullable=False),
    Column("error_rate", Float(), nullable=False),
    Column("ood_rate", Float(), nullable=False),
    Column("input_drift_score", Float(), nullable=True),
    Column("accuracy", Float(), nullable=True),
    Column("event_id", String(64), nullable=True),
    # Covering index: a window aggregate reads only this index, a range per version,
    # so its cost follows the snapshots inside the window, not the history outside it.
    Index(
        "ix_snapshots_window",
        "version_pk",
        "ts",
        "error_rate",
        "latency_p95_ms",
        "ood_rate",
        "input_drift_score",
        "accuracy",
    ),
)

events = Table(
    "events",
    metadata,
    Column("seq", _BigId, primary_key=True, autoincrement=False),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("event_type", String(100), nullable=False),
    Column("source", String(100), nullable=False),
    Column("resource_id", String(200), nullable=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("payload", JSONDoc, nullable=False),
    Index("ix_events_resource_id_seq", "resource_id", "seq"),
    Index("ix_events_event_type_seq", "event_type", "seq"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("resource_type", String(100), nullable=False),
    Column("resource_id", String(200), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("title", Text(), nullable=False),
    Column("description", Text(), nullable=False),
    Column("context", JSONDoc, nullable=False),
    Column("status", String(20), nullable=False),
    Column("dedup_key", String(400), nullable=False),
    Column("occurrences", Integer(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("acknowledged_at", UTCDateTime(), nullable=True),
    Column("acknowledged_by", String(200), nullable=True),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("resolved_by", String(200), nullable=True),
    # The resolved incident of the same cause this one is a recurrence of, and the model's
    # runbook when it opened.
    Column("recurrence_of", BigInteger(), nullable=True),
    Column("runbook_url", Text(), nullable=True),
    # When people were paged about it (grace.domain.paging), and the maintenance window
    # holding its page back.
    Column("paged_at", UTCDateTime(), nullable=True),
    Column("page_held_by", BigInteger(), nullable=True),
    # When a firing alert was last sent again (Alertmanager forgets one not re-sent).
    Column("alert_refreshed_at", UTCDateTime(), nullable=True),
    # One unresolved incident per cause: a repeat becomes an occurrence of it.
    Index(
        "uq_incidents_open_dedup_key",
        "dedup_key",
        unique=True,
        sqlite_where=text("status != 'resolved'"),
        postgresql_where=text("status != 'resolved'"),
    ),
    Index("ix_incidents_resource_id_id", "resource_id", "id"),
    Index("ix_incidents_status_id", "status", "id"),
    Index("ix_incidents_dedup_key_id", "dedup_key", "id"),
    Index("ix_incidents_created_at", "created_at"),
    Index("ix_incidents_page_held_by", "page_held_by"),
)

incident_timeline = Table(
    "incident_timeline",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("incident_id", ForeignKey("incidents.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("message", Text(), nullable=False),
    Column("actor", String(200), nullable=True),
    Column("data", JSONDoc, nullable=False),
    Index("ix_incident_timeline_incident_id_id", "incident_id", "id"),
)

playbook_executions = Table(
    "playbook_executions",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("playbook", String(100), nullable=False),
    Column("resource_type", String(100), nullable=False),
    Column("resource_id", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("context", JSONDoc, nullable=False),
    Column("steps", JSONDoc, nullable=False),
    Column("result", JSONDoc, nullable=False),
    Column("error", Text(), nullable=True),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    # Who runs it (host:pid:instance) and when it last made progress: what tells a run in
    # progress from one orphaned by a crash.
    Column("owner", String(200), nullable=True),
    Column("heartbeat_at", UTCDateTime(), nullable=True),
    # The remediation that asked for the run (its context's remediation_id), if any: how the
    # pipeline finds the run a self-healing callback started for it.
    Column("correlation_id", String(64), nullable=True),
    # Why a remediation's run did not act, or has not yet (grace.domain.guardrails.Reason);
    # the maintenance window that holds it; when an approval request expires; who decided
    # it and when.
    Column("reason_code", String(40), nullable=True),
    Column("window_id", BigInteger(), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    # When a successful rollback's restored version is judged (cleared once it is).
    Column("verify_at", UTCDateTime(), nullable=True),
    Index("ix_playbook_executions_resource_id_id", "resource_id", "id"),
    Index("ix_playbook_executions_status", "status"),
    Index("ix_playbook_executions_correlation_id", "correlation_id"),
    Index("ix_playbook_executions_started_at", "started_at"),
    Index("ix_playbook_executions_verify_at", "verify_at"),
)

# A model's remediation policy (grace.domain.guardrails.RemediationPolicy); a model without
# a row has the defaults.
remediation_policies = Table(
    "remediation_policies",
    metadata,
    Column("model_id", String(200), primary_key=True),
    Column("require_approval", Boolean(), nullable=False, server_default=false()),
    Column("dry_run", Boolean(), nullable=False, server_default=false()),
    Column("max_per_hour", Integer(), nullable=True),
    Column("runbook_url", Text(), nullable=True),
    Column("min_trust", Float(), nullable=True),
    Column("playbook", String(100), nullable=True),
    Column("breaker_opened_at", UTCDateTime(), nullable=True),
    Column("breaker_reason", Text(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# When healthy time in production was last credited to a version's trust score.
trust_credits = Table(
    "trust_credits",
    metadata,
    Column("model_id", String(200), primary_key=True),
    Column("version", String(200), primary_key=True),
    Column("credited_at", UTCDateTime(), nullable=False),
)

# Maintenance windows: inside one, remediation and paging are held back.  A removed window
# keeps its row (held runs name it); ``released_at`` is when its end was acted on.
maintenance_windows = Table(
    "maintenance_windows",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("model_id", String(200), nullable=True),
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("on_end", String(10), nullable=False),
    Column("created_by", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("removed_at", UTCDateTime(), nullable=True),
    Column("released_at", UTCDateTime(), nullable=True),
    Index("ix_maintenance_windows_ends_at", "ends_at"),
)

# The tags of each version, one row a tag, so that listing by tag is an index lookup; the
# version row keeps its JSON list too, which is what reads return (in the order given).
version_tags = Table(
    "version_tags",
    metadata,
    Column("tag", String(100), primary_key=True),
    Column("version_pk", ForeignKey("model_versions.id"), primary_key=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("token_id", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(128), nullable=False),
    Column("scopes", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

# Where events go (grace.domain.delivery).  ``cursor`` is the log position up to which this
# subscription's deliveries have been made: the worker that holds the lease reads the log
# after it and writes the matching deliveries and the new cursor in one transaction.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("url", Text(), nullable=False),
    Column("secrets", JSONDoc, nullable=False),
    Column("event_types", JSONDoc, nullable=True),
    Column("model_ids", JSONDoc, nullable=True),
    Column("dependent_name", String(200), nullable=True),
    # Routing (grace.domain.delivery.Subscription.matches).
    Column("min_severity", String(20), nullable=True),
    Column("tags", JSONDoc, nullable=True),
    Column("cursor", BigInteger(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime(), nullable=True),
    Column("disabled_reason", Text(), nullable=True),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
)

# One event to one subscription: tried until delivered or dead.  ``model_key`` is the
# event's model ('' for none): a pending delivery holds back the later ones of its model.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("subscription_id", ForeignKey("subscriptions.id"), nullable=False),
    Column("seq", BigInteger(), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("model_key", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("tries", Integer(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime(), nullable=True),
    Column("last_status_code", Integer(), nullable=True),
    Column("last_error", Text(), nullable=True),
    Index("uq_deliveries_subscription_id_seq", "subscription_id", "seq", unique=True),
    Index("ix_deliveries_subscription_id_status_seq", "subscription_id", "status", "seq"),
    Index("ix_deliveries_status_id", "status", "id"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("delivery_id", ForeignKey("deliveries.id"), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("duration_ms", Float(), nullable=False),
    Column("status_code", Integer(), nullable=True),
    Column("error", Text(), nullable=True),
    Index("ix_delivery_attempts_delivery_id_id", "delivery_id", "id"),
)
