"""Queries shared by the SQL session's parts, and rows turned into the domain's records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CursorResult,
    Row,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from grace.adapters.sqlstore.hotpath import (
    Q_MODEL_PK,
    SETTINGS_COLUMNS,
    settings_of,
)
from grace.adapters.sqlstore.schema import (
    SETTING_COLUMNS,
    events,
    model_versions,
    models,
    snapshots,
    stage_changes,
)
from grace.adapters.store import (
    MAX_PAGE_SIZE,
)
from grace.domain.events import Event
from grace.domain.records import (
    DESCRIPTIVE_FIELDS,
    ChangeCause,
    ExecutionStatus,
    Incident,
    IncidentStatus,
    ModelEntry,
    PlaybookExecution,
    StageChange,
    StepRecord,
    StepStatus,
    StoredSettings,
    TimelineEntry,
)
from grace.domain.severity import Severity
from grace.domain.snapshots import ModelPerformanceSnapshot, WindowStats
from grace.domain.stages import DeploymentStage
from grace.domain.timeutil import ensure_utc
from grace.domain.tokens import ApiToken, Scope
from grace.errors import (
    StorageError,
)

_m, _v = models, model_versions

ENTRY_COLUMNS = (_m.c.model_id, *(c for c in _v.c if c.name not in {"id", "model_pk"}))

# Statements of the snapshot path, built once: constructing a select costs more than running it.
BY_NAME = (_m.c.model_id == bindparam("model_id"), _v.c.version == bindparam("version"))
Q_VERSION_PK = select(_v.c.id).join_from(_v, _m, _v.c.model_pk == _m.c.id).where(*BY_NAME)
Q_ENTRY_AND_SETTINGS = (
    select(_v.c.id, *ENTRY_COLUMNS, *SETTINGS_COLUMNS)
    .join_from(_v, _m, _v.c.model_pk == _m.c.id)
    .where(*BY_NAME)
)
Q_MODEL_PK_LOCKED = Q_MODEL_PK.with_for_update()
Q_ENTRY_BY_NAME = (
    select(_v.c.id, *ENTRY_COLUMNS).join_from(_v, _m, _v.c.model_pk == _m.c.id).where(*BY_NAME)
)
Q_ENTRY_BY_PK = (
    select(*ENTRY_COLUMNS)
    .join_from(_v, _m, _v.c.model_pk == _m.c.id)
    .where(_v.c.id == bindparam("version_pk"))
)
Q_LATEST = (
    select(*ENTRY_COLUMNS)
    .join_from(_v, _m, _v.c.model_pk == _m.c.id)
    .where(_m.c.model_id == bindparam("model_id"))
    .order_by(_v.c.id.desc())
    .limit(1)
)
Q_PRODUCTION = (
    select(*ENTRY_COLUMNS)
    .join_from(_v, _m, _v.c.model_pk == _m.c.id)
    .where(_m.c.model_id == bindparam("model_id"), _v.c.stage == DeploymentStage.PRODUCTION.value)
)
Q_SETTINGS = select(*SETTINGS_COLUMNS).where(_m.c.model_id == bindparam("model_id"))
SET_STAGE = (
    update(_v)
    .where(_v.c.id == bindparam("pk"))
    .values(
        stage=bindparam("new_stage"), stage_changed_at=bindparam("at"), updated_at=bindparam("at")
    )
)
SET_STAGE_DEPLOYED = SET_STAGE.values(deployed_at=bindparam("at"))
_sc = stage_changes
Q_HISTORY = (
    select(
        _sc.c.id,
        _m.c.model_id,
        _v.c.version,
        _sc.c.from_stage,
        _sc.c.to_stage,
        _sc.c.at,
        _sc.c.actor,
        _sc.c.reason,
        _sc.c.cause,
    )
    .join_from(_sc, _v, _sc.c.version_pk == _v.c.id)
    .join(_m, _sc.c.model_pk == _m.c.id)
    .where(_sc.c.model_pk == bindparam("model_pk"))
    .order_by(_sc.c.id)
    .limit(bindparam("limit"))
)
Q_VERSION_HISTORY = Q_HISTORY.where(_sc.c.version_pk == bindparam("version_pk"))
INSERT_MODEL_SQLITE = sqlite_insert(_m).on_conflict_do_nothing(index_elements=["model_id"])
INSERT_MODEL_PG = pg_insert(_m).on_conflict_do_nothing(index_elements=["model_id"])
# The same, saying the new row's id (none when the model existed), where RETURNING works.
INSERT_MODEL_SQLITE_RETURNING = INSERT_MODEL_SQLITE.returning(_m.c.id)
INSERT_MODEL_PG_RETURNING = INSERT_MODEL_PG.returning(_m.c.id)
INSERT_VERSION = insert(_v)
INSERT_STAGE_CHANGE = insert(stage_changes)
INSERT_SNAPSHOT = insert(snapshots)
CHUNK = 500  # keys per IN (...) list: well under every driver's parameter limit
INSERT_EVENT = insert(events)

# What update_version may set: the descriptive fields, and the trust score the playbook keeps.
VERSION_FIELDS = frozenset({*DESCRIPTIVE_FIELDS, "trust_score"})


AnyRow = Row[*tuple[Any, ...]]


def new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table has an autoincrement key
        raise StorageError("the database returned no key for an insert")
    return int(key[0])


def page_size(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE_SIZE))


def row_entry(row: AnyRow) -> ModelEntry:
    r = row._mapping
    return ModelEntry(
        model_id=r["model_id"],
        version=r["version"],
        status=DeploymentStage(r["stage"]),
        name=r["name"],
        description=r["description"],
        owner=r["owner"],
        tags=tuple(r["tags"] or ()),
        artifact_uri=r["artifact_uri"],
        expected_latency_p95_ms=r["expected_latency_p95_ms"],
        constitutional_compliance=bool(r["constitutional_compliance"]),
        bias_check_passed=bool(r["bias_check_passed"]),
        calibration_error=r["calibration_error"],
        trust_score=r["trust_score"],
        metadata=dict(r["metadata"] or {}),
        registered_at=r["registered_at"],
        updated_at=r["updated_at"],
        stage_changed_at=r["stage_changed_at"],
        deployed_at=r["deployed_at"],
    )


def row_settings(row: AnyRow) -> StoredSettings:
    r = row._mapping
    return settings_of(r["auto_remediate"], [r[name] for name in SETTING_COLUMNS])


def row_stats(count: int | None, *avgs: float | None) -> WindowStats:
    return WindowStats(int(count or 0), *avgs)


def row_stage_change(row: AnyRow) -> StageChange:
    r = row._mapping
    return StageChange(
        id=r["id"],
        model_id=r["model_id"],
        version=r["version"],
        from_stage=DeploymentStage(r["from_stage"]) if r["from_stage"] else None,
        to_stage=DeploymentStage(r["to_stage"]),
        at=r["at"],
        actor=r["actor"],
        reason=r["reason"],
        cause=ChangeCause(r["cause"]),
    )


def row_timeline(row: AnyRow) -> TimelineEntry:
    r = row._mapping
    return TimelineEntry(
        id=r["id"],
        at=r["at"],
        kind=r["kind"],
        message=r["message"],
        actor=r["actor"],
        data=dict(r["data"] or {}),
    )


def row_incident(row: AnyRow, timeline: Sequence[TimelineEntry] = ()) -> Incident:
    r = row._mapping
    return Incident(
        id=r["id"],
        source=r["source"],
        resource_type=r["resource_type"],
        resource_id=r["resource_id"],
        severity=Severity(r["severity"]),
        title=r["title"],
        description=r["description"],
        context=dict(r["context"] or {}),
        status=IncidentStatus(r["status"]),
        dedup_key=r["dedup_key"],
        occurrences=r["occurrences"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        last_seen_at=r["last_seen_at"],
        acknowledged_at=r["acknowledged_at"],
        acknowledged_by=r["acknowledged_by"],
        resolved_at=r["resolved_at"],
        resolved_by=r["resolved_by"],
        timeline=tuple(timeline),
        recurrence_of=r["recurrence_of"],
        runbook_url=r["runbook_url"],
        paged_at=r["paged_at"],
        page_held_by=r["page_held_by"],
    )


def step_to_json(step: StepRecord) -> dict[str, Any]:
    return {
        "name": step.name,
        "status": step.status.value,
        "started_at": ensure_utc(step.started_at).isoformat(),
        "finished_at": ensure_utc(step.finished_at).isoformat(),
        "duration_ms": step.duration_ms,
        "detail": dict(step.detail),
        "error": step.error,
        "attempts": step.attempts,
    }


def step_from_json(doc: Mapping[str, Any]) -> StepRecord:
    return StepRecord(
        name=doc["name"],
        status=StepStatus(doc["status"]),
        started_at=ensure_utc(datetime.fromisoformat(doc["started_at"])),
        finished_at=ensure_utc(datetime.fromisoformat(doc["finished_at"])),
        duration_ms=float(doc.get("duration_ms", 0.0)),
        detail=dict(doc.get("detail") or {}),
        error=doc.get("error"),
        attempts=int(doc.get("attempts", 1)),
    )


def row_execution(row: AnyRow) -> PlaybookExecution:
    r = row._mapping
    return PlaybookExecution(
        id=r["id"],
        playbook=r["playbook"],
        resource_type=r["resource_type"],
        resource_id=r["resource_id"],
        status=ExecutionStatus(r["status"]),
        context=dict(r["context"] or {}),
        steps=tuple(step_from_json(s) for s in r["steps"] or ()),
        result=dict(r["result"] or {}),
        error=r["error"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
        reason=r["reason_code"],
        window_id=r["window_id"],
        expires_at=r["expires_at"],
        decided_by=r["decided_by"],
        decided_at=r["decided_at"],
    )


def row_token(row: AnyRow) -> ApiToken:
    r = row._mapping
    return ApiToken(
        token_id=r["token_id"],
        name=r["name"],
        scopes=frozenset(Scope(v) for v in r["scopes"] or ()),
        created_at=r["created_at"],
        revoked_at=r["revoked_at"],
        last_used_at=r["last_used_at"],
    )


def row_event(row: AnyRow) -> Event:
    r = row._mapping
    return Event(
        event_type=r["event_type"],
        source=r["source"],
        payload=dict(r["payload"] or {}),
        timestamp=r["occurred_at"],
        event_id=r["event_id"],
        resource_id=r["resource_id"],
        seq=r["seq"],
    )


def row_snapshot_event(row: AnyRow) -> Event:
    r = row._mapping
    snapshot = ModelPerformanceSnapshot(
        model_id=r["model_id"],
        version=r["version"],
        latency_p50_ms=r["latency_p50_ms"],
        latency_p95_ms=r["latency_p95_ms"],
        latency_p99_ms=r["latency_p99_ms"],
        requests_per_second=r["requests_per_second"],
        error_rate=r["error_rate"],
        ood_rate=r["ood_rate"],
        input_drift_score=r["input_drift_score"],
        accuracy=r["accuracy"],
        timestamp=r["ts"],
    )
    return snapshot.monitoring_event(r["recorded_at"], r["event_id"], r["id"])
