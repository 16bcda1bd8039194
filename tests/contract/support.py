"""Builders and small tools shared by the storage contract tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import make_url

from grace.adapters.store import NewIncident, NewVersion, Store
from grace.domain.severity import Severity
from grace.domain.snapshots import WindowStats
from grace.domain.stages import DeploymentStage

# A registration instant with microseconds, so precision loss cannot hide.
T0 = datetime(2025, 11, 13, 15, 30, 0, 123456, tzinfo=UTC)

# How long a background writer gets to reach the lock it should wait on.
SETTLE_SECONDS = 0.25


def at(minutes: float = 0, *, microseconds: int = 0) -> datetime:
    """``T0`` moved by ``minutes`` and ``microseconds``."""
    return T0 + timedelta(minutes=minutes, microseconds=microseconds)


def new_version(
    model_id: str,
    version: str,
    *,
    stage: DeploymentStage = DeploymentStage.DEVELOPMENT,
    owner: str | None = None,
    tags: Sequence[str] = (),
    **fields: Any,
) -> NewVersion:
    """A version that passes every governance gate; ``fields`` override the rest."""
    base = NewVersion(
        model_id=model_id,
        version=version,
        stage=stage,
        name=None,
        description=None,
        owner=owner,
        tags=tuple(tags),
        artifact_uri=None,
        expected_latency_p95_ms=245.3,
        constitutional_compliance=True,
        bias_check_passed=True,
        calibration_error=None,
        trust_score=0.9,
        metadata={},
    )
    return replace(base, **fields)


def register(
    store: Store,
    model_id: str,
    *versions: str,
    stage: DeploymentStage = DeploymentStage.DEVELOPMENT,
    when: datetime = T0,
) -> None:
    """Create ``model_id`` with ``versions`` (in that order) and commit."""
    with store.write() as s:
        s.ensure_model(model_id, when)
        for version in versions:
            s.insert_version(new_version(model_id, version, stage=stage), when)


def new_incident(
    dedup_key: str,
    *,
    resource_id: str = "fraud_detector_v3",
    severity: Severity = Severity.MEDIUM,
    title: str = "Error rate above threshold",
    context: dict[str, Any] | None = None,
) -> NewIncident:
    return NewIncident(
        source="monitor",
        resource_type="model",
        resource_id=resource_id,
        severity=severity,
        title=title,
        description="error_rate 0.085 > 0.05",
        context=context if context is not None else {"error_rate": 0.085},
        dedup_key=dedup_key,
    )


def stats_tuple(stats: WindowStats) -> tuple[Any, ...]:
    """Window statistics as a tuple, for comparing averages with ``pytest.approx``."""
    return (
        stats.snapshot_count,
        stats.avg_error_rate,
        stats.avg_latency_p95_ms,
        stats.avg_ood_rate,
        stats.avg_drift_score,
        stats.avg_accuracy,
    )


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


class Background:
    """Run ``target`` in a thread that starts now; ``join`` returns its result or re-raises."""

    def __init__(self, target: Callable[[], object]) -> None:
        self._target = target
        self._result: object = None
        self._error: BaseException | None = None
        self._started = threading.Event()
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        # Give the thread time to reach whatever lock it will wait on.
        assert self._started.wait(5)
        time.sleep(SETTLE_SECONDS)

    def _run(self) -> None:
        self._started.set()
        try:
            self._result = self._target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread by join()
            self._error = exc
        finally:
            self.finished.set()

    def join(self) -> object:
        self._thread.join(timeout=20)
        assert not self._thread.is_alive(), "the background writer never finished"
        if self._error is not None:
            raise self._error
        return self._result
