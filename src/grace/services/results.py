"""What the registry's operations answer: the guide's result shapes (typed dicts, as the
guide's examples read them) and the snapshot and batch results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from grace.errors import GraceError, error_field

__all__ = [
    "BatchItem",
    "BatchResult",
    "FleetHealth",
    "FleetIssue",
    "HealthSummary",
    "RollbackCheck",
    "RollbackResult",
    "SnapshotResult",
]


class RollbackCheck(TypedDict, total=False):
    model_id: str
    should_rollback: bool
    reasons: list[str]
    window_minutes: int
    auto_remediate: bool
    version: str
    severity: str | None
    snapshot_count: int
    metrics: dict[str, Any]
    conditions: list[dict[str, Any]]
    incident_id: int | None
    remediation: dict[str, Any] | None


class HealthSummary(TypedDict):
    model_id: str
    version: str
    status: str
    deployed_at: str | None
    health_status: str
    metrics: dict[str, Any]
    window_minutes: int
    severity: str | None
    reasons: list[str]
    trust_score: float


class FleetIssue(TypedDict):
    model_id: str
    version: str
    reasons: list[str]
    severity: str | None


class FleetHealth(TypedDict):
    total_models: int
    healthy: int
    degraded: int
    failing: int
    no_data: int
    issues: list[FleetIssue]
    window_minutes: int
    checked_at: str | None


class RollbackResult(TypedDict):
    status: str
    model_id: str
    reason: str
    target_version: str
    from_version: str


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    """What ``record_performance_snapshot`` did with one snapshot."""

    snapshot_id: int
    model_id: str
    version: str
    judged: bool
    check: RollbackCheck | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "model_id": self.model_id,
            "version": self.version,
            "judged": self.judged,
            "check": dict(self.check) if self.check is not None else None,
        }


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One snapshot of a batch: stored with an id, or refused with the reason."""

    index: int
    snapshot_id: int | None
    error: GraceError | None

    def to_dict(self) -> dict[str, Any]:
        if self.error is None:
            return {"index": self.index, "status": "stored", "snapshot_id": self.snapshot_id}
        return {
            "index": self.index,
            "status": "refused",
            "type": f"urn:grace:problem:{self.error.code()}",
            "field": error_field(self.error),
            "detail": self.error.detail,
        }


@dataclass(frozen=True, slots=True)
class BatchResult:
    items: list[BatchItem]
    checks: list[RollbackCheck]

    @property
    def stored(self) -> int:
        return sum(1 for item in self.items if item.error is None)

    @property
    def refused(self) -> int:
        return len(self.items) - self.stored

    def to_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "refused": self.refused,
            "items": [item.to_dict() for item in self.items],
            "checks": [dict(c) for c in self.checks],
        }
