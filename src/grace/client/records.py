"""The service's JSON answers rebuilt as the in-process registry's records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from grace.client.wire import PROBLEM_PREFIX
from grace.domain.events import Event
from grace.domain.records import (
    ChangeCause,
    ExecutionStatus,
    Incident,
    IncidentStatus,
    ModelEntry,
    ModelSettings,
    PlaybookExecution,
    StageChange,
    StepRecord,
    StepStatus,
    TimelineEntry,
)
from grace.domain.severity import Severity
from grace.domain.stages import DeploymentStage
from grace.domain.timeutil import ensure_utc
from grace.domain.triggers import TriggerThresholds
from grace.errors import (
    GraceError,
    InvalidInput,
    error_types,
)
from grace.services.results import (
    BatchItem,
    RollbackCheck,
)


def _time(value: str) -> datetime:
    return ensure_utc(datetime.fromisoformat(value))


def _optional_time(value: str | None) -> datetime | None:
    return None if value is None else _time(value)


def entry_from(d: Mapping[str, Any]) -> ModelEntry:
    return ModelEntry(
        model_id=d["model_id"],
        version=d["version"],
        status=DeploymentStage(d["status"]),
        name=d["name"],
        description=d["description"],
        owner=d["owner"],
        tags=tuple(d["tags"]),
        artifact_uri=d["artifact_uri"],
        expected_latency_p95_ms=d["expected_latency_p95_ms"],
        constitutional_compliance=d["constitutional_compliance"],
        bias_check_passed=d["bias_check_passed"],
        calibration_error=d["calibration_error"],
        trust_score=d["trust_score"],
        metadata=dict(d["metadata"]),
        registered_at=_time(d["registered_at"]),
        updated_at=_time(d["updated_at"]),
        stage_changed_at=_time(d["stage_changed_at"]),
        deployed_at=_optional_time(d["deployed_at"]),
    )


def stage_change_from(d: Mapping[str, Any]) -> StageChange:
    return StageChange(
        id=d["id"],
        model_id=d["model_id"],
        version=d["version"],
        from_stage=DeploymentStage(d["from_stage"]) if d["from_stage"] else None,
        to_stage=DeploymentStage(d["to_stage"]),
        at=_time(d["at"]),
        actor=d["actor"],
        reason=d["reason"],
        cause=ChangeCause(d["cause"]),
    )


def settings_from(d: Mapping[str, Any]) -> ModelSettings:
    return ModelSettings(
        model_id=d["model_id"],
        auto_remediate=d["auto_remediate"],
        window_minutes=d["window_minutes"],
        thresholds=TriggerThresholds(**d["thresholds"]),
        overrides=dict(d["overrides"]),
    )


def event_from(d: Mapping[str, Any]) -> Event:
    # Every event Grace stores is built by Event.of: its payload is resource_id plus data.
    return Event(
        event_type=d["event_type"],
        source=d["source"],
        payload={"resource_id": d["resource_id"], **d["data"]},
        timestamp=_time(d["timestamp"]),
        event_id=d["id"],
        resource_id=d["resource_id"],
        seq=d["seq"],
    )


def timeline_entry_from(d: Mapping[str, Any]) -> TimelineEntry:
    return TimelineEntry(
        id=d["id"],
        at=_time(d["at"]),
        kind=d["kind"],
        message=d["message"],
        actor=d["actor"],
        data=dict(d["data"]),
    )


def incident_from(d: Mapping[str, Any]) -> Incident:
    return Incident(
        id=d["id"],
        source=d["source"],
        resource_type=d["resource_type"],
        resource_id=d["resource_id"],
        severity=Severity(d["severity"]),
        title=d["title"],
        description=d["description"],
        context=dict(d["context"]),
        status=IncidentStatus(d["status"]),
        dedup_key=d["dedup_key"],
        occurrences=d["occurrences"],
        created_at=_time(d["created_at"]),
        updated_at=_time(d["updated_at"]),
        last_seen_at=_time(d["last_seen_at"]),
        acknowledged_at=_optional_time(d["acknowledged_at"]),
        acknowledged_by=d["acknowledged_by"],
        resolved_at=_optional_time(d["resolved_at"]),
        resolved_by=d["resolved_by"],
        timeline=tuple(timeline_entry_from(t) for t in d["timeline"]),
        recurrence_of=d.get("recurrence_of"),
        runbook_url=d.get("runbook_url"),
        paged_at=_optional_time(d.get("paged_at")),
        page_held_by=d.get("page_held_by"),
    )


def _step(d: Mapping[str, Any]) -> StepRecord:
    return StepRecord(
        name=d["name"],
        status=StepStatus(d["status"]),
        started_at=_time(d["started_at"]),
        finished_at=_time(d["finished_at"]),
        duration_ms=d["duration_ms"],
        detail=dict(d["detail"]),
        error=d["error"],
        attempts=int(d.get("attempts", 1)),
    )


def execution_from(d: Mapping[str, Any]) -> PlaybookExecution:
    return PlaybookExecution(
        id=d["id"],
        playbook=d["playbook"],
        resource_type=d["resource_type"],
        resource_id=d["resource_id"],
        status=ExecutionStatus(d["status"]),
        context=dict(d["context"]),
        steps=tuple(_step(s) for s in d["steps"]),
        result=dict(d["result"]),
        error=d["error"],
        started_at=_time(d["started_at"]),
        finished_at=_optional_time(d["finished_at"]),
        reason=d.get("reason"),
        window_id=d.get("maintenance_window_id"),
        expires_at=_optional_time(d.get("expires_at")),
        decided_by=d.get("decided_by"),
        decided_at=_optional_time(d.get("decided_at")),
    )


def check_from(d: Mapping[str, Any] | None) -> RollbackCheck | None:
    return None if d is None else cast(RollbackCheck, dict(d))


def batch_item_from(d: Mapping[str, Any]) -> BatchItem:
    if d["status"] == "stored":
        return BatchItem(d["index"], d["snapshot_id"], None)
    detail = str(d.get("detail") or "refused")
    field = d.get("field")
    problem_type = str(d.get("type") or "")
    kind = error_types().get(problem_type.removeprefix(PROBLEM_PREFIX), InvalidInput)
    error: GraceError
    if issubclass(kind, InvalidInput):
        name = str(field or "snapshot")
        error = InvalidInput.rebuild(detail, field=name, problem=detail.removeprefix(f"{name}: "))
    else:
        error = kind.rebuild(detail)
    return BatchItem(d["index"], None, error)


# -- transports: a sync transport driven from async code, and the reverse -----------------------
