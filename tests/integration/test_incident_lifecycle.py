"""Incidents for humans, on each database: MTTA and MTTR, statistics over a window, the
model's runbook on its incidents, a recurrence linked to the incident it repeats, a timeline
entry for every remediation step, and a degradation incident that resolves itself once the
restored version has been healthy long enough."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from grace.bootstrap import Grace, build
from grace.clarity import EventRecorder
from grace.clock import FakeClock
from grace.domain.records import IncidentStatus
from grace.errors import InvalidInput
from tests.conftest import make_settings
from tests.helpers import DEGRADED, HEALTHY, register, snapshot

MODEL = "fraud"


@pytest.fixture
async def lifecycle(database_url: str, clock: FakeClock) -> AsyncIterator[Grace]:
    grace = build(
        make_settings(
            database_url, remediation_cooldown_minutes=0, incident_auto_resolve_minutes=15
        ),
        clock=clock,
    )
    yield grace
    await grace.aclose()


async def _open(grace: Grace, model: str, title: str = "it broke") -> int:
    incident = await grace.incidents.create_incident("test", "ml_model", model, "high", title)
    return incident.id


async def test_mtta_and_mttr_per_incident_and_over_a_window(
    lifecycle: Grace, clock: FakeClock
) -> None:
    first = await _open(lifecycle, "a")
    clock.advance(minutes=2)
    await lifecycle.incidents.acknowledge(first, actor="alice")
    clock.advance(minutes=8)
    done = await lifecycle.incidents.resolve(first, actor="alice")
    second = await _open(lifecycle, "b", "other")
    clock.advance(minutes=4)
    await lifecycle.incidents.acknowledge(second, actor="bob")
    await _open(lifecycle, "b", "third")  # still open

    assert done.acknowledgement_seconds == 120
    assert done.resolution_seconds == 600
    stats = lifecycle.incidents.stats(hours=1)
    assert stats["fleet"] == {
        "count": 3,
        "open": 2,
        "acknowledged": 2,
        "resolved": 1,
        "mtta_seconds": 180.0,
        "mttr_seconds": 600.0,
        "by_severity": {"low": 0, "medium": 0, "high": 3, "critical": 0},
    }
    assert stats["models"]["a"]["mttr_seconds"] == 600.0
    assert stats["models"]["b"]["count"] == 2
    assert stats["models"]["b"]["mtta_seconds"] == 240.0
    only_a = lifecycle.incidents.stats("a", hours=1)
    assert list(only_a["models"]) == ["a"]
    clock.advance(hours=2)
    assert lifecycle.incidents.stats(hours=1)["fleet"]["count"] == 0
    with pytest.raises(InvalidInput, match="hours"):
        lifecycle.incidents.stats(hours=0)


async def test_a_resolved_incident_that_recurs_opens_a_new_one_linked_to_it(
    lifecycle: Grace, clock: FakeClock
) -> None:
    register(lifecycle.registry, MODEL, "1", production=True)
    await lifecycle.policies.update(MODEL, {"runbook_url": "https://wiki.example/fraud"})
    first = await _open(lifecycle, MODEL)
    await lifecycle.incidents.resolve(first, actor="alice")
    clock.advance(minutes=5)

    again = await _open(lifecycle, MODEL)

    assert again != first
    new = lifecycle.incidents.get_incident(again)
    old = lifecycle.incidents.get_incident(first)
    assert new.recurrence_of == first
    assert new.runbook_url == "https://wiki.example/fraud"
    assert old.recurrence_of is None
    assert [t.kind for t in new.timeline] == ["opened", "recurrence", "paged"]
    assert old.timeline[-1].kind == "recurred"
    assert str(again) in old.timeline[-1].message
    # while it is open, a repeat is an occurrence, not a third incident
    assert await _open(lifecycle, MODEL) == again


async def test_every_remediation_step_is_on_the_incident_timeline(
    lifecycle: Grace, clock: FakeClock
) -> None:
    register(lifecycle.registry, MODEL, "1", production=True)
    register(lifecycle.registry, MODEL, "2", production=True)
    lifecycle.registry.configure_model(MODEL, auto_remediate=True)
    recorded = await lifecycle.registry.record_performance_snapshot(
        snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
    )
    assert recorded.check is not None
    incident = lifecycle.incidents.get_incident(recorded.check["incident_id"] or 0)
    steps = [t.data["step"] for t in incident.timeline if t.kind == "remediation_step"]
    assert steps == [
        "find_previous_stable_version",
        "update_deployment_status",
        "notify_dependent_services",
        "verify_rollback",
        "update_trust_metrics",
    ]


async def test_an_incident_resolves_itself_once_the_restored_version_is_healthy(
    lifecycle: Grace, clock: FakeClock
) -> None:
    register(lifecycle.registry, MODEL, "1", production=True)
    register(lifecycle.registry, MODEL, "2", production=True)
    lifecycle.registry.configure_model(MODEL, auto_remediate=True)
    recorded = await lifecycle.registry.record_performance_snapshot(
        snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
    )
    assert recorded.check is not None
    incident_id = recorded.check["incident_id"]
    assert incident_id is not None
    recorder = EventRecorder()
    lifecycle.bus.subscribe(recorder)

    # healthy snapshots of the restored version, but not yet for 15 minutes
    for minute in range(0, 20, 2):
        clock.advance(minutes=2)
        await lifecycle.registry.record_performance_snapshot(
            snapshot(MODEL, "1", at=clock.now(), base=HEALTHY)
        )
        resolved = await lifecycle.recovery.resolve_recovered()
        if minute < 12:
            assert resolved == []

    incident = lifecycle.incidents.get_incident(incident_id)
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolved_by == "grace"
    assert "production version 1 of fraud healthy for 15 minutes" in incident.timeline[-1].message
    assert "incident.resolved" in [e.event_type for e in recorder.events]


async def test_an_incident_stays_open_while_the_model_is_silent_or_still_failing(
    lifecycle: Grace, clock: FakeClock
) -> None:
    register(lifecycle.registry, MODEL, "1", production=True)
    lifecycle.registry.configure_model(MODEL, auto_remediate=False)
    recorded = await lifecycle.registry.record_performance_snapshot(
        snapshot(MODEL, "1", at=clock.now(), base=DEGRADED)
    )
    assert recorded.check is not None
    incident_id = recorded.check["incident_id"] or 0

    clock.advance(minutes=30)  # silent: no snapshot in the last 15 minutes is not healthy
    assert await lifecycle.recovery.resolve_recovered() == []
    for _ in range(10):  # still failing
        clock.advance(minutes=2)
        await lifecycle.registry.record_performance_snapshot(
            snapshot(MODEL, "1", at=clock.now(), base=DEGRADED)
        )
    clock.advance(minutes=16)
    await lifecycle.registry.record_performance_snapshot(
        snapshot(MODEL, "1", at=clock.now(), base=DEGRADED)
    )
    assert await lifecycle.recovery.resolve_recovered() == []
    assert lifecycle.incidents.get_incident(incident_id).status is IncidentStatus.OPEN


async def test_auto_resolve_can_be_switched_off(database_url: str, clock: FakeClock) -> None:
    grace = build(make_settings(database_url, incident_auto_resolve_minutes=0), clock=clock)
    try:
        assert grace.recovery.healthy_for == timedelta(0)
        assert await grace.recovery.resolve_recovered() == []
    finally:
        await grace.aclose()
