"""Callbacks in the guide's shape, their failure handling, and the event bus."""

from __future__ import annotations

import asyncio
from typing import Any

from grace.bootstrap import Grace, build
from grace.clarity import Event, EventBus, EventRecorder
from grace.clock import FakeClock
from grace.model_registry import DeploymentStage
from tests.conftest import make_settings
from tests.helpers import DEGRADED, register, snapshot

MODEL = "fraud_detector_v3"


def _wire_guide_callbacks(grace: Grace, calls: dict[str, list[dict[str, Any]]]) -> None:
    """The guide's 'Register Callbacks' section, recording what each callback received."""

    async def create_incident_callback(**kwargs: Any) -> None:
        calls["incident"].append(kwargs)
        await grace.incidents.create_incident(**kwargs)

    async def emit_monitoring_callback(**kwargs: Any) -> None:
        calls["monitoring"].append(kwargs)
        await grace.bus.publish(
            Event(
                event_type=kwargs["event_type"],
                source=kwargs["source"],
                payload={"resource_id": kwargs["resource_id"], **kwargs["data"]},
            )
        )

    async def trigger_self_healing_callback(**kwargs: Any) -> None:
        calls["self_healing"].append(kwargs)
        await grace.engine.execute_playbook(
            playbook_name=kwargs["playbook"], context=kwargs["context"]
        )

    grace.registry.set_incident_callback(create_incident_callback)
    grace.registry.set_monitoring_callback(emit_monitoring_callback)
    grace.registry.set_self_healing_callback(trigger_self_healing_callback)


async def test_guide_callbacks_get_the_guides_arguments_and_heal_the_right_model(
    grace: Grace, clock: FakeClock
) -> None:
    """Callbacks wired as in the guide receive its keyword arguments and still roll back."""
    register(grace.registry, MODEL, "3.1.5", production=True)
    register(grace.registry, MODEL, "3.2.1", production=True)
    register(grace.registry, "other_model", "1", production=True)
    grace.registry.configure_model(MODEL, auto_remediate=True)
    calls: dict[str, list[dict[str, Any]]] = {"incident": [], "monitoring": [], "self_healing": []}
    _wire_guide_callbacks(grace, calls)
    recorder = EventRecorder()
    grace.bus.subscribe(recorder)

    await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "3.2.1", at=clock.now(), base=DEGRADED)
    )

    (incident_kwargs,) = calls["incident"]
    assert set(incident_kwargs) == {
        "source",
        "resource_type",
        "resource_id",
        "severity",
        "title",
        "description",
        "context",
    }
    assert incident_kwargs["severity"] == "high"
    monitoring = calls["monitoring"][0]
    assert set(monitoring) == {"event_type", "source", "resource_id", "data"}
    assert monitoring["event_type"] == "model.performance_snapshot"
    (healing,) = calls["self_healing"]
    assert set(healing) == {"resource_type", "resource_id", "playbook", "context"}
    assert healing["playbook"] == "model_rollback"
    context = healing["context"]
    assert context["model_id"] == MODEL
    assert context["current_version"] == "3.2.1"
    assert context["current_status"] == "production"
    assert context["severity"] == "high"
    production = grace.registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "3.1.5"
    other = grace.registry.get_production_version("other_model")
    assert other is not None
    assert other.version == "1"
    assert "model.performance_snapshot" in [e.event_type for e in recorder.events]


async def test_failing_callbacks_lose_nothing_and_are_on_the_timeline(
    grace: Grace, clock: FakeClock
) -> None:
    """A raising incident callback and a raising monitoring callback keep the snapshot and heal."""
    register(grace.registry, MODEL, "1", production=True)
    register(grace.registry, MODEL, "2", production=True)
    grace.registry.configure_model(MODEL, auto_remediate=True)

    async def broken(**_: Any) -> None:
        raise RuntimeError("pager service down")

    grace.registry.set_incident_callback(broken)
    grace.registry.set_monitoring_callback(broken)
    result = await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
    )
    assert result.snapshot_id > 0
    assert grace.registry.window_stats(MODEL, "2").snapshot_count == 1
    production = grace.registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "1"  # self-healing still ran
    failures = [e for e in grace.registry.get_timeline(MODEL) if e.event_type == "callback.failed"]
    assert {e.data["callback"] for e in failures} == {"incident", "monitoring"}
    assert all("pager service down" in e.data["error"] for e in failures)


async def test_hanging_callback_is_bounded_by_the_timeout(
    sqlite_url: str, clock: FakeClock
) -> None:
    """A callback that never returns is abandoned after the timeout and recorded."""
    grace = build(make_settings(sqlite_url, callback_timeout_seconds=0.2), clock=clock)
    try:
        register(grace.registry, MODEL, "1", production=True)

        async def hangs(**_: Any) -> None:
            await asyncio.sleep(3600)

        grace.registry.set_incident_callback(hangs)
        result = await asyncio.wait_for(
            grace.registry.record_performance_snapshot(
                snapshot(MODEL, "1", at=clock.now(), base=DEGRADED)
            ),
            timeout=10,
        )
        assert result.check is not None
        (failure,) = [
            e for e in grace.registry.get_timeline(MODEL) if e.event_type == "callback.failed"
        ]
        assert "timed out" in failure.data["error"]
    finally:
        grace.close()


async def test_bus_delivers_by_type_and_survives_a_failing_handler() -> None:
    """Handlers get the types they asked for; one that raises does not stop the others."""
    bus = EventBus(handler_timeout=1)
    everything, only_incidents = EventRecorder(), EventRecorder()

    async def broken(_: Event) -> None:
        raise ValueError("boom")

    bus.subscribe(broken)
    bus.subscribe(everything)
    bus.subscribe(only_incidents, event_types=["incident.opened"])
    delivered = await bus.publish(Event("model.registered", "test", {"resource_id": "m"}))
    await bus.publish(Event("incident.opened", "test", {"resource_id": "m"}))
    assert delivered == 1
    assert [e.event_type for e in everything.events] == ["model.registered", "incident.opened"]
    assert [e.event_type for e in only_incidents.events] == ["incident.opened"]
    assert everything.events[0].resource_id == "m"


async def test_unsubscribed_handler_hears_nothing() -> None:
    """cancel() stops delivery."""
    bus = EventBus()
    recorder = EventRecorder()
    bus.subscribe(recorder).cancel()
    assert await bus.publish(Event("x", "test")) == 0
    assert recorder.events == []


async def test_every_registry_change_is_an_event_in_commit_order(
    grace: Grace, clock: FakeClock
) -> None:
    """Registration, stage changes, settings, snapshots and triggers all reach the bus, in order."""
    recorder = EventRecorder()
    grace.bus.subscribe(recorder)
    register(grace.registry, MODEL, "1", production=True)
    register(grace.registry, MODEL, "2", production=True)
    grace.registry.configure_model(MODEL, window_minutes=15)
    grace.registry.update_deployment_status(MODEL, DeploymentStage.STAGING, "1")
    await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
    )
    await asyncio.sleep(0)
    kinds = [e.event_type for e in recorder.events]
    assert kinds[:8] == [
        "model.registered",
        "model.stage_changed",
        "model.registered",
        "model.stage_changed",
        "model.stage_changed",
        "model.settings_changed",
        "model.stage_changed",
        "model.performance_snapshot",
    ]
    assert "model.rollback_triggered" in kinds
    assert "incident.opened" in kinds
    stored = grace.registry.get_timeline(MODEL, limit=1000)
    assert [e.seq for e in stored] == sorted((e.seq or 0 for e in stored), reverse=True)
    assert {e.event_type for e in stored} >= set(kinds) - {"incident.opened"}


async def test_the_run_a_self_healing_callback_started_is_found_by_its_remediation_id(
    grace: Grace, clock: FakeClock
) -> None:
    """A callback that starts the playbook and then something else (another run of the same
    playbook, here refused by the cooldown) is credited with its own run, not the newest."""
    register(grace.registry, MODEL, "1", production=True)
    register(grace.registry, MODEL, "2", production=True)
    grace.registry.configure_model(MODEL, auto_remediate=True)
    started: list[int] = []

    async def heal_then_more(**kwargs: Any) -> None:
        context = kwargs["context"]
        run = await grace.engine.execute_playbook(kwargs["playbook"], context)
        started.append(run.id)
        other = {k: v for k, v in context.items() if k != "remediation_id"}
        await grace.engine.execute_playbook(kwargs["playbook"], other)  # refused: cooldown

    grace.registry.set_self_healing_callback(heal_then_more)
    result = await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
    )

    assert result.check is not None
    remediation = result.check["remediation"]
    assert remediation is not None
    newest = grace.engine.list_executions(MODEL, limit=1)[0]
    assert newest.status.value == "refused"
    assert (remediation["execution_id"], remediation["status"]) == (started[0], "succeeded")
    assert remediation["callback_succeeded"] is True
    assert remediation["to_version"] == "1"
