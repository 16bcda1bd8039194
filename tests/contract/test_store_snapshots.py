"""Storage contract, performance snapshots: storing them and the window statistics over them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from grace.adapters.store import SnapshotTarget, Store
from grace.domain.records import StoredSettings
from grace.domain.snapshots import ModelPerformanceSnapshot
from grace.domain.stages import DeploymentStage
from grace.errors import VersionNotFound
from tests.contract.support import T0, at, new_version, register, stats_tuple
from tests.helpers import snapshot

PROD = DeploymentStage.PRODUCTION
STAGING = DeploymentStage.STAGING
ARCHIVED = DeploymentStage.ARCHIVED
MICROSECOND = timedelta(microseconds=1)
EMPTY = (0, None, None, None, None, None)


def snap(
    model_id: str,
    version: str,
    when: datetime,
    error_rate: float,
    p95: float,
    ood_rate: float,
    drift: float | None,
    accuracy: float | None,
) -> ModelPerformanceSnapshot:
    return snapshot(
        model_id,
        version,
        at=when,
        error_rate=error_rate,
        latency_p95_ms=p95,
        latency_p99_ms=1000.0,
        ood_rate=ood_rate,
        input_drift_score=drift,
        accuracy=accuracy,
    )


def test_snapshot_target_returns_stage_latency_slo_and_model_settings(store: Store) -> None:
    """snapshot_target gives the version's stage and latency SLO with its model's settings."""
    with store.write() as s:
        s.ensure_model("fraud_detector_v3", T0)
        s.insert_version(new_version("fraud_detector_v3", "3.1.5", stage=PROD), T0)
        s.insert_version(
            new_version("fraud_detector_v3", "3.2.1", stage=STAGING, expected_latency_p95_ms=None),
            T0,
        )
        s.save_settings(
            "fraud_detector_v3", auto_remediate=True, overrides={"ood_rate": 0.3}, at=T0
        )
    settings = StoredSettings(auto_remediate=True, overrides={"ood_rate": 0.3})
    with store.read() as s:
        production = s.snapshot_target("fraud_detector_v3", "3.1.5")
        staged = s.snapshot_target("fraud_detector_v3", "3.2.1")
    assert production == SnapshotTarget(PROD, 245.3, settings)
    assert staged == SnapshotTarget(STAGING, None, settings)


def test_snapshot_of_an_unknown_version_is_refused_and_nothing_is_stored(store: Store) -> None:
    """insert_snapshot raises VersionNotFound; the session goes on and no snapshot appears later."""
    register(store, "fraud_detector_v3", "3.1.5")
    with store.write() as s:
        with pytest.raises(VersionNotFound):
            s.insert_snapshot(snap("fraud_detector_v3", "3.2.1", T0, 0.5, 500, 0.5, 1, 0.5), T0)
        first = s.insert_snapshot(snap("fraud_detector_v3", "3.1.5", T0, 0.1, 200, 0.1, 0, 1), T0)
        s.insert_version(new_version("fraud_detector_v3", "3.2.1"), at(1))
        second = s.insert_snapshot(snap("fraud_detector_v3", "3.1.5", T0, 0.1, 200, 0.1, 0, 1), T0)
    with store.read() as s:
        late = s.window_stats("fraud_detector_v3", "3.2.1", T0 - timedelta(days=1))
        known = s.window_stats("fraud_detector_v3", "3.1.5", T0 - timedelta(days=1))
    assert stats_tuple(late) == EMPTY
    assert known.snapshot_count == 2
    assert second > first


def test_window_stats_aggregates_only_the_versions_snapshots_since_the_start(store: Store) -> None:
    """Counts and averages cover the version's snapshots at or after ``since``; nulls skipped."""
    register(store, "fraud_detector_v3", "3.1.5", "3.2.1", "3.3.0")
    register(store, "churn", "3.2.1")
    since = at(10)
    fraud = "fraud_detector_v3"
    with store.write() as s:
        for one in (
            snap(fraud, "3.2.1", since - MICROSECOND, 0.9, 900.0, 0.9, 5.0, 0.1),
            snap(fraud, "3.2.1", since, 0.01, 200.0, 0.05, 0.1, 0.9),
            snap(fraud, "3.2.1", since + timedelta(minutes=1), 0.03, 300.0, 0.15, None, None),
            snap(fraud, "3.2.1", since + timedelta(minutes=2), 0.05, 250.0, 0.10, 0.3, 0.8),
            snap(fraud, "3.1.5", since + timedelta(minutes=1), 0.5, 800.0, 0.5, 2.0, 0.2),
            snap(fraud, "3.3.0", since + timedelta(minutes=1), 0.2, 400.0, 0.2, None, None),
            snap("churn", "3.2.1", since + timedelta(minutes=1), 0.5, 800.0, 0.5, 2.0, 0.2),
        ):
            s.insert_snapshot(one, recorded_at=at(30))

    with store.read() as s:
        inclusive = s.window_stats(fraud, "3.2.1", since)
        after_start = s.window_stats(fraud, "3.2.1", since + MICROSECOND)
        all_null_quality = s.window_stats(fraud, "3.3.0", since)

    assert stats_tuple(inclusive) == pytest.approx((3, 0.03, 250.0, 0.1, 0.2, 0.85))
    assert stats_tuple(after_start) == pytest.approx((2, 0.04, 275.0, 0.125, 0.3, 0.8))
    assert stats_tuple(all_null_quality) == pytest.approx((1, 0.2, 400.0, 0.2, None, None))
    assert isinstance(inclusive.snapshot_count, int)


def test_window_stats_of_an_empty_window_is_zero_with_no_averages(store: Store) -> None:
    """A window holding no snapshot, or a version that never had one, counts 0 and averages None."""
    register(store, "fraud_detector_v3", "3.1.5", "3.2.1")
    with store.write() as s:
        s.insert_snapshot(snap("fraud_detector_v3", "3.1.5", T0, 0.1, 200, 0.1, 0.1, 0.9), T0)
    with store.read() as s:
        later = s.window_stats("fraud_detector_v3", "3.1.5", T0 + MICROSECOND)
        never = s.window_stats("fraud_detector_v3", "3.2.1", T0 - timedelta(days=1))
    assert stats_tuple(later) == EMPTY
    assert stats_tuple(never) == EMPTY


def test_fleet_stats_lists_exactly_the_production_versions_with_settings_and_window(
    store: Store,
) -> None:
    """Every production version appears once, with its model's overrides and window aggregates."""
    since = at(10)
    inside, before = since + timedelta(minutes=1), since - MICROSECOND
    with store.write() as s:
        for model_id, version, stage, latency in (
            ("fraud_detector_v3", "3.1.5", ARCHIVED, 250.0),
            ("fraud_detector_v3", "3.2.1", PROD, 245.3),
            ("churn", "1.0", PROD, 120.0),
            ("churn", "2.0", STAGING, 110.0),
            ("idle", "0.1", PROD, None),
            ("staged_only", "1.0", STAGING, 90.0),
        ):
            s.ensure_model(model_id, T0)
            s.insert_version(
                new_version(model_id, version, stage=stage, expected_latency_p95_ms=latency), T0
            )
        s.save_settings(
            "churn",
            auto_remediate=True,
            overrides={"error_rate_critical": 0.2, "window_minutes": 5},
            at=T0,
        )
        for one in (
            snap("fraud_detector_v3", "3.2.1", inside, 0.02, 240.0, 0.1, 0.2, 0.9),
            snap("fraud_detector_v3", "3.2.1", since, 0.04, 260.0, 0.3, None, None),
            snap("fraud_detector_v3", "3.2.1", before, 0.9, 900.0, 0.9, 9.0, 0.1),
            snap("fraud_detector_v3", "3.1.5", inside, 0.5, 500.0, 0.5, 0.5, 0.5),
            snap("churn", "1.0", before, 0.9, 900.0, 0.9, 9.0, 0.1),
            snap("churn", "2.0", inside, 0.5, 500.0, 0.5, 0.5, 0.5),
            snap("staged_only", "1.0", inside, 0.5, 500.0, 0.5, 0.5, 0.5),
        ):
            s.insert_snapshot(one, T0)

    with store.read() as s:
        fleet = s.fleet_stats(since)

    members = {(m.model_id, m.version): m for m in fleet}
    assert len(fleet) == len(members)
    assert sorted(members) == [("churn", "1.0"), ("fraud_detector_v3", "3.2.1"), ("idle", "0.1")]
    fraud, churn, idle = (
        members["fraud_detector_v3", "3.2.1"],
        members["churn", "1.0"],
        members["idle", "0.1"],
    )
    assert stats_tuple(fraud.stats) == pytest.approx((2, 0.03, 250.0, 0.2, 0.2, 0.9))
    assert stats_tuple(churn.stats) == EMPTY
    assert stats_tuple(idle.stats) == EMPTY
    assert churn.settings == StoredSettings(
        auto_remediate=True, overrides={"error_rate_critical": 0.2, "window_minutes": 5}
    )
    assert fraud.settings == StoredSettings()
    assert (fraud.expected_latency_p95_ms, churn.expected_latency_p95_ms) == (245.3, 120.0)
    assert idle.expected_latency_p95_ms is None
