"""Paging, on each database: every incident change that a person must hear of is an alert
event written with the change; a maintenance window holds the page of an incident opened in
it; a resolve reaches whoever was paged, also when a window began meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from grace.bootstrap import Grace, build
from grace.clarity import EventRecorder
from grace.clock import FakeClock
from tests.conftest import make_settings
from tests.helpers import DEGRADED, register, snapshot

MODEL = "fraud"


@pytest.fixture
async def paging(database_url: str, clock: FakeClock) -> AsyncIterator[tuple[Grace, EventRecorder]]:
    grace = build(make_settings(database_url), clock=clock)
    register(grace.registry, MODEL, "1", production=True)
    await grace.policies.update(MODEL, {"runbook_url": "https://wiki.example/fraud"})
    recorder = EventRecorder()
    grace.bus.subscribe(recorder)
    yield grace, recorder
    await grace.aclose()


def _alerts(recorder: EventRecorder) -> list[tuple[str, int]]:
    return [
        (e.event_type, int(e.data["incident_id"]))
        for e in recorder.events
        if e.event_type.startswith("alert.")
    ]


async def _open(grace: Grace, severity: str = "medium") -> int:
    made = await grace.incidents.create_incident("test", "ml_model", MODEL, severity, "broke")
    return made.id


async def test_open_acknowledge_resolve_each_page(paging: tuple[Grace, EventRecorder]) -> None:
    grace, recorder = paging
    incident = await _open(grace)
    await grace.incidents.acknowledge(incident, actor="alice")
    await grace.incidents.resolve(incident, actor="alice")

    assert _alerts(recorder) == [
        ("alert.triggered", incident),
        ("alert.acknowledged", incident),
        ("alert.resolved", incident),
    ]
    (trigger,) = [e for e in recorder.events if e.event_type == "alert.triggered"]
    assert trigger.data["dedup_key"] == f"grace-incident-{incident}"
    assert trigger.data["runbook_url"] == "https://wiki.example/fraud"
    assert trigger.data["model_id"] == MODEL
    assert grace.incidents.get_incident(incident).paged_at is not None


async def test_a_raised_severity_pages_again_and_a_mere_repeat_does_not(
    paging: tuple[Grace, EventRecorder],
) -> None:
    grace, recorder = paging
    incident = await _open(grace)
    assert await _open(grace) == incident  # the same severity: an occurrence, no page
    assert await _open(grace, "critical") == incident
    assert _alerts(recorder) == [("alert.triggered", incident), ("alert.triggered", incident)]


async def test_a_window_holds_the_page_and_a_recovered_model_is_never_paged(
    paging: tuple[Grace, EventRecorder], clock: FakeClock
) -> None:
    grace, recorder = paging
    await grace.windows.create(MODEL, clock.now(), clock.now() + timedelta(minutes=30), "deploy")
    incident = await _open(grace)

    assert _alerts(recorder) == [("alert.held", incident)]
    held = grace.incidents.get_incident(incident)
    assert held.paged_at is None
    assert held.page_held_by is not None
    assert "page_held" in [t.kind for t in held.timeline]
    await grace.incidents.resolve(incident, actor="alice")  # never paged: nothing to resolve
    clock.advance(minutes=31)
    await grace.windows.release_ended()
    assert _alerts(recorder) == [("alert.held", incident)]


async def test_a_held_page_goes_out_when_the_window_ends_on_a_failing_model(
    paging: tuple[Grace, EventRecorder], clock: FakeClock
) -> None:
    grace, recorder = paging
    await grace.windows.create(MODEL, clock.now(), clock.now() + timedelta(minutes=5), "deploy")
    recorded = await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "1", at=clock.now(), base=DEGRADED)
    )
    assert recorded.check is not None
    incident = recorded.check["incident_id"] or 0

    clock.advance(minutes=6)
    await grace.windows.release_ended()

    assert _alerts(recorder) == [("alert.held", incident), ("alert.triggered", incident)]
    timeline = [t.kind for t in grace.incidents.get_incident(incident).timeline]
    assert timeline.index("page_held") < timeline.index("paged")


async def test_a_resolve_reaches_who_was_paged_before_a_window_began(
    paging: tuple[Grace, EventRecorder], clock: FakeClock
) -> None:
    grace, recorder = paging
    incident = await _open(grace)
    await grace.windows.create(MODEL, clock.now(), clock.now() + timedelta(hours=1), "deploy")
    await grace.incidents.resolve(incident, actor="alice")
    assert _alerts(recorder) == [("alert.triggered", incident), ("alert.resolved", incident)]
