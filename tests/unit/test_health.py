"""Health classification of a version and where the monitor counts it."""

from __future__ import annotations

import pytest

from grace.domain.health import FleetBucket, HealthStatus, classify_health, fleet_bucket
from grace.domain.severity import Severity
from grace.domain.snapshots import WindowStats
from grace.domain.triggers import (
    ConditionKind,
    TriggerCondition,
    TriggerEvaluation,
    TriggerThresholds,
    evaluate_triggers,
)

DEFAULTS = TriggerThresholds()


def health(stats: WindowStats, thresholds: TriggerThresholds = DEFAULTS) -> HealthStatus:
    return classify_health(evaluate_triggers(stats, thresholds, 245.3))


def test_the_guides_summary_metrics_are_critical() -> None:
    """The guide's health summary (8.5% errors, 22% OOD) is critical: two conditions make HIGH."""
    stats = WindowStats(12, avg_error_rate=0.085, avg_latency_p95_ms=245.3, avg_ood_rate=0.22)
    assert health(stats) is HealthStatus.CRITICAL
    assert fleet_bucket(HealthStatus.CRITICAL) is FleetBucket.FAILING


def test_a_calm_window_is_healthy() -> None:
    """No condition firing means healthy."""
    assert health(WindowStats(3, 0.01, 200.0, 0.05, 0.1)) is HealthStatus.HEALTHY


def test_one_medium_condition_is_degraded() -> None:
    """A single MEDIUM condition (errors at 8.5%) means degraded, not failing."""
    assert health(WindowStats(3, avg_error_rate=0.085)) is HealthStatus.DEGRADED


def test_an_error_rate_above_critical_alone_is_critical() -> None:
    """Errors above 10% are HIGH on their own, so the version is critical."""
    assert health(WindowStats(3, avg_error_rate=0.11)) is HealthStatus.CRITICAL


def test_too_few_snapshots_is_unknown_even_when_degraded() -> None:
    """A version without min_snapshots readings is unknown, however bad the readings look."""
    thresholds = TriggerThresholds(min_snapshots=5)
    assert health(WindowStats(4, avg_error_rate=0.9), thresholds) is HealthStatus.UNKNOWN
    assert health(WindowStats(0)) is HealthStatus.UNKNOWN


def test_a_low_severity_evaluation_is_degraded() -> None:
    """A condition below HIGH (even LOW, which the table never produces) is degraded."""
    low = TriggerCondition(ConditionKind.LATENCY, Severity.LOW, "slow-ish", 2.0, 1.0)
    evaluation = TriggerEvaluation(WindowStats(1), (low,), DEFAULTS)
    assert classify_health(evaluation) is HealthStatus.DEGRADED


@pytest.mark.parametrize(
    ("status", "bucket"),
    [
        (HealthStatus.HEALTHY, FleetBucket.HEALTHY),
        (HealthStatus.DEGRADED, FleetBucket.DEGRADED),
        (HealthStatus.CRITICAL, FleetBucket.FAILING),
        (HealthStatus.UNKNOWN, FleetBucket.NO_DATA),
    ],
)
def test_each_status_lands_in_its_monitor_bucket(status: HealthStatus, bucket: FleetBucket) -> None:
    """The monitor's healthy/degraded/failing/no_data counts follow the health status."""
    assert fleet_bucket(status) is bucket
