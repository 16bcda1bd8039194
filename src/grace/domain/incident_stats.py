"""Incident statistics, with no I/O: how many incidents opened in a window, and how fast
people answered them.

MTTA (mean time to acknowledge) is the mean, over the incidents acknowledged, of the time
from opening to acknowledgement; MTTR (mean time to resolve) the mean, over the incidents
resolved, of the time from opening to resolution (automatic resolutions included).  An
incident still open counts toward ``open`` and toward neither mean.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from grace.domain.severity import Severity
from grace.domain.timeutil import isoformat

__all__ = ["IncidentStats", "IncidentTimes", "incident_stats"]


@dataclass(frozen=True, slots=True)
class IncidentTimes:
    """What the statistics read of one incident."""

    resource_id: str
    severity: Severity
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


@dataclass(frozen=True, slots=True)
class IncidentStats:
    count: int
    open: int
    acknowledged: int
    resolved: int
    mtta_seconds: float | None
    mttr_seconds: float | None
    by_severity: dict[str, int]

    @classmethod
    def of(cls, times: list[IncidentTimes]) -> IncidentStats:
        acked = [
            (t.acknowledged_at - t.created_at).total_seconds()
            for t in times
            if t.acknowledged_at is not None
        ]
        resolved = [
            (t.resolved_at - t.created_at).total_seconds()
            for t in times
            if t.resolved_at is not None
        ]
        severities = {s.value: 0 for s in Severity}
        for t in times:
            severities[t.severity.value] += 1
        return cls(
            count=len(times),
            open=sum(1 for t in times if t.resolved_at is None),
            acknowledged=len(acked),
            resolved=len(resolved),
            mtta_seconds=_mean(acked),
            mttr_seconds=_mean(resolved),
            by_severity=severities,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "open": self.open,
            "acknowledged": self.acknowledged,
            "resolved": self.resolved,
            "mtta_seconds": self.mtta_seconds,
            "mttr_seconds": self.mttr_seconds,
            "by_severity": dict(self.by_severity),
        }


def incident_stats(
    times: Iterable[IncidentTimes], since: datetime, until: datetime
) -> dict[str, Any]:
    """The fleet's statistics and each model's, over incidents opened in [since, until]."""
    every = list(times)
    per_model: dict[str, list[IncidentTimes]] = defaultdict(list)
    for t in every:
        per_model[t.resource_id].append(t)
    return {
        "since": isoformat(since),
        "until": isoformat(until),
        "fleet": IncidentStats.of(every).to_dict(),
        "models": {m: IncidentStats.of(per_model[m]).to_dict() for m in sorted(per_model)},
    }
