"""Records and events as the guide's JSON: names, settings resolution and event shape."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from grace.domain.events import Event, EventType
from grace.domain.records import (
    ChangeCause,
    ModelSettings,
    StageChange,
    StoredSettings,
    display_name,
)
from grace.domain.snapshots import ModelPerformanceSnapshot
from grace.domain.stages import DeploymentStage
from grace.domain.triggers import TriggerThresholds
from grace.errors import InvalidInput

AT = datetime(2025, 11, 13, 15, 30, tzinfo=UTC)
DEFAULTS = TriggerThresholds()


@pytest.mark.parametrize(
    ("model_id", "name"),
    [
        ("fraud_detector_v3", "Fraud Detector V3"),
        ("churn-model", "Churn Model"),
        ("ranker", "Ranker"),
        ("___", "___"),
    ],
)
def test_display_name_is_the_guides_incident_title_form(model_id: str, name: str) -> None:
    """A model id reads as title-case words, as in 'Fraud Detector V3'."""
    assert display_name(model_id) == name


def test_settings_without_overrides_follow_the_defaults() -> None:
    """A model with nothing stored uses the service-wide thresholds and window."""
    settings = ModelSettings.resolve("m", StoredSettings(), DEFAULTS, 10)
    assert settings.thresholds == DEFAULTS
    assert settings.window_minutes == 10
    assert settings.auto_remediate is False
    assert settings.to_dict()["overrides"] == {}


def test_settings_apply_threshold_and_window_overrides() -> None:
    """Stored overrides replace only the named thresholds and the window length."""
    stored = StoredSettings(auto_remediate=True, overrides={"window_minutes": 30, "ood_rate": 0.5})
    settings = ModelSettings.resolve("m", stored, DEFAULTS, 10)
    assert settings.window_minutes == 30
    assert settings.thresholds.ood_rate == 0.5
    assert settings.thresholds.error_rate_warning == DEFAULTS.error_rate_warning
    assert settings.auto_remediate is True
    assert settings.to_dict()["overrides"] == {"window_minutes": 30, "ood_rate": 0.5}


def test_settings_refuse_a_stored_unknown_threshold() -> None:
    """A stored override that names no threshold is refused, naming it."""
    with pytest.raises(InvalidInput) as caught:
        ModelSettings.resolve("m", StoredSettings(overrides={"drift": 0.1}), DEFAULTS, 10)
    assert caught.value.field == "drift"


def test_stage_change_serialises_stages_and_time() -> None:
    """A history record is JSON with stage names and a Z timestamp; a first record has no from."""
    change = StageChange(
        1, "m", "1", None, DeploymentStage.DEVELOPMENT, AT, None, None, ChangeCause.REGISTRATION
    )
    assert change.to_dict() == {
        "id": 1,
        "model_id": "m",
        "version": "1",
        "from_stage": None,
        "to_stage": "development",
        "at": "2025-11-13T15:30:00Z",
        "actor": None,
        "reason": None,
        "cause": "registration",
    }


def test_performance_event_has_the_guides_shape() -> None:
    """A snapshot's monitoring event is the guide's JSON: type, source, resource, Z time, data."""
    snap = ModelPerformanceSnapshot(
        model_id="fraud_detector_v3",
        version="3.2.1",
        latency_p50_ms=120.5,
        latency_p95_ms=245.3,
        latency_p99_ms=350.1,
        requests_per_second=250.0,
        error_rate=0.085,
        ood_rate=0.22,
        input_drift_score=0.35,
        timestamp=AT,
    )
    event = Event.of(
        EventType.PERFORMANCE_SNAPSHOT, "model_registry", snap.model_id, snap.event_data(), AT
    )
    body = event.to_dict()
    assert body["event_type"] == "model.performance_snapshot"
    assert body["source"] == "model_registry"
    assert body["resource_id"] == "fraud_detector_v3"
    assert body["timestamp"] == "2025-11-13T15:30:00Z"
    assert body["data"] == snap.event_data()
    assert "resource_id" not in body["data"]
    assert event.payload["resource_id"] == "fraud_detector_v3"


def test_event_resource_id_defaults_from_the_payload() -> None:
    """An event built from a payload with a resource_id knows its resource."""
    event = Event("x.happened", "test", {"resource_id": "m", "n": 1})
    assert event.resource_id == "m"
    assert event.data == {"n": 1}


def test_event_timestamps_are_kept_in_utc() -> None:
    """An event stamped with another offset holds the same instant in UTC."""
    event = Event("x", "test", timestamp=AT.astimezone(timezone(timedelta(hours=-5))))
    assert event.timestamp == AT
    assert event.timestamp.tzinfo is UTC


def test_stored_event_gets_its_log_position_and_keeps_its_id() -> None:
    """Storing an event assigns seq without changing its identity."""
    event = Event("x", "test")
    stored = event.stored(7)
    assert (stored.seq, stored.event_id) == (7, event.event_id)
    assert event.seq is None


def test_each_event_has_its_own_id() -> None:
    """Two events built alike still have distinct ids."""
    assert Event("x", "test", timestamp=AT).event_id != Event("x", "test", timestamp=AT).event_id


def test_event_ids_are_uuid7_and_sort_in_the_order_they_were_made() -> None:
    """Ids lead with the time, so the event log's unique index grows at one end."""
    ids = []
    for _ in range(50):
        ids.append(Event("x", "test").event_id)
        time.sleep(0.001)
    parsed = [uuid.UUID(hex=i) for i in ids]
    assert {u.version for u in parsed} == {7}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    now_ms = time.time_ns() // 1_000_000
    assert abs(int(ids[-1][:12], 16) - now_ms) < 60_000
