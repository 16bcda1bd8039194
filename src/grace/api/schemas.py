"""Request and response bodies of the HTTP API, as they appear in /openapi.json.

Input models check shape and types only; the rules (ranges, stage transitions,
gates) are the core's, so that they live in one place and give the same
errors in-process and over HTTP.  The documented schema states those rules too
(``grace.api.shapes``), so that what /openapi.json allows is what the core accepts.
The few checks made here keep the documented schema the whole rule where the
core is looser or JSON cannot say it: the form of a timestamp, a boolean that
may be left out but not sent as null, the number of tags, 10.0 as a whole number.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
    field_validator,
)

from grace.api.shapes import (
    Documented,
    DriftScore,
    EntryKind,
    Identifier,
    JsonObject,
    LatencyMs,
    LongText,
    Name,
    NonBlankText,
    Rate,
    RequestsPerSecond,
    Tag,
)
from grace.domain.snapshots import MAX_LATENCY_MS, MAX_WINDOW_MINUTES
from grace.domain.stages import DeploymentStage
from grace.domain.tokens import Scope
from grace.domain.triggers import THRESHOLD_RANGES, TriggerThresholds
from grace.domain.validation import MAX_TAGS


class _In(BaseModel):
    # Numbers and booleans are taken as JSON gives them: "12" or 1 is not a number or a bool.
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# -- models and versions -------------------------------------------------------------------
def _whole(value: object) -> object:
    """A float without a fraction as the integer it is: JSON Schema's integer includes 10.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A whole number, however JSON spells it (10 or 10.0); other floats, strings and bools are not.
WholeNumber = Annotated[StrictInt, BeforeValidator(_whole)]

# At most MAX_TAGS tags.  The core counts them after dropping repeats; the API refuses a longer
# list outright, so that the documented maxItems is the whole rule.
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]
LatencySlo = Annotated[StrictFloat, Documented(exclusiveMinimum=0, maximum=MAX_LATENCY_MS)]
# Registering straight into rollback is refused by the core: rollback is where a rollback puts one.
RegistrationStage = Annotated[
    DeploymentStage,
    WithJsonSchema(
        {
            "type": "string",
            "enum": [s.value for s in DeploymentStage if s is not DeploymentStage.ROLLBACK],
            "description": "The stage to register in (not rollback).",
        }
    ),
]
# A boolean that may be left out (kept as it is) but not sent as null: it has no "unset" state.
KeptBool = Annotated[StrictBool | None, WithJsonSchema({"type": "boolean"})]


class ModelCreate(_In):
    """A model version to register."""

    model_id: Identifier = Field(description="The model's id, e.g. fraud_detector_v3.")
    version: Identifier = Field(description="The version being registered, e.g. 3.2.1.")
    name: Name | None = Field(default=None, description="Display name (default: from model_id).")
    description: LongText | None = None
    owner: Identifier | None = None
    tags: Tags = Field(default_factory=list)
    artifact_uri: LongText | None = None
    expected_latency_p95_ms: LatencySlo | None = Field(
        default=None, description="The latency SLO; required (> 0) to enter production."
    )
    constitutional_compliance: StrictBool = False
    bias_check_passed: StrictBool = False
    calibration_error: Rate | None = Field(
        default=None, description="In [0, 1]; at most 0.1 to enter production."
    )
    stage: RegistrationStage = DeploymentStage.DEVELOPMENT
    metadata: JsonObject = Field(default_factory=dict)


class ModelUpdate(_In):
    """Descriptive fields to change (at least one); fields left out are kept, null clears one."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    name: Name | None = None
    description: LongText | None = None
    owner: Identifier | None = None
    tags: Tags | None = None
    artifact_uri: LongText | None = None
    expected_latency_p95_ms: LatencySlo | None = None
    constitutional_compliance: KeptBool = None
    bias_check_passed: KeptBool = None
    calibration_error: Rate | None = None
    metadata: JsonObject | None = None

    @field_validator("constitutional_compliance", "bias_check_passed", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must be true or false; leave the field out to keep it")
        return value


class StageChangeIn(_In):
    """A stage to move to; promoting with override_governance needs a reason."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {
                "properties": {
                    "stage": {"const": DeploymentStage.PRODUCTION.value},
                    "override_governance": {"const": True},
                },
                "required": ["stage", "override_governance"],
            },
            "then": {
                "properties": {"reason": {"type": "string", "minLength": 1}},
                "required": ["reason"],
            },
        },
    )

    stage: DeploymentStage
    reason: LongText | None = Field(
        default=None, description="Why; required (not empty) to override governance."
    )
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


def _threshold_ranges() -> dict[str, Any]:
    """The documented ``thresholds`` object: the known names, each in range or null."""

    def one(name: str) -> dict[str, Any]:
        kind, low, high = THRESHOLD_RANGES[name]  # KeyError: a new threshold needs its range
        return {"anyOf": [{"type": kind, "minimum": low, "maximum": high}, {"type": "null"}]}

    return {
        "type": "object",
        "properties": {name: one(name) for name in TriggerThresholds.names()},
        "additionalProperties": False,
    }


Window = Annotated[WholeNumber, Documented(minimum=1, maximum=MAX_WINDOW_MINUTES)]
Setting = Annotated[
    str,
    WithJsonSchema({"type": "string", "enum": [*TriggerThresholds.names(), "window_minutes"]}),
]


class SettingsIn(_In):
    """Per-model monitoring settings; fields left out are kept.

    error_rate_warning may not exceed error_rate_critical, as they stand once the change is
    applied to the model's current settings (refused with 422, field error_rate_warning).
    A setting named in `reset` is reset, even if `thresholds` gives it a value too (which
    must still be in range).
    """

    auto_remediate: StrictBool | None = None
    window_minutes: Window | None = Field(
        default=None, description=f"Minutes of history to judge, 1 to {MAX_WINDOW_MINUTES}."
    )
    thresholds: (
        Annotated[dict[str, StrictInt | StrictFloat | None], Documented(_threshold_ranges)] | None
    ) = Field(
        default=None,
        description="Threshold overrides by name (error_rate_warning, error_rate_critical, "
        "latency_factor, ood_rate, input_drift, min_snapshots); null resets one.",
    )
    reset: list[Setting] = Field(default_factory=list, description="Settings back to the default.")

    @field_validator("thresholds", mode="after")
    @classmethod
    def _whole_min_snapshots(
        cls, value: dict[str, int | float | None] | None
    ) -> dict[str, int | float | None] | None:
        count = None if value is None else value.get("min_snapshots")
        if value is not None and isinstance(count, float) and count.is_integer():
            value["min_snapshots"] = int(count)
        return value


class SettingsOut(_Out):
    model_id: str
    auto_remediate: bool
    window_minutes: int
    thresholds: ThresholdsOut
    overrides: dict[str, Any]


# -- snapshots, triggers, health -------------------------------------------------------------
# RFC 3339's date-time, the offset optional; pydantic alone would also take "0" (a Unix time),
# "2025-11-13" or a number, none of which the documented date-time format allows.
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})?", re.ASCII
)


class SnapshotIn(_In):
    """The guide's performance snapshot.  Rates are fractions in [0, 1]; latencies in ms.

    Latencies are ordered: latency_p50_ms <= latency_p95_ms <= latency_p99_ms.  A timestamp
    further ahead of the server's clock than GRACE_FUTURE_TIMESTAMP_TOLERANCE_SECONDS is
    refused, as is one whose UTC instant falls outside years 1 to 9999.
    """

    model_id: Identifier | None = Field(
        default=None, description="May be left out; must match the path."
    )
    version: Identifier
    timestamp: datetime | None = Field(
        default=None,
        description="An RFC 3339 date-time; defaults to now; without an offset it is UTC.",
    )
    latency_p50_ms: LatencyMs
    latency_p95_ms: LatencyMs
    latency_p99_ms: LatencyMs
    requests_per_second: RequestsPerSecond
    error_rate: Rate
    ood_rate: Rate
    input_drift_score: DriftScore | None = None
    accuracy: Rate | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> object:
        if value is not None and not (isinstance(value, str) and _TIMESTAMP.fullmatch(value)):
            raise ValueError("must be an RFC 3339 date-time, e.g. 2025-11-13T15:30:00Z")
        return value


class BatchSnapshotIn(SnapshotIn):
    model_id: Identifier | None = Field(default=None, description="Required in a batch.")


class BatchIn(_In):
    snapshots: list[Any] = Field(
        description="Snapshots, each a SnapshotIn with its model_id.  Each is validated alone: "
        "one that is not a valid snapshot is refused in the answer's items, the rest are stored."
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
    reason: str | None = Field(
        default=None,
        description="Why it did not act (maintenance_window, breaker_open, cooldown, "
        "rate_limit, fleet_rate_limit, dry_run, waiting_approval).",
    )
    message: str | None = None


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
    trust_score: float | None = Field(
        default=None, description="The version's trust score (grace.domain.trust), 0 to 1."
    )


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
    resolution_seconds: float | None = Field(description="Opened to resolved (MTTR's term).")
    acknowledgement_seconds: float | None = Field(
        default=None, description="Opened to acknowledged (MTTA's term)."
    )
    recurrence_of: int | None = Field(
        default=None, description="The resolved incident of the same cause this one recurs."
    )
    runbook_url: str | None = Field(default=None, description="The model's runbook.")
    paged_at: str | None = Field(default=None, description="When people were paged about it.")
    page_held_by: int | None = Field(
        default=None, description="The maintenance window that held its page back."
    )
    timeline: list[TimelineEntryOut]


class IncidentStatsOut(_Out):
    count: int
    open: int
    acknowledged: int
    resolved: int
    mtta_seconds: float | None = Field(description="Mean opened-to-acknowledged, of those.")
    mttr_seconds: float | None = Field(description="Mean opened-to-resolved, of those.")
    by_severity: dict[str, int]


class IncidentStatsPage(_Out):
    since: str
    until: str
    fleet: IncidentStatsOut
    models: dict[str, IncidentStatsOut]


class IncidentPage(_Out):
    items: list[IncidentOut]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page.")


class IncidentActionIn(_In):
    note: LongText | None = None


class NoteIn(_In):
    message: NonBlankText
    kind: EntryKind = "note"
    data: JsonObject = Field(default_factory=dict)


class StepOut(_Out):
    name: str
    status: str
    started_at: str
    finished_at: str
    duration_ms: float
    detail: dict[str, Any]
    error: str | None
    attempts: int = Field(description="How many times it was tried (0: skipped).")


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
    reason: str | None = Field(
        default=None,
        description="Why it did not act or has not yet: maintenance_window, breaker_open, "
        "cooldown, rate_limit, fleet_rate_limit, dry_run, waiting_approval, denied, "
        "approval_expired.",
    )
    maintenance_window_id: int | None = Field(
        default=None, description="The maintenance window that held it."
    )
    expires_at: str | None = Field(
        default=None, description="When a request for approval is denied unanswered."
    )
    decided_by: str | None = None
    decided_at: str | None = None
    dependents: list[dict[str, Any]] | None = Field(
        default=None,
        description="model_rollback: whom step 3 queued the rollback to, with each "
        "delivery's state now (one run; not in listings).",
    )


class ExecutionPage(_Out):
    items: list[ExecutionOut]
    next_before: int | None


class PlaybookStepOut(_Out):
    name: str
    description: str
    timeout_seconds: float
    retries: int
    retry_delay_seconds: float


class PlaybookOut(_Out):
    name: str
    resource_type: str
    description: str
    cooldown: bool
    steps: list[str]
    step_details: list[PlaybookStepOut]


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
    name: Identifier
    scopes: Annotated[list[Scope], Documented(minItems=1)]


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
