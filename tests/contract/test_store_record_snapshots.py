"""Storage contract, the snapshot path: record_snapshots, one transaction for a group of writes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from grace.adapters.store import RecordedSnapshot, SnapshotTarget, SnapshotWrite, Store, StoreBusy
from grace.domain.stages import DeploymentStage
from grace.errors import GraceError, ModelNotFound, VersionNotFound
from tests.contract.support import T0, Background, at, is_postgres, register, stats_tuple
from tests.helpers import snapshot

PROD = DeploymentStage.PRODUCTION
WINDOW = timedelta(minutes=10)


def judged(target: SnapshotTarget, recorded_at: datetime) -> datetime | None:
    """The production version is judged over the last ten minutes; others are not judged."""
    return recorded_at - WINDOW if target.stage is PROD else None


def write(model_id: str, version: str, when: datetime, **values: Any) -> SnapshotWrite:
    return SnapshotWrite(snapshot(model_id, version, at=when, **values), when)


def recorded(result: RecordedSnapshot | GraceError) -> RecordedSnapshot:
    assert isinstance(result, RecordedSnapshot), result
    return result


def test_a_group_is_stored_in_order_and_each_window_includes_the_ones_before(store: Store) -> None:
    """Snapshots, windows and events of one group: each window counts the group's earlier
    snapshots of its version; events get consecutive log positions in the group's order."""
    register(store, "fraud_detector_v3", "3.1.5", stage=PROD)
    register(store, "churn", "1.0")
    group = [
        write("fraud_detector_v3", "3.1.5", at(1), error_rate=0.02),
        write("churn", "1.0", at(1)),
        write("fraud_detector_v3", "3.1.5", at(2), error_rate=0.04),
    ]
    first, second, third = (recorded(r) for r in store.record_snapshots(group, judged))

    assert first.stats is not None
    assert third.stats is not None
    assert stats_tuple(first.stats)[:2] == pytest.approx((1, 0.02))
    assert stats_tuple(third.stats)[:2] == pytest.approx((2, 0.03))
    assert second.stats is None  # not in production: no window
    assert first.target.stage is PROD
    assert second.target.stage is DeploymentStage.DEVELOPMENT
    assert first.snapshot_id < second.snapshot_id < third.snapshot_id
    seqs = [r.event.seq or 0 for r in (first, second, third)]
    assert all(seq > 0 for seq in seqs)
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3
    with store.read() as s:
        logged = s.list_events(after_seq=0)
        window = s.window_stats("fraud_detector_v3", "3.1.5", T0)
    assert [e.event_id for e in logged] == [w.event_id for w in group]
    assert [e.seq for e in logged] == seqs
    assert logged[0].payload == group[0].event().payload
    assert window.snapshot_count == 2


def test_an_unknown_model_or_version_fails_alone_and_stores_nothing(store: Store) -> None:
    """Writes for a missing model or version get their error in place; the rest are stored."""
    register(store, "fraud_detector_v3", "3.1.5", stage=PROD)
    results = store.record_snapshots(
        [
            write("nobody", "1.0", at(1)),
            write("fraud_detector_v3", "9.9.9", at(1)),
            write("fraud_detector_v3", "3.1.5", at(1)),
        ],
        judged,
    )
    assert isinstance(results[0], ModelNotFound)
    assert isinstance(results[1], VersionNotFound)
    assert recorded(results[2]).stats is not None
    with store.read() as s:
        events = s.list_events(after_seq=0)
        stats = s.window_stats("fraud_detector_v3", "3.1.5", T0)
    assert [e.resource_id for e in events] == ["fraud_detector_v3"]
    assert stats.snapshot_count == 1


def test_the_target_carries_the_models_settings_and_latency_slo(store: Store) -> None:
    """What the path reads about the version is what snapshot_target reads."""
    register(store, "fraud_detector_v3", "3.1.5", stage=PROD)
    with store.write() as s:
        s.save_settings(
            "fraud_detector_v3", auto_remediate=True, overrides={"window_minutes": 5}, at=T0
        )
        expected = s.snapshot_target("fraud_detector_v3", "3.1.5")
    (result,) = store.record_snapshots([write("fraud_detector_v3", "3.1.5", at(1))], judged)
    assert recorded(result).target == expected


def test_an_empty_group_does_nothing(store: Store) -> None:
    assert store.record_snapshots([], judged) == []


def test_without_waiting_a_held_write_lock_is_busy_and_nothing_changes(
    store: Store, database_url: str
) -> None:
    """wait=False never waits: PostgreSQL cannot promise that at all; SQLite can, and says
    StoreBusy while another transaction holds the write lock, storing nothing."""
    register(store, "fraud_detector_v3", "3.1.5", stage=PROD)
    one = [write("fraud_detector_v3", "3.1.5", at(1))]
    if is_postgres(database_url):
        assert not store.writes_without_waiting
        with pytest.raises(StoreBusy):
            store.record_snapshots(one, judged, wait=False)
        return
    assert store.writes_without_waiting
    with store.write() as s:
        s.ensure_model("holder", T0)  # this transaction now holds the write lock
        with pytest.raises(StoreBusy):
            store.record_snapshots(one, judged, wait=False)
    with store.read() as s:
        assert s.window_stats("fraud_detector_v3", "3.1.5", T0).snapshot_count == 0
    (result,) = store.record_snapshots(one, judged, wait=False)
    assert recorded(result).stats is not None


def test_waiting_it_queues_behind_a_writer_and_then_commits(store: Store) -> None:
    """wait=True waits for a writer holding the locks it needs (on PostgreSQL, the event
    log's), then stores the group."""
    register(store, "fraud_detector_v3", "3.1.5", stage=PROD)
    with store.write() as s:
        s.append_event(write("holder", "1", at(1)).event())
        behind = Background(
            lambda: store.record_snapshots([write("fraud_detector_v3", "3.1.5", at(1))], judged)
        )
        assert not behind.finished.is_set()
    results = behind.join()
    assert isinstance(results, list)
    assert recorded(results[0]).stats is not None
