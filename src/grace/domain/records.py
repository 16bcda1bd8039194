"""Typed records the core hands out; each converts to the guide's JSON with ``to_dict()``.

Storage adapters build these from rows, so no ORM object or database row ever
leaves the storage layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from grace.domain.governance import GovernanceFacts
from grace.domain.severity import Severity
from grace.domain.stages import DeploymentStage
from grace.domain.timeutil import isoformat
from grace.domain.triggers import TriggerThresholds

__all__ = [
    "DESCRIPTIVE_FIELDS",
    "ChangeCause",
    "ExecutionStatus",
    "Incident",
    "IncidentStatus",
    "ModelEntry",
    "ModelSettings",
    "PlaybookExecution",
    "StageChange",
    "StepRecord",
    "StepStatus",
    "StoredSettings",
    "TimelineEntry",
    "display_name",
]


# The descriptive fields of a version that a user may change after registration.
DESCRIPTIVE_FIELDS = (
    "name",
    "description",
    "owner",
    "tags",
    "artifact_uri",
    "expected_latency_p95_ms",
    "constitutional_compliance",
    "bias_check_passed",
    "calibration_error",
    "metadata",
)


def display_name(model_id: str) -> str:
    """``fraud_detector_v3`` -> ``Fraud Detector V3``, as in the guide's incident title."""
    words = model_id.replace("-", " ").replace("_", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words) or model_id


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One registered version of a model and everything the guide reads from it."""

    model_id: str
    version: str
    status: DeploymentStage
    name: str | None
    description: str | None
    owner: str | None
    tags: tuple[str, ...]
    artifact_uri: str | None
    expected_latency_p95_ms: float | None
    constitutional_compliance: bool
    bias_check_passed: bool
    calibration_error: float | None
    trust_score: float
    metadata: Mapping[str, Any]
    registered_at: datetime
    updated_at: datetime
    stage_changed_at: datetime
    deployed_at: datetime | None

    @property
    def stage(self) -> DeploymentStage:
        return self.status

    @property
    def display_name(self) -> str:
        return self.name or display_name(self.model_id)

    @property
    def governance(self) -> GovernanceFacts:
        return GovernanceFacts(
            constitutional_compliance=self.constitutional_compliance,
            bias_check_passed=self.bias_check_passed,
            expected_latency_p95_ms=self.expected_latency_p95_ms,
            calibration_error=self.calibration_error,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "version": self.version,
            "status": self.status.value,
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "tags": list(self.tags),
            "artifact_uri": self.artifact_uri,
            "expected_latency_p95_ms": self.expected_latency_p95_ms,
            "constitutional_compliance": self.constitutional_compliance,
            "bias_check_passed": self.bias_check_passed,
            "calibration_error": self.calibration_error,
            "trust_score": self.trust_score,
            "metadata": dict(self.metadata),
            "registered_at": isoformat(self.registered_at),
            "updated_at": isoformat(self.updated_at),
            "stage_changed_at": isoformat(self.stage_changed_at),
            "deployed_at": isoformat(self.deployed_at),
        }


@dataclass(frozen=True, slots=True)
class StoredSettings:
    """A model's settings as stored: the auto-remediation switch and the explicit overrides.

    ``overrides`` maps threshold names and ``window_minutes`` to the values set
    for this model; anything absent follows the service-wide defaults.
    """

    auto_remediate: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def window_minutes(self, default: int) -> int:
        """The window this model is judged over: its own, else the service-wide default."""
        return int(self.overrides.get("window_minutes") or default)


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Per-model monitoring settings in effect; ``overrides`` holds only what was set explicitly."""

    model_id: str
    auto_remediate: bool
    window_minutes: int
    thresholds: TriggerThresholds
    overrides: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(
        cls,
        model_id: str,
        stored: StoredSettings,
        defaults: TriggerThresholds,
        default_window_minutes: int,
    ) -> ModelSettings:
        overrides = {k: v for k, v in stored.overrides.items() if k != "window_minutes"}
        return cls(
            model_id=model_id,
            auto_remediate=stored.auto_remediate,
            window_minutes=stored.window_minutes(default_window_minutes),
            # Most models keep the defaults; share that object instead of rebuilding it.
            thresholds=defaults.with_overrides(overrides) if overrides else defaults,
            overrides=dict(stored.overrides),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "auto_remediate": self.auto_remediate,
            "window_minutes": self.window_minutes,
            "thresholds": self.thresholds.to_dict(),
            "overrides": dict(self.overrides),
        }


class ChangeCause(StrEnum):
    """Why a stage changed; kept in the append-only history."""

    REGISTRATION = "registration"
    MANUAL = "manual"
    GOVERNANCE_OVERRIDE = "governance_override"
    REPLACED = "replaced"  # moved out of production because another version was promoted
    MANUAL_ROLLBACK = "manual_rollback"
    AUTO_REMEDIATION = "auto_remediation"


@dataclass(frozen=True, slots=True)
class StageChange:
    id: int
    model_id: str
    version: str
    from_stage: DeploymentStage | None
    to_stage: DeploymentStage
    at: datetime
    actor: str | None
    reason: str | None
    cause: ChangeCause

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model_id": self.model_id,
            "version": self.version,
            "from_stage": self.from_stage.value if self.from_stage else None,
            "to_stage": self.to_stage.value,
            "at": isoformat(self.at),
            "actor": self.actor,
            "reason": self.reason,
            "cause": self.cause.value,
        }


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    id: int
    at: datetime
    kind: str
    message: str
    actor: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": isoformat(self.at),
            "kind": self.kind,
            "message": self.message,
            "actor": self.actor,
            "data": dict(self.data),
        }


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    source: str
    resource_type: str
    resource_id: str
    severity: Severity
    title: str
    description: str
    context: Mapping[str, Any]
    status: IncidentStatus
    dedup_key: str
    occurrences: int
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    timeline: tuple[TimelineEntry, ...] = ()
    #: The resolved incident of the same cause that this one is a recurrence of.
    recurrence_of: int | None = None
    runbook_url: str | None = None
    #: When people were paged about it; the maintenance window holding its page back.
    paged_at: datetime | None = None
    page_held_by: int | None = None

    @property
    def resolution_seconds(self) -> float | None:
        """Time to resolve (the incident's MTTR term): opened to resolved."""
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.created_at).total_seconds()

    @property
    def acknowledgement_seconds(self) -> float | None:
        """Time to acknowledge (the MTTA term): opened to acknowledged."""
        if self.acknowledged_at is None:
            return None
        return (self.acknowledged_at - self.created_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "severity": self.severity.value,
            "title": self.title,
            "description": self.description,
            "context": dict(self.context),
            "status": self.status.value,
            "dedup_key": self.dedup_key,
            "occurrences": self.occurrences,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
            "last_seen_at": isoformat(self.last_seen_at),
            "acknowledged_at": isoformat(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": isoformat(self.resolved_at),
            "resolved_by": self.resolved_by,
            "resolution_seconds": self.resolution_seconds,
            "acknowledgement_seconds": self.acknowledgement_seconds,
            "recurrence_of": self.recurrence_of,
            "runbook_url": self.runbook_url,
            "paged_at": isoformat(self.paged_at),
            "page_held_by": self.page_held_by,
            "timeline": [t.to_dict() for t in self.timeline],
        }


class ExecutionStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"
    #: Left running by a process that died; it never finished and counts for nothing.
    ABANDONED = "abandoned"
    #: Held back by a maintenance window (acted on, or paged, when the window ends).
    HELD = "held"
    #: Waiting for a human's approval; DENIED when denied or unanswered in time.
    WAITING_APPROVAL = "waiting_approval"
    DENIED = "denied"
    #: A dry run: what the pipeline would have done is in ``result``; nothing was done.
    DRY_RUN = "dry_run"


class StepStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One playbook step as it ran; ``duration_ms`` is measured, not derived from the clock."""

    name: str
    status: StepStatus
    started_at: datetime
    finished_at: datetime
    duration_ms: float
    detail: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    #: How many times it was tried (its retries after the first; 0: skipped).
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "started_at": isoformat(self.started_at),
            "finished_at": isoformat(self.finished_at),
            "duration_ms": self.duration_ms,
            "detail": dict(self.detail),
            "error": self.error,
            "attempts": self.attempts,
        }


@dataclass(frozen=True, slots=True)
class PlaybookExecution:
    id: int
    playbook: str
    resource_type: str
    resource_id: str
    status: ExecutionStatus
    context: Mapping[str, Any]
    steps: tuple[StepRecord, ...]
    result: Mapping[str, Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None
    #: Why it did not act, or has not yet (grace.domain.guardrails.Reason's value).
    reason: str | None = None
    window_id: int | None = None
    expires_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "playbook": self.playbook,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "status": self.status.value,
            "context": dict(self.context),
            "steps": [s.to_dict() for s in self.steps],
            "result": dict(self.result),
            "error": self.error,
            "started_at": isoformat(self.started_at),
            "finished_at": isoformat(self.finished_at),
            "reason": self.reason,
            "maintenance_window_id": self.window_id,
            "expires_at": isoformat(self.expires_at),
            "decided_by": self.decided_by,
            "decided_at": isoformat(self.decided_at),
        }
