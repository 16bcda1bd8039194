"""Trust score: a version's standing in [0, 1] (the guide's "update trust metrics").

- A new version starts at 1.0.
- An incident opened about it lowers it: 0.01 / 0.02 / 0.05 / 0.1 for LOW / MEDIUM / HIGH /
  CRITICAL.
- A rollback of it lowers it: 0.05 / 0.1 / 0.25 / 0.4 for the same severities (MEDIUM when
  unknown).
- Each full hour in production with snapshots and no trigger firing raises it by 0.01.

It never leaves [0, 1].  A model's remediation policy may ask a minimum for promotion to
production (``min_trust``): a version below it fails that gate like a governance check.
"""

from __future__ import annotations

from grace.domain.severity import Severity

__all__ = [
    "HEALTHY_HOUR_CREDIT",
    "INITIAL_TRUST",
    "trust_after_healthy_hours",
    "trust_after_incident",
    "trust_after_rollback",
    "trust_gate",
]

INITIAL_TRUST = 1.0
HEALTHY_HOUR_CREDIT = 0.01

_ROLLBACK_PENALTY = {
    Severity.LOW: 0.05,
    Severity.MEDIUM: 0.1,
    Severity.HIGH: 0.25,
    Severity.CRITICAL: 0.4,
}
_INCIDENT_PENALTY = {
    Severity.LOW: 0.01,
    Severity.MEDIUM: 0.02,
    Severity.HIGH: 0.05,
    Severity.CRITICAL: 0.1,
}


def _bounded(score: float) -> float:
    return round(min(1.0, max(0.0, score)), 6)


def trust_after_rollback(score: float, severity: Severity | None) -> float:
    """The score after a rollback of the given severity (MEDIUM when unknown), never below 0."""
    return _bounded(score - _ROLLBACK_PENALTY[severity or Severity.MEDIUM])


def trust_after_incident(score: float, severity: Severity) -> float:
    """The score after an incident of ``severity`` opened about the version."""
    return _bounded(score - _INCIDENT_PENALTY[severity])


def trust_after_healthy_hours(score: float, hours: int) -> float:
    """The score after ``hours`` full healthy hours in production, never above 1."""
    return _bounded(score + HEALTHY_HOUR_CREDIT * max(0, hours))


def trust_gate(score: float, minimum: float | None) -> list[str]:
    """The promotion gate a model's ``min_trust`` sets, worded like the governance gates."""
    if minimum is None or score >= minimum:
        return []
    return [f"trust score {score:.2f} is below the model's minimum {minimum:.2f}"]
