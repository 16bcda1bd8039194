"""Request and response bodies of the HTTP API, as they appear in /openapi.json.

Input models check shape and types only; the rules (ranges, stage transitions,
gates) are the core's, so that they live in one place and give the same
errors in-process and over HTTP.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from grace.domain.stages import DeploymentStage
from grace.domain.tokens import Scope


class _In(BaseModel):
    # Numbers and booleans are taken as JSON gives them: "12" or 1 is not a number or a bool.
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- models and versions -------------------------------------------------------------------
class ModelCreate(_In):
    """A model version to register."""

    model_id: str = Field(description="The model's id, e.g. fraud_detector_v3.")
    version: str = Field(description="The version being registered, e.g. 3.2.1.")
    name: str | None = Field(default=None, description="Display name (default: from model_id).")
    description: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    artifact_uri: str | None = None
    expected_latency_p95_ms: StrictFloat | None = Field(
        default=None, description="The latency SLO; required (> 0) to enter production."
    )
    constitutional_compliance: StrictBool = False
    bias_check_passed: StrictBool = False
    calibration_error: StrictFloat | None = Field(
        default=None, description="In [0, 1]; at most 0.1 to enter production."
    )
    stage: DeploymentStage = DeploymentStage.DEVELOPMENT
    metadata: dict[str, Any] = Field(default_factory=dict)


class ModelUpdate(_In):
    """Descriptive fields to change; fields left out are kept."""

    name: str | None = None
    description: str | None = None
    owner: str | None = None
    tags: list[str] | None = None
    artifact_uri: str | None = None
    expected_latency_p95_ms: StrictFloat | None = None
    constitutional_compliance: StrictBool | None = None
    bias_check_passed: StrictBool | None = None
    calibration_error: StrictFloat | None = None
    metadata: dict[str, Any] | None = None


class StageChangeIn(_In):
    stage: DeploymentStage
    reason: str | None = Field(default=None, description="Why; required to override governance.")
    override_governance: StrictBool = False


class ModelOut(_Out):
    """A registered model version."""

    model_id: str
    version: str
    status: DeploymentStage = Field(description="The deployment stage.")
    name: str | None
    description: str | None
    owner: str | None
    tags: list[str]
    artifact_uri: str | None
    expected_latency_p95_ms: float | None
    constitutional_compliance: bool
    bias_check_passed: bool
    calibration_error: float | None
    trust_score: float
    metadata: dict[str, Any]
    registered_at: str
    updated_at: str
    stage_changed_at: str
    deployed_at: str | None


class ModelPage(_Out):
    items: list[ModelOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class StageChangeOut(_Out):
    id: int
    model_id: str
    version: str
    from_stage: DeploymentStage | None
    to_stage: DeploymentStage
    at: str
    actor: str | None
    reason: str | None
    cause: str


class ThresholdsOut(_Out):
    error_rate_warning: float
    error_rate_critical: float
    latency_factor: float
    ood_rate: float
    input_drift: float
    min_snapshots: int


class SettingsIn(_In):
    """Per-model monitoring settings; fields left out are kept."""

    auto_remediate: StrictBool | None = None
    window_minutes: StrictInt | None = None
    thresholds: dict[str, StrictInt | StrictFloat | None] | None = Field(
        default=None,
        description="Threshold overrides by name (error_rate_warning, error_rate_critical, "
        "latency_factor, ood_rate, input_drift, min_snapshots); null resets one.",
    )
    reset: list[str] = Field(default_factory=list, description="Settings back to the default.")


class SettingsOut(_Out):
    model_id: str
    auto_remediate: bool
    window_minutes: int
    thresholds: ThresholdsOut
    overrides: dict[str, Any]


# -- snapshots, triggers, health -------------------------------------------------------------
class SnapshotIn(_In):
    """The guide's performance snapshot.  Rates are fractions in [0, 1]; latencies in ms."""

    model_id: str | None = Field(default=None, description="May be left out; must match the path.")
    version: str
    timestamp: datetime | None = Field(
        default=None, description="Defaults to now; without a zone it is UTC."
    )
    latency_p50_ms: StrictFloat
    latency_p95_ms: StrictFloat
    latency_p99_ms: StrictFloat
    requests_per_second: StrictFloat
    error_rate: StrictFloat
    ood_rate: StrictFloat
    input_drift_score: StrictFloat | None = None
    accuracy: StrictFloat | None = None


class BatchSnapshotIn(SnapshotIn):
    model_id: str | None = Field(default=None, description="Required in a batch.")


class BatchIn(_In):
    snapshots: list[dict[str, Any]] = Field(
        description="Snapshots (each as SnapshotIn, with model_id); each is validated alone."
    )


class ConditionOut(_Out):
    kind: str
    severity: str
    reason: str
    value: float
    threshold: float


class MetricsOut(_Out):
    avg_error_rate: float | None
    avg_latency_p95_ms: float | None
    avg_ood_rate: float | None
    avg_drift_score: float | None
    avg_accuracy: float | None = None
    snapshot_count: int


class RemediationOut(_Out):
    playbook: str
    execution_id: int | None = None
    status: str | None = None
    error: str | None = None
    from_version: str | None = None
    to_version: str | None = None


class RollbackCheckOut(_Out):
    """The guide's rollback-check answer."""

    model_id: str
    should_rollback: bool
    reasons: list[str]
    window_minutes: int
    auto_remediate: bool
    version: str
    severity: str | None
    snapshot_count: int
    metrics: MetricsOut
    conditions: list[ConditionOut]
    incident_id: int | None = None
    remediation: RemediationOut | None = None


class SnapshotResultOut(_Out):
    snapshot_id: int
    model_id: str
    version: str
    judged: bool = Field(description="True when the snapshot's version is in production.")
    check: RollbackCheckOut | None


class BatchItemOut(_Out):
    index: int
    status: str = Field(description="stored or refused")
    type: str | None = Field(default=None, description="For a refusal, the problem type.")
    snapshot_id: int | None = None
    field: str | None = None
    detail: str | None = None


class BatchOut(_Out):
    stored: int
    refused: int
    items: list[BatchItemOut]
    checks: list[RollbackCheckOut]


class HealthOut(_Out):
    """The guide's health summary of the production version."""

    model_id: str
    version: str
    status: str
    deployed_at: str | None
    health_status: str = Field(description="healthy, degraded, critical or unknown (no data)")
    metrics: MetricsOut
    window_minutes: int
    severity: str | None
    reasons: list[str]


class FleetIssueOut(_Out):
    model_id: str
    version: str
    reasons: list[str]
    severity: str | None


class FleetOut(_Out):
    """The guide's fleet monitor answer."""

    total_models: int
    healthy: int
    degraded: int
    failing: int
    no_data: int
    issues: list[FleetIssueOut]
    window_minutes: int
    checked_at: str | None


class RollbackOut(_Out):
    """The guide's manual rollback answer."""

    status: str
    model_id: str
    reason: str
    target_version: str
    from_version: str


# -- incidents, playbooks, events ----------------------------------------------------------------
class TimelineEntryOut(_Out):
    id: int
    at: str
    kind: str
    message: str
    actor: str | None
    data: dict[str, Any]


class IncidentOut(_Out):
    id: int
    source: str
    resource_type: str
    resource_id: str
    severity: str
    title: str
    description: str
    context: dict[str, Any]
    status: str
    dedup_key: str
    occurrences: int
    created_at: str
    updated_at: str
    last_seen_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    resolution_seconds: float | None
    timeline: list[TimelineEntryOut]


class IncidentPage(_Out):
    items: list[IncidentOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page.")


class IncidentActionIn(_In):
    note: str | None = None


class NoteIn(_In):
    message: str
    kind: str = "note"
    data: dict[str, Any] = Field(default_factory=dict)


class StepOut(_Out):
    name: str
    status: str
    started_at: str
    finished_at: str
    duration_ms: float
    detail: dict[str, Any]
    error: str | None


class ExecutionOut(_Out):
    id: int
    playbook: str
    resource_type: str
    resource_id: str
    status: str
    context: dict[str, Any]
    steps: list[StepOut]
    result: dict[str, Any]
    error: str | None
    started_at: str
    finished_at: str | None


class ExecutionPage(_Out):
    items: list[ExecutionOut]
    next_before: int | None


class PlaybookOut(_Out):
    name: str
    resource_type: str
    description: str
    cooldown: bool
    steps: list[str]


class EventOut(_Out):
    id: str
    seq: int | None
    event_type: str
    source: str
    resource_id: str | None
    timestamp: str
    data: dict[str, Any]


class TimelinePage(_Out):
    items: list[EventOut]
    next_before: int | None = Field(description="Pass as `before_seq` for older events.")


class EventPage(_Out):
    items: list[EventOut]
    next_after: int | None = Field(description="Pass as `after_seq` to continue.")


# -- tokens and the service -----------------------------------------------------------------------
class TokenCreate(_In):
    name: str
    scopes: list[Scope]


class TokenOut(_Out):
    token_id: str
    name: str
    scopes: list[str]
    created_at: str
    revoked_at: str | None
    last_used_at: str | None
    active: bool


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret; shown once, never stored.")


class ServiceHealthOut(_Out):
    status: str
    detail: str | None = None
    schema_revision: str | None = None


class ProblemOut(_Out):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
