"""Small builders shared by tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from grace.domain.snapshots import ModelPerformanceSnapshot
from grace.domain.stages import DeploymentStage
from grace.model_registry import ModelRegistry

HEALTHY: dict[str, Any] = {
    "latency_p50_ms": 100.0,
    "latency_p95_ms": 200.0,
    "latency_p99_ms": 300.0,
    "requests_per_second": 250.0,
    "error_rate": 0.01,
    "ood_rate": 0.05,
    "input_drift_score": 0.1,
    "accuracy": 0.93,
}

# The guide's degraded snapshot.
DEGRADED: dict[str, Any] = {
    "latency_p50_ms": 120.5,
    "latency_p95_ms": 245.3,
    "latency_p99_ms": 350.1,
    "requests_per_second": 250.0,
    "error_rate": 0.085,
    "ood_rate": 0.22,
    "input_drift_score": 0.35,
    "accuracy": 0.89,
}


def snapshot(
    model_id: str, version: str, *, at: datetime, base: dict[str, Any] | None = None, **values: Any
) -> ModelPerformanceSnapshot:
    fields = {**(base or HEALTHY), **values}
    return ModelPerformanceSnapshot(model_id=model_id, version=version, timestamp=at, **fields)


def register(
    registry: ModelRegistry,
    model_id: str,
    version: str,
    *,
    production: bool = False,
    expected_latency_p95_ms: float = 245.3,
    **kwargs: Any,
) -> None:
    """Register a version that passes every governance gate, optionally promoting it."""
    registry.register_model(
        model_id,
        version,
        expected_latency_p95_ms=expected_latency_p95_ms,
        constitutional_compliance=True,
        bias_check_passed=True,
        **kwargs,
    )
    if production:
        registry.update_deployment_status(model_id, DeploymentStage.PRODUCTION, version)
