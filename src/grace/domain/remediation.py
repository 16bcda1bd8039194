"""What acting on fired rollback triggers decides, with no I/O: the incident's severity, its
dedup key, title, description and context, and the summary of a remediation run.

The remediation pipeline (:mod:`grace.services.remediation`) carries these out; every
trigger source (a snapshot, a batch, a rollback check) reaches them through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grace.domain.records import ModelEntry
from grace.domain.severity import Severity
from grace.domain.triggers import TriggerEvaluation

__all__ = [
    "FLEET",
    "REMEDIATION_ID",
    "RESOURCE_TYPE",
    "IncidentDraft",
    "breaker_incident",
    "correlation_of",
    "degradation_dedup_key",
    "degradation_incident",
    "fleet_burst_incident",
    "remediation_severity",
    "remediation_summary",
]

#: The resource type of a model in incidents and playbook runs (the guide's "ml_model").
RESOURCE_TYPE = "ml_model"
#: The key of a playbook context that names the remediation asking for the run: the engine
#: stores it with the run, and the pipeline finds the run by it (never "the newest run").
REMEDIATION_ID = "remediation_id"


def correlation_of(context: Mapping[str, Any]) -> str | None:
    """The remediation id a playbook context carries, if it is a plausible one."""
    value = context.get(REMEDIATION_ID)
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def remediation_severity(fired: Severity | None, remediate: bool) -> Severity:
    """The incident's severity: the fired conditions' (MEDIUM if none says), and at least HIGH
    when the registry rolls back on its own (the guide's step 1)."""
    severity = fired or Severity.MEDIUM
    if remediate and not severity.at_least(Severity.HIGH):
        return Severity.HIGH
    return severity


def degradation_dedup_key(source: str, model_id: str, version: str) -> str:
    """One open degradation incident per model version, whoever reports it again."""
    return f"{source}:{RESOURCE_TYPE}:{model_id}:{version}:degradation"


@dataclass(frozen=True, slots=True)
class IncidentDraft:
    """The incident to open, as the guide's incident callback receives it."""

    source: str
    resource_id: str
    severity: Severity
    title: str
    description: str
    context: dict[str, Any]
    resource_type: str = RESOURCE_TYPE

    @property
    def dedup_key(self) -> str:
        return str(self.context["dedup_key"])

    def as_kwargs(self) -> dict[str, Any]:
        """``create_incident``'s (and the incident callback's) keyword arguments."""
        return {
            "source": self.source,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "severity": self.severity,
            "title": self.title,
            "description": self.description,
            "context": self.context,
        }


def degradation_incident(
    source: str,
    entry: ModelEntry,
    evaluation: TriggerEvaluation,
    severity: Severity,
    window_minutes: int,
) -> IncidentDraft:
    """The incident for fired triggers of ``entry`` over a window of ``window_minutes``."""
    model_id, version = entry.model_id, entry.version
    stats = evaluation.stats
    reasons = "\n".join(f"- {r}" for r in evaluation.reasons)
    return IncidentDraft(
        source=source,
        resource_id=model_id,
        severity=severity,
        title=f"Model performance degradation detected: {entry.display_name}",
        description=f"Model {model_id} (v{version}) triggered rollback conditions:\n{reasons}",
        context={
            "model_version": version,
            "deploy_status": entry.status.value,
            "reasons": evaluation.reasons,
            "avg_error_rate": stats.avg_error_rate,
            "avg_ood_rate": stats.avg_ood_rate,
            "avg_latency_p95_ms": stats.avg_latency_p95_ms,
            "avg_drift_score": stats.avg_drift_score,
            "snapshot_count": stats.snapshot_count,
            "window_minutes": window_minutes,
            "dedup_key": degradation_dedup_key(source, model_id, version),
        },
    )


def remediation_summary(execution: Mapping[str, Any]) -> dict[str, Any]:
    """What a remediation's check result says of its playbook run (an execution's dict)."""
    result = execution.get("result") or {}
    summary = {
        "execution_id": execution["id"],
        "status": execution["status"],
        "error": execution.get("error"),
        "from_version": result.get("from_version"),
        "to_version": result.get("to_version"),
    }
    if execution.get("reason"):
        summary["reason"] = execution["reason"]
    return summary


#: The resource of an incident about the fleet as a whole.
FLEET = "fleet"


def fleet_burst_incident(source: str, message: str) -> IncidentDraft:
    """The CRITICAL incident that pages a human when remediations across the fleet pass
    their hourly limit: something other than the models is likely wrong."""
    return IncidentDraft(
        source=source,
        resource_id=FLEET,
        severity=Severity.CRITICAL,
        title="Fleet-wide burst of automatic remediations",
        description=(
            f"{message}. Automatic remediation is refused until the hour's count falls below "
            "GRACE_REMEDIATION_MAX_FLEET_PER_HOUR; look at what the models share (a feature "
            "store, an upstream service, a deployment)."
        ),
        context={"dedup_key": f"{source}:{FLEET}:remediation_burst"},
        resource_type=FLEET,
    )


def breaker_incident(source: str, model_id: str, reason: str) -> IncidentDraft:
    """The HIGH incident that asks a human to look when the circuit breaker switches
    automatic remediation off for ``model_id``."""
    return IncidentDraft(
        source=source,
        resource_id=model_id,
        severity=Severity.HIGH,
        title=f"Automatic remediation switched off for {model_id}",
        description=(
            f"The circuit breaker opened: {reason}. Automatic remediation of {model_id} stays "
            "off until a human turns it back on (POST /api/model-registry/models/"
            f"{model_id}/remediation/breaker/close, or grace remediation close-breaker)."
        ),
        context={"dedup_key": f"{source}:{RESOURCE_TYPE}:{model_id}:breaker", "reason": reason},
    )
