"""The fleet monitor: every production model judged over a window, in one database query.

The guide's ``monitor_production_models`` (on the registry) and the background monitor to come
both ask this.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.health import FleetBucket, classify_health, fleet_bucket
from grace.domain.records import ModelSettings
from grace.domain.snapshots import check_window_minutes
from grace.domain.timeutil import isoformat
from grace.domain.triggers import TriggerThresholds, evaluate_triggers
from grace.services.results import FleetHealth, FleetIssue
from grace.services.runner import Runner

__all__ = ["FleetMonitor"]


class FleetMonitor:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        run: Runner,
        defaults: TriggerThresholds,
        default_window: int,
    ) -> None:
        self._store = store
        self._clock = clock
        self._run = run
        self._defaults = defaults
        self._default_window = default_window

    async def monitor(self, window_minutes: int = 10) -> FleetHealth:
        """Judge every production model over the window, in one database query.

        healthy: no condition fired; degraded: conditions fired at MEDIUM
        overall; failing: HIGH or above (listed in ``issues``); no_data: fewer
        snapshots in the window than the model's ``min_snapshots``.
        """
        window = check_window_minutes(window_minutes)
        now = self._clock.now()

        def read() -> list[Any]:
            with self._store.read() as s:
                return s.fleet_stats(now - timedelta(minutes=window))

        members = await self._run(read)
        counts = dict.fromkeys(FleetBucket, 0)
        issues: list[FleetIssue] = []
        for member in members:
            settings = ModelSettings.resolve(
                member.model_id, member.settings, self._defaults, self._default_window
            )
            evaluation = evaluate_triggers(
                member.stats, settings.thresholds, member.expected_latency_p95_ms
            )
            bucket = fleet_bucket(classify_health(evaluation))
            counts[bucket] += 1
            if bucket is FleetBucket.FAILING:
                severity = evaluation.severity
                issues.append(
                    FleetIssue(
                        model_id=member.model_id,
                        version=member.version,
                        reasons=evaluation.reasons,
                        severity=severity.value if severity else None,
                    )
                )
        return FleetHealth(
            total_models=len(members),
            healthy=counts[FleetBucket.HEALTHY],
            degraded=counts[FleetBucket.DEGRADED],
            failing=counts[FleetBucket.FAILING],
            no_data=counts[FleetBucket.NO_DATA],
            issues=issues,
            window_minutes=window,
            checked_at=isoformat(now),
        )
