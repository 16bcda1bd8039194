"""Performance snapshots, rollback triggers, health summaries and the fleet monitor."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from grace.bootstrap import Grace
from grace.clarity import EventRecorder, EventType
from grace.clock import FakeClock
from grace.errors import (
    InvalidInput,
    ModelNotFound,
    NoProductionVersion,
    VersionNotFound,
)
from grace.model_registry import DeploymentStage, ModelPerformanceSnapshot
from tests.helpers import DEGRADED, HEALTHY, register, snapshot

MODEL = "fraud_detector_v3"


def _count_snapshots(grace: Grace, model_id: str, version: str) -> int:
    return grace.registry.window_stats(model_id, version, window_minutes=7 * 24 * 60).snapshot_count


async def test_snapshot_emits_the_guides_monitoring_event(grace: Grace, clock: FakeClock) -> None:
    """Each snapshot is stored and announced as model.performance_snapshot with the guide's keys."""
    register(grace.registry, MODEL, "3.2.1", production=True)
    recorder = EventRecorder()
    grace.bus.subscribe(recorder, [EventType.PERFORMANCE_SNAPSHOT])
    result = await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "3.2.1", at=clock.now(), base=DEGRADED)
    )
    assert result.snapshot_id > 0
    (event,) = recorder.events
    assert event.event_type == "model.performance_snapshot"
    assert event.source == "model_registry"
    assert event.resource_id == MODEL
    data = event.data
    for key in (
        "version",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "error_rate",
        "ood_rate",
        "requests_per_second",
        "drift_score",
    ):
        assert key in data
    assert data["drift_score"] == 0.35
    assert data["version"] == "3.2.1"
    assert event.to_dict()["timestamp"].endswith("Z")


async def test_naive_timestamp_is_local_time_kept_as_utc(grace: Grace) -> None:
    """datetime.now() without a zone, as in the guide's Example 2, is stored as the same instant."""
    register(grace.registry, MODEL, "1", production=True)
    naive_now = datetime.now()  # noqa: DTZ005 - the guide's own call
    snap = snapshot(MODEL, "1", at=naive_now)
    assert snap.timestamp.tzinfo is not None
    assert snap.timestamp == naive_now.astimezone()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("error_rate", 1.2),
        ("ood_rate", -0.1),
        ("latency_p95_ms", float("nan")),
        ("latency_p99_ms", float("inf")),
        ("requests_per_second", -1),
        ("error_rate", "0.1"),
        ("accuracy", True),
    ],
)
def test_bad_snapshot_values_name_the_field(field: str, value: Any) -> None:
    """Out-of-range, non-finite or mistyped values raise InvalidInput naming the field."""
    fields: dict[str, Any] = {**HEALTHY, field: value}
    with pytest.raises(InvalidInput) as caught:
        ModelPerformanceSnapshot(model_id="m", version="1", **fields)
    assert caught.value.field == field


async def test_snapshot_of_unknown_model_or_version_stores_nothing(
    grace: Grace, clock: FakeClock
) -> None:
    """Unknown model or version raises a typed error and leaves no snapshot or event behind."""
    register(grace.registry, MODEL, "1", production=True)
    before = len(grace.registry.get_timeline(MODEL))
    with pytest.raises(ModelNotFound):
        await grace.registry.record_performance_snapshot(snapshot("ghost", "1", at=clock.now()))
    with pytest.raises(VersionNotFound):
        await grace.registry.record_performance_snapshot(snapshot(MODEL, "9", at=clock.now()))
    assert len(grace.registry.get_timeline(MODEL)) == before
    assert _count_snapshots(grace, MODEL, "1") == 0


async def test_snapshot_from_the_future_is_refused(grace: Grace, clock: FakeClock) -> None:
    """A timestamp beyond the clock-skew tolerance is refused rather than skewing the window."""
    register(grace.registry, MODEL, "1", production=True)
    with pytest.raises(InvalidInput) as caught:
        await grace.registry.record_performance_snapshot(
            snapshot(MODEL, "1", at=clock.now() + timedelta(hours=1))
        )
    assert caught.value.field == "timestamp"
    assert _count_snapshots(grace, MODEL, "1") == 0


async def test_wrong_object_is_refused(grace: Grace) -> None:
    """Passing a dict instead of a snapshot is a clear error, not an AttributeError."""
    with pytest.raises(InvalidInput, match="ModelPerformanceSnapshot"):
        await grace.registry.record_performance_snapshot({"model_id": MODEL})  # type: ignore[arg-type]


async def test_snapshots_of_non_production_versions_are_recorded_but_not_judged(
    any_grace: Grace, clock: FakeClock
) -> None:
    """A degraded staging version is stored, but opens no incident: only production is judged."""
    registry = any_grace.registry
    register(registry, MODEL, "1", production=True)
    register(registry, MODEL, "2", stage=DeploymentStage.STAGING)
    result = await registry.record_performance_snapshot(
        snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
    )
    assert result.judged is False
    assert result.check is None
    assert _count_snapshots(any_grace, MODEL, "2") == 1
    assert any_grace.incidents.list_incidents() == []


async def test_rollback_check_returns_the_guides_answer(any_grace: Grace, clock: FakeClock) -> None:
    """The guide's degraded numbers give should_rollback with its exact reasons."""
    registry = any_grace.registry
    register(registry, MODEL, "3.2.1", production=True)
    await registry.record_performance_snapshot(
        snapshot(MODEL, "3.2.1", at=clock.now(), base=DEGRADED)
    )
    result = await registry.check_rollback_triggers(MODEL, window_minutes=10, auto_remediate=False)
    assert result["model_id"] == MODEL
    assert result["should_rollback"] is True
    assert result["reasons"] == [
        "High error rate: 8.50%",
        "High OOD rate: 22.00%",
        "Input distribution drift: 0.350",
    ]
    assert result["window_minutes"] == 10
    assert result["auto_remediate"] is False
    assert result["severity"] == "high"
    assert result["version"] == "3.2.1"


async def test_latency_reason_reads_like_the_guide(grace: Grace, clock: FakeClock) -> None:
    """p95 above 1.5x the expected p95 fires with the guide's wording."""
    register(grace.registry, MODEL, "1", production=True, expected_latency_p95_ms=245.3)
    await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "1", at=clock.now(), latency_p95_ms=368.0, latency_p99_ms=400.0)
    )
    result = await grace.registry.check_rollback_triggers(MODEL)
    assert result["reasons"] == ["Latency degradation: 368.0ms p95 vs 245.3ms expected (1.50x)"]
    assert result["severity"] == "medium"


async def test_dry_run_has_no_effect(any_grace: Grace, clock: FakeClock) -> None:
    """auto_remediate=False answers and does nothing else: no incident, event or stage change."""
    registry = any_grace.registry
    register(registry, MODEL, "1", production=True)
    register(registry, MODEL, "2", production=True)
    # Written before the first judged snapshot: auto-remediation off, so only an incident opens.
    await registry.record_performance_snapshot(snapshot(MODEL, "2", at=clock.now(), base=DEGRADED))
    incidents_before = any_grace.incidents.list_incidents()
    timeline_before = registry.get_timeline(MODEL)
    result = await registry.check_rollback_triggers(MODEL, auto_remediate=False)
    assert result["should_rollback"] is True
    assert any_grace.incidents.list_incidents() == incidents_before
    assert registry.get_timeline(MODEL) == timeline_before
    production = registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "2"


async def test_window_excludes_old_snapshots(grace: Grace, clock: FakeClock) -> None:
    """Only snapshots inside the window count: an old bad hour does not fire today."""
    register(grace.registry, MODEL, "1", production=True)
    await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "1", at=clock.now() - timedelta(minutes=30), base=DEGRADED, error_rate=0.3)
    )
    await grace.registry.record_performance_snapshot(snapshot(MODEL, "1", at=clock.now()))
    narrow = await grace.registry.check_rollback_triggers(MODEL, window_minutes=10)
    wide = await grace.registry.check_rollback_triggers(MODEL, window_minutes=60)
    assert narrow["should_rollback"] is False
    assert narrow["snapshot_count"] == 1
    assert wide["snapshot_count"] == 2
    assert wide["should_rollback"] is True


async def test_per_model_thresholds_override_the_defaults(grace: Grace, clock: FakeClock) -> None:
    """A model configured with a 1% error threshold fires where the default would not."""
    registry = grace.registry
    register(registry, MODEL, "1", production=True)
    await registry.record_performance_snapshot(
        snapshot(MODEL, "1", at=clock.now(), error_rate=0.03)
    )
    assert (await registry.check_rollback_triggers(MODEL))["should_rollback"] is False
    settings = registry.configure_model(MODEL, thresholds={"error_rate_warning": 0.01})
    assert settings.thresholds.error_rate_warning == 0.01
    assert settings.overrides == {"error_rate_warning": 0.01}
    assert (await registry.check_rollback_triggers(MODEL))["reasons"] == ["High error rate: 3.00%"]
    restored = registry.configure_model(MODEL, reset=["error_rate_warning"])
    assert restored.thresholds.error_rate_warning == 0.05


def test_invalid_threshold_combination_is_refused(grace: Grace) -> None:
    """A warning threshold above the critical one is refused and nothing is stored."""
    register(grace.registry, MODEL, "1")
    with pytest.raises(InvalidInput) as caught:
        grace.registry.configure_model(MODEL, thresholds={"error_rate_warning": 0.5})
    assert caught.value.field == "error_rate_warning"
    with pytest.raises(InvalidInput):
        grace.registry.configure_model(MODEL, thresholds={"nonsense": 1.0})
    assert grace.registry.get_model_settings(MODEL).overrides == {}


async def test_without_auto_remediation_an_incident_opens_but_nothing_rolls_back(
    any_grace: Grace, clock: FakeClock
) -> None:
    """Auto-remediation is off by default (best practice 2): incident yes, rollback no."""
    registry = any_grace.registry
    register(registry, MODEL, "1", production=True)
    register(registry, MODEL, "2", production=True)
    result = await registry.record_performance_snapshot(
        snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
    )
    assert result.check is not None
    assert result.check["incident_id"] is not None
    assert result.check["remediation"] is None
    production = registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "2"
    assert any_grace.engine.list_executions() == []


async def test_health_summary_has_the_guides_shape(grace: Grace, clock: FakeClock) -> None:
    """The guide's health example (8.5% errors, 22% OOD) is critical, with its metrics."""
    registry = grace.registry
    register(registry, MODEL, "3.2.1", production=True)
    for _ in range(12):
        await registry.record_performance_snapshot(
            snapshot(MODEL, "3.2.1", at=clock.now(), base=DEGRADED, input_drift_score=None)
        )
    summary = registry.get_model_health_summary(MODEL)
    assert summary["model_id"] == MODEL
    assert summary["version"] == "3.2.1"
    assert summary["status"] == "production"
    assert summary["deployed_at"] is not None
    assert summary["health_status"] == "critical"
    metrics = summary["metrics"]
    assert metrics["avg_error_rate"] == pytest.approx(0.085)
    assert metrics["avg_latency_p95_ms"] == pytest.approx(245.3)
    assert metrics["avg_ood_rate"] == pytest.approx(0.22)
    assert metrics["avg_drift_score"] is None
    assert metrics["snapshot_count"] == 12


async def test_health_status_follows_severity(grace: Grace, clock: FakeClock) -> None:
    """No data is unknown, clean data healthy, one MEDIUM condition degraded."""
    registry = grace.registry
    register(registry, MODEL, "1", production=True)
    assert registry.get_model_health_summary(MODEL)["health_status"] == "unknown"
    await registry.record_performance_snapshot(snapshot(MODEL, "1", at=clock.now()))
    assert registry.get_model_health_summary(MODEL)["health_status"] == "healthy"
    await registry.record_performance_snapshot(snapshot(MODEL, "1", at=clock.now(), ood_rate=0.9))
    assert registry.get_model_health_summary(MODEL)["health_status"] == "degraded"


def test_health_of_a_model_without_production_version_is_a_clear_error(grace: Grace) -> None:
    """Asking the health of a model that has nothing in production names the problem."""
    register(grace.registry, MODEL, "1")
    with pytest.raises(NoProductionVersion, match="no version in production"):
        grace.registry.get_model_health_summary(MODEL)


async def test_monitor_counts_the_fleet_like_the_guide(any_grace: Grace, clock: FakeClock) -> None:
    """healthy/degraded/failing counts, with issues listed for failing models only."""
    registry = any_grace.registry
    fleet = {
        "healthy_a": HEALTHY,
        "healthy_b": HEALTHY,
        "healthy_c": HEALTHY,
        "degraded_one": {**HEALTHY, "ood_rate": 0.3},
        MODEL: {**DEGRADED, "input_drift_score": None},
    }
    for model_id, values in fleet.items():
        register(registry, model_id, "3.2.1", production=True)
        await registry.record_performance_snapshot(
            snapshot(model_id, "3.2.1", at=clock.now(), base=values)
        )
    register(registry, "staging_only", "1")
    register(registry, "quiet", "1", production=True)

    health = await registry.monitor_production_models(window_minutes=10)
    assert health["total_models"] == 6
    assert health["healthy"] == 3
    assert health["degraded"] == 1
    assert health["failing"] == 1
    assert health["no_data"] == 1
    assert health["issues"] == [
        {
            "model_id": MODEL,
            "version": "3.2.1",
            "reasons": ["High error rate: 8.50%", "High OOD rate: 22.00%"],
            "severity": "high",
        }
    ]


async def test_monitor_and_checks_refuse_bad_windows(grace: Grace) -> None:
    """window_minutes must be a whole number from 1 to a week."""
    register(grace.registry, MODEL, "1", production=True)
    for bad in (0, -5, 10**6, 2.5, True):
        with pytest.raises(InvalidInput) as caught:
            await grace.registry.monitor_production_models(window_minutes=bad)  # type: ignore[arg-type]
        assert caught.value.field == "window_minutes"
    with pytest.raises(InvalidInput):
        await grace.registry.check_rollback_triggers(MODEL, window_minutes=0)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ood_rate", 1.5), ("latency_factor", 0.5), ("min_snapshots", 2.5), ("input_drift", -1)],
)
def test_a_threshold_out_of_range_is_refused_even_when_it_is_also_reset(
    grace: Grace, name: str, value: float
) -> None:
    """A value sent together with a reset of the same setting is still a value: out of its
    range it is refused, naming the field, and nothing is stored."""
    register(grace.registry, MODEL, "1")
    with pytest.raises(InvalidInput) as caught:
        grace.registry.configure_model(MODEL, thresholds={name: value}, reset=[name])
    assert caught.value.field == name
    assert grace.registry.get_model_settings(MODEL).overrides == {}
