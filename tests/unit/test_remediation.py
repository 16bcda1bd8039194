"""The remediation pipeline's decisions: severity, dedup key, the incident's text, the summary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from grace.domain.records import ModelEntry
from grace.domain.remediation import (
    RESOURCE_TYPE,
    degradation_dedup_key,
    degradation_incident,
    remediation_severity,
    remediation_summary,
)
from grace.domain.severity import Severity
from grace.domain.snapshots import WindowStats
from grace.domain.stages import DeploymentStage
from grace.domain.triggers import TriggerThresholds, evaluate_triggers

AT = datetime(2025, 11, 13, 15, 30, tzinfo=UTC)


def entry(name: str | None = None) -> ModelEntry:
    return ModelEntry(
        model_id="fraud_detector_v3",
        version="3.2.1",
        status=DeploymentStage.PRODUCTION,
        name=name,
        description=None,
        owner=None,
        tags=(),
        artifact_uri=None,
        expected_latency_p95_ms=245.3,
        constitutional_compliance=True,
        bias_check_passed=True,
        calibration_error=None,
        trust_score=0.8,
        metadata={},
        registered_at=AT,
        updated_at=AT,
        stage_changed_at=AT,
        deployed_at=AT,
    )


@pytest.mark.parametrize(
    ("fired", "remediate", "expected"),
    [
        (None, False, Severity.MEDIUM),
        (Severity.LOW, False, Severity.LOW),
        (Severity.MEDIUM, False, Severity.MEDIUM),
        (Severity.LOW, True, Severity.HIGH),
        (Severity.MEDIUM, True, Severity.HIGH),
        (Severity.HIGH, True, Severity.HIGH),
        (Severity.CRITICAL, True, Severity.CRITICAL),
        (Severity.CRITICAL, False, Severity.CRITICAL),
    ],
)
def test_an_automatic_rollback_is_at_least_a_high_incident(
    fired: Severity | None, remediate: bool, expected: Severity
) -> None:
    assert remediation_severity(fired, remediate) is expected


def test_one_dedup_key_per_model_version() -> None:
    key = degradation_dedup_key("model_registry", "fraud_detector_v3", "3.2.1")
    assert key == f"model_registry:{RESOURCE_TYPE}:fraud_detector_v3:3.2.1:degradation"
    assert key != degradation_dedup_key("model_registry", "fraud_detector_v3", "3.1.5")


def test_the_incident_is_the_guides_degradation_incident() -> None:
    """The guide's title and description, the window's figures in the context."""
    stats = WindowStats(4, 0.085, 245.3, 0.22, 0.35, 0.89)
    evaluation = evaluate_triggers(stats, TriggerThresholds(), 245.3)
    draft = degradation_incident("model_registry", entry(), evaluation, Severity.HIGH, 10)

    assert draft.title == "Model performance degradation detected: Fraud Detector V3"
    assert draft.description == (
        "Model fraud_detector_v3 (v3.2.1) triggered rollback conditions:\n"
        + "\n".join(f"- {r}" for r in evaluation.reasons)
    )
    assert draft.dedup_key == degradation_dedup_key("model_registry", "fraud_detector_v3", "3.2.1")
    kwargs = draft.as_kwargs()
    assert (kwargs["resource_type"], kwargs["resource_id"]) == (RESOURCE_TYPE, "fraud_detector_v3")
    assert kwargs["severity"] is Severity.HIGH
    assert kwargs["context"] == {
        "model_version": "3.2.1",
        "deploy_status": "production",
        "reasons": evaluation.reasons,
        "avg_error_rate": 0.085,
        "avg_ood_rate": 0.22,
        "avg_latency_p95_ms": 245.3,
        "avg_drift_score": 0.35,
        "snapshot_count": 4,
        "window_minutes": 10,
        "dedup_key": draft.dedup_key,
    }
    named = degradation_incident("model_registry", entry("Fraud"), evaluation, Severity.HIGH, 10)
    assert named.title == "Model performance degradation detected: Fraud"


def test_the_summary_of_a_run_names_its_outcome_and_versions() -> None:
    execution = {
        "id": 7,
        "status": "completed",
        "error": None,
        "result": {"from_version": "3.2.1", "to_version": "3.1.5", "other": 1},
    }
    assert remediation_summary(execution) == {
        "execution_id": 7,
        "status": "completed",
        "error": None,
        "from_version": "3.2.1",
        "to_version": "3.1.5",
    }
    assert remediation_summary({"id": 8, "status": "failed", "result": None})["to_version"] is None
