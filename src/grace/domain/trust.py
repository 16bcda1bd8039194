"""Trust score: a version's standing in [0, 1], lowered each time it has to be rolled back."""

from __future__ import annotations

from grace.domain.severity import Severity

__all__ = ["INITIAL_TRUST", "trust_after_rollback"]

INITIAL_TRUST = 1.0

_PENALTY = {
    Severity.LOW: 0.05,
    Severity.MEDIUM: 0.1,
    Severity.HIGH: 0.25,
    Severity.CRITICAL: 0.4,
}


def trust_after_rollback(score: float, severity: Severity | None) -> float:
    """The score after a rollback of the given severity (MEDIUM when unknown), never below 0."""
    penalty = _PENALTY[severity or Severity.MEDIUM]
    return round(max(0.0, score - penalty), 6)
