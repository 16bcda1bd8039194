"""Governance gates a version must pass before it may enter production."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_CALIBRATION_ERROR", "GovernanceFacts", "failed_gates"]

MAX_CALIBRATION_ERROR = 0.1


@dataclass(frozen=True, slots=True)
class GovernanceFacts:
    constitutional_compliance: bool
    bias_check_passed: bool
    expected_latency_p95_ms: float | None
    calibration_error: float | None


def failed_gates(facts: GovernanceFacts) -> list[str]:
    """Every gate ``facts`` fails, worded for the person who has to fix it; empty when all pass."""
    failed: list[str] = []
    if not facts.constitutional_compliance:
        failed.append("constitutional compliance check has not passed")
    if not facts.bias_check_passed:
        failed.append("bias check has not passed")
    if not facts.expected_latency_p95_ms:
        failed.append("no latency SLO defined (expected_latency_p95_ms)")
    if facts.calibration_error is not None and facts.calibration_error > MAX_CALIBRATION_ERROR:
        failed.append(
            f"calibration error {facts.calibration_error:g} exceeds {MAX_CALIBRATION_ERROR:g}"
        )
    return failed
