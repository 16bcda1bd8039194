"""Rollback triggers: the guide's table, evaluated in exactly one place.

==========================  ==================================  ========
Condition                   Threshold (defaults)                Severity
==========================  ==================================  ========
Error rate                  > 5% warning, > 10% critical        MEDIUM / HIGH
Latency degradation         p95 > 1.5 x the expected p95        MEDIUM
OOD rate                    > 20%                               MEDIUM
Input drift                 > 0.3                               MEDIUM
==========================  ==================================  ========

The overall severity is the highest single one, raised to HIGH when two or
more conditions fire.  The monitor, the HTTP API, the snapshot path and the
playbook all call :func:`evaluate_triggers`; no other copy of these rules exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

from grace.domain.severity import Severity, highest
from grace.domain.snapshots import WindowStats
from grace.domain.validation import check_number
from grace.errors import InvalidInput

__all__ = [
    "MAX_DRIFT",
    "MAX_LATENCY_FACTOR",
    "MAX_MIN_SNAPSHOTS",
    "THRESHOLD_RANGES",
    "ConditionKind",
    "TriggerCondition",
    "TriggerEvaluation",
    "TriggerThresholds",
    "check_threshold",
    "evaluate_triggers",
    "overall_severity",
]

MAX_LATENCY_FACTOR = 1000.0  # the latency threshold, a multiple of the SLO
MAX_DRIFT = 1e6  # the drift threshold (KL divergence and friends are unbounded)
MAX_MIN_SNAPSHOTS = 100_000  # the snapshots a window needs before it is judged

#: Each threshold's range: (JSON type, minimum, maximum).
THRESHOLD_RANGES: dict[str, tuple[str, float, float]] = {
    "error_rate_warning": ("number", 0, 1),
    "error_rate_critical": ("number", 0, 1),
    "latency_factor": ("number", 1, MAX_LATENCY_FACTOR),
    "ood_rate": ("number", 0, 1),
    "input_drift": ("number", 0, MAX_DRIFT),
    "min_snapshots": ("integer", 1, MAX_MIN_SNAPSHOTS),
}


def check_threshold(name: str, value: object) -> float | int:
    """One threshold's value within its range (a whole number where the range says so)."""
    if name not in THRESHOLD_RANGES:
        raise InvalidInput(name, f"is not a threshold; known: {', '.join(THRESHOLD_RANGES)}")
    kind, low, high = THRESHOLD_RANGES[name]
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(name, f"must be a whole number from {low:g} to {high:g}")
        return value
    return check_number(name, value, minimum=low, maximum=high)


# Window averages come out of SQL sums; round away float noise so that a window of
# readings exactly at a threshold does not fire because of the last binary digit.
_PRECISION = 9


class ConditionKind(StrEnum):
    ERROR_RATE = "error_rate"
    LATENCY = "latency"
    OOD_RATE = "ood_rate"
    INPUT_DRIFT = "input_drift"


@dataclass(frozen=True, slots=True)
class TriggerThresholds:
    """Per-model thresholds; the defaults are the guide's."""

    error_rate_warning: float = 0.05
    error_rate_critical: float = 0.10
    latency_factor: float = 1.5
    ood_rate: float = 0.20
    input_drift: float = 0.30
    min_snapshots: int = 1

    def __post_init__(self) -> None:
        for name in THRESHOLD_RANGES:
            check_threshold(name, getattr(self, name))
        if self.error_rate_warning > self.error_rate_critical:
            raise InvalidInput("error_rate_warning", "must not exceed error_rate_critical")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def with_overrides(self, overrides: Mapping[str, Any]) -> TriggerThresholds:
        """A copy with the given non-None values replaced; unknown names are refused."""
        unknown = sorted(set(overrides) - set(self.names()))
        if unknown:
            raise InvalidInput(unknown[0], f"is not a threshold; known: {', '.join(self.names())}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TriggerCondition:
    """One fired condition, with the reason worded as the guide words it."""

    kind: ConditionKind
    severity: Severity
    reason: str
    value: float
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "reason": self.reason,
            "value": self.value,
            "threshold": self.threshold,
        }


@dataclass(frozen=True, slots=True)
class TriggerEvaluation:
    """The verdict over one window: which conditions fired and how severe it is overall."""

    stats: WindowStats
    conditions: tuple[TriggerCondition, ...]
    thresholds: TriggerThresholds

    @property
    def should_rollback(self) -> bool:
        return bool(self.conditions)

    @property
    def reasons(self) -> list[str]:
        return [c.reason for c in self.conditions]

    @property
    def severity(self) -> Severity | None:
        return overall_severity(self.conditions)

    @property
    def has_enough_data(self) -> bool:
        return self.stats.snapshot_count >= self.thresholds.min_snapshots


def overall_severity(conditions: tuple[TriggerCondition, ...]) -> Severity | None:
    """Highest single severity, raised to HIGH when two or more conditions fire."""
    top = highest(c.severity for c in conditions)
    if top is not None and len(conditions) >= 2 and not top.at_least(Severity.HIGH):
        return Severity.HIGH
    return top


def _above(value: float | None, threshold: float) -> bool:
    # Both sides rounded: a limit like 1.5 x 33.3 is 49.949999999999996 in binary.
    return value is not None and round(value, _PRECISION) > round(threshold, _PRECISION)


def evaluate_triggers(
    stats: WindowStats,
    thresholds: TriggerThresholds,
    expected_latency_p95_ms: float | None,
) -> TriggerEvaluation:
    """Evaluate the guide's rollback triggers over one window's statistics."""
    conditions: list[TriggerCondition] = []
    if stats.snapshot_count < thresholds.min_snapshots:
        return TriggerEvaluation(stats, (), thresholds)

    error_rate = stats.avg_error_rate
    if error_rate is not None and _above(error_rate, thresholds.error_rate_warning):
        critical = _above(error_rate, thresholds.error_rate_critical)
        conditions.append(
            TriggerCondition(
                ConditionKind.ERROR_RATE,
                Severity.HIGH if critical else Severity.MEDIUM,
                f"High error rate: {error_rate:.2%}",
                error_rate,
                thresholds.error_rate_critical if critical else thresholds.error_rate_warning,
            )
        )

    p95 = stats.avg_latency_p95_ms
    if p95 is not None and expected_latency_p95_ms:
        limit = thresholds.latency_factor * expected_latency_p95_ms
        if _above(p95, limit):
            conditions.append(
                TriggerCondition(
                    ConditionKind.LATENCY,
                    Severity.MEDIUM,
                    f"Latency degradation: {p95:.1f}ms p95 vs {expected_latency_p95_ms:.1f}ms "
                    f"expected ({p95 / expected_latency_p95_ms:.2f}x)",
                    p95,
                    limit,
                )
            )

    ood = stats.avg_ood_rate
    if ood is not None and _above(ood, thresholds.ood_rate):
        conditions.append(
            TriggerCondition(
                ConditionKind.OOD_RATE,
                Severity.MEDIUM,
                f"High OOD rate: {ood:.2%}",
                ood,
                thresholds.ood_rate,
            )
        )

    drift = stats.avg_drift_score
    if drift is not None and _above(drift, thresholds.input_drift):
        conditions.append(
            TriggerCondition(
                ConditionKind.INPUT_DRIFT,
                Severity.MEDIUM,
                f"Input distribution drift: {drift:.3f}",
                drift,
                thresholds.input_drift,
            )
        )
    return TriggerEvaluation(stats, tuple(conditions), thresholds)
