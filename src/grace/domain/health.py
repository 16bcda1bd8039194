"""Health classification of a model version from its trigger evaluation.

=============  ======================================  ==================
health_status  when                                    monitor bucket
=============  ======================================  ==================
unknown        fewer snapshots in the window than the  no_data
               model's ``min_snapshots``
healthy        no condition fired                      healthy
degraded       conditions fired at MEDIUM overall      degraded
critical       conditions fired at HIGH or above       failing
=============  ======================================  ==================
"""

from __future__ import annotations

from enum import StrEnum

from grace.domain.severity import Severity
from grace.domain.triggers import TriggerEvaluation

__all__ = ["FleetBucket", "HealthStatus", "classify_health", "fleet_bucket"]


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"
    UNKNOWN = "unknown"


class FleetBucket(StrEnum):
    """Where ``monitor_production_models`` counts a production model."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    NO_DATA = "no_data"


def classify_health(evaluation: TriggerEvaluation) -> HealthStatus:
    if not evaluation.has_enough_data:
        return HealthStatus.UNKNOWN
    severity = evaluation.severity
    if severity is None:
        return HealthStatus.HEALTHY
    if severity.at_least(Severity.HIGH):
        return HealthStatus.CRITICAL
    return HealthStatus.DEGRADED


_BUCKETS = {
    HealthStatus.UNKNOWN: FleetBucket.NO_DATA,
    HealthStatus.HEALTHY: FleetBucket.HEALTHY,
    HealthStatus.DEGRADED: FleetBucket.DEGRADED,
    HealthStatus.CRITICAL: FleetBucket.FAILING,
}


def fleet_bucket(status: HealthStatus) -> FleetBucket:
    return _BUCKETS[status]
