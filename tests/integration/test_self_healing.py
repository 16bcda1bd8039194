"""Self-healing: the model_rollback playbook, its cooldown and latch, and manual rollback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from grace.bootstrap import Grace
from grace.clarity import EventRecorder
from grace.clock import FakeClock
from grace.domain.records import ChangeCause, ExecutionStatus, StepStatus
from grace.errors import (
    InvalidInput,
    ModelNotFound,
    NoProductionVersion,
    NoStableVersion,
    PlaybookNotFound,
    VersionNotFound,
)
from grace.model_registry import DeploymentStage
from tests.helpers import DEGRADED, register, snapshot

MODEL = "fraud_detector_v3"
STEPS = [
    "find_previous_stable_version",
    "update_deployment_status",
    "notify_dependent_services",
    "verify_rollback",
    "update_trust_metrics",
]


def _two_releases(grace: Grace) -> None:
    register(grace.registry, MODEL, "3.1.5", production=True)
    register(grace.registry, MODEL, "3.2.1", production=True)


async def _degrade(grace: Grace, clock: FakeClock, version: str = "3.2.1") -> None:
    await grace.registry.record_performance_snapshot(
        snapshot(MODEL, version, at=clock.now(), base=DEGRADED)
    )


async def test_auto_remediation_runs_the_guides_five_steps_in_order(
    any_grace: Grace, clock: FakeClock
) -> None:
    """HIGH incident, playbook, rollback, status ROLLBACK, ops notified: in that order."""
    _two_releases(any_grace)
    await _degrade(any_grace, clock)  # judged with auto-remediation off: incident only
    recorder = EventRecorder()
    any_grace.bus.subscribe(recorder)

    result = await any_grace.registry.check_rollback_triggers(
        MODEL, window_minutes=10, auto_remediate=True
    )

    assert result["should_rollback"] is True
    assert result["auto_remediate"] is True
    remediation = result["remediation"]
    assert remediation is not None
    assert remediation["status"] == "succeeded"
    assert remediation["from_version"] == "3.2.1"
    assert remediation["to_version"] == "3.1.5"
    kinds = [e.event_type for e in recorder.events]
    order = [
        kinds.index("model.rollback_triggered"),
        kinds.index("incident.occurrence"),
        kinds.index("playbook.started"),
        kinds.index("model.rolled_back"),
        kinds.index("model.dependents_notified"),
        kinds.index("playbook.finished"),
        kinds.index("ops.notified"),
    ]
    assert order == sorted(order)
    incident = any_grace.incidents.get_incident(result["incident_id"] or 0)
    assert incident.severity.value == "high"
    assert [t.kind for t in incident.timeline][-2:] == ["remediation_succeeded", "ops_notified"]

    (run,) = any_grace.engine.list_executions(MODEL)
    assert run.status is ExecutionStatus.SUCCEEDED
    assert [s.name for s in run.steps] == STEPS
    assert all(s.status is StepStatus.SUCCEEDED for s in run.steps)
    assert all(s.duration_ms >= 0 for s in run.steps)
    assert any_grace.engine.get_execution(run.id) == run
    rolled = any_grace.registry.get_model(MODEL, "3.2.1")
    assert rolled.status is DeploymentStage.ROLLBACK
    assert rolled.trust_score < 1.0
    history = any_grace.registry.get_stage_history(MODEL)
    assert history[-1].cause is ChangeCause.AUTO_REMEDIATION


async def test_a_medium_condition_with_auto_remediation_opens_a_high_incident(
    grace: Grace, clock: FakeClock
) -> None:
    """An automatic rollback is always a HIGH incident, even for one MEDIUM condition."""
    _two_releases(grace)
    grace.registry.configure_model(MODEL, auto_remediate=True)
    result = await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "3.2.1", at=clock.now(), ood_rate=0.5)
    )
    assert result.check is not None
    assert result.check["severity"] == "medium"
    (incident,) = grace.incidents.list_incidents()
    assert incident.severity.value == "high"


async def test_previous_stable_version_skips_versions_that_were_rolled_back(
    grace: Grace, clock: FakeClock
) -> None:
    """Rolling back 3 restores 1, not 2, when 2 was itself rolled back earlier."""
    registry = grace.registry
    for version in ("1", "2"):
        register(registry, MODEL, version, production=True)
    await registry.rollback(MODEL, reason="2 was bad")  # 2 -> rollback, 1 restored
    register(registry, MODEL, "3", production=True)
    assert registry.get_model(MODEL, "1").status is DeploymentStage.ARCHIVED
    execution = await grace.engine.execute_playbook(
        "model_rollback", {"model_id": MODEL, "reasons": ["test"], "severity": "high"}
    )
    assert execution.status is ExecutionStatus.SUCCEEDED
    assert execution.result["to_version"] == "1"
    production = registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "1"


async def test_without_a_stable_version_the_playbook_fails_and_changes_nothing(
    grace: Grace,
) -> None:
    """A first release has nothing to fall back to: step 1 fails, the rest are skipped."""
    register(grace.registry, MODEL, "1", production=True)
    execution = await grace.engine.execute_playbook("model_rollback", {"model_id": MODEL})
    assert execution.status is ExecutionStatus.FAILED
    assert execution.steps[0].status is StepStatus.FAILED
    assert "no earlier version" in (execution.steps[0].error or "")
    assert [s.status for s in execution.steps[1:]] == [StepStatus.SKIPPED] * 4
    assert grace.registry.get_model(MODEL, "1").status is DeploymentStage.PRODUCTION


async def test_second_remediation_inside_cooldown_is_refused_and_recorded(
    grace: Grace, clock: FakeClock
) -> None:
    """A flapping model cannot loop: a second rollback within 30 minutes is refused."""
    registry = grace.registry
    for version in ("1", "2", "3"):
        register(registry, MODEL, version, production=True)
    registry.configure_model(MODEL, auto_remediate=True)
    await _degrade(grace, clock, "3")
    production = registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "2"

    clock.advance(minutes=5)
    await _degrade(grace, clock, "2")
    production = registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "2"
    refused = grace.engine.list_executions(MODEL)[0]
    assert refused.status is ExecutionStatus.REFUSED
    assert "cooldown" in (refused.error or "")

    clock.advance(minutes=31)
    await _degrade(grace, clock, "2")
    production = registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "1"


async def test_rolled_back_version_is_never_repromoted_automatically(
    grace: Grace, clock: FakeClock
) -> None:
    """After 3 is rolled back and 2 degrades later, the next rollback goes to 1, not 3."""
    registry = grace.registry
    for version in ("1", "2", "3"):
        register(registry, MODEL, version, production=True)
    registry.configure_model(MODEL, auto_remediate=True)
    await _degrade(grace, clock, "3")
    clock.advance(hours=1)
    await _degrade(grace, clock, "2")
    assert registry.get_model(MODEL, "3").status is DeploymentStage.ROLLBACK
    assert registry.get_model(MODEL, "2").status is DeploymentStage.ROLLBACK
    production = registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "1"


async def test_unknown_playbook_and_bad_context_are_clear_errors(grace: Grace) -> None:
    """Unknown playbook names the known ones; a context without a model is refused."""
    with pytest.raises(PlaybookNotFound, match="model_rollback"):
        await grace.engine.execute_playbook("reboot_the_world", {"model_id": MODEL})
    with pytest.raises(InvalidInput) as caught:
        await grace.engine.execute_playbook("model_rollback", {"current_version": "1"})
    assert caught.value.field == "context.model_id"
    with pytest.raises(ModelNotFound):
        await grace.engine.execute_playbook("model_rollback", {"model_id": "ghost"})
    assert grace.engine.list_executions() == []


async def test_manual_rollback_returns_the_guides_answer(any_grace: Grace) -> None:
    """rollback(reason, target_version) moves production back and says so like the guide."""
    registry = any_grace.registry
    for version in ("3.1.5", "3.2.0", "3.2.1"):
        register(registry, MODEL, version, production=True)
    result = await registry.rollback(MODEL, "manual_intervention", target_version="3.1.5")
    assert result == {
        "status": "rolled_back",
        "model_id": MODEL,
        "reason": "manual_intervention",
        "target_version": "3.1.5",
        "from_version": "3.2.1",
    }
    assert registry.get_model(MODEL, "3.2.1").status is DeploymentStage.ROLLBACK
    last = registry.get_stage_history(MODEL)[-1]
    assert last.cause is ChangeCause.MANUAL_ROLLBACK
    assert last.version == "3.1.5"


async def test_manual_rollback_without_target_uses_previous_stable_version(grace: Grace) -> None:
    """Without target_version the previous stable version is restored."""
    for version in ("1", "2"):
        register(grace.registry, MODEL, version, production=True)
    result = await grace.registry.rollback(MODEL, "bad deploy")
    assert result["target_version"] == "1"


async def test_manual_rollback_refusals_are_clear(grace: Grace) -> None:
    """No production, no stable version, unknown or current target: each a typed error."""
    registry = grace.registry
    register(registry, MODEL, "1")
    with pytest.raises(NoProductionVersion):
        await registry.rollback(MODEL, "why")
    registry.update_deployment_status(MODEL, DeploymentStage.PRODUCTION, "1")
    with pytest.raises(NoStableVersion, match="no earlier version"):
        await registry.rollback(MODEL, "why")
    with pytest.raises(VersionNotFound):
        await registry.rollback(MODEL, "why", target_version="0.9")
    with pytest.raises(NoStableVersion, match="current production version"):
        await registry.rollback(MODEL, "why", target_version="1")
    with pytest.raises(InvalidInput):
        await registry.rollback(MODEL, "   ")
    assert registry.get_model(MODEL, "1").status is DeploymentStage.PRODUCTION


async def test_stale_remediation_does_not_act_twice(grace: Grace, clock: FakeClock) -> None:
    """A playbook run for a version no longer in production fails instead of rolling back again."""
    for version in ("1", "2", "3"):
        register(grace.registry, MODEL, version, production=True)
    grace.engine.cooldown = timedelta(0)
    context = {"model_id": MODEL, "current_version": "3", "reasons": ["x"]}
    first = await grace.engine.execute_playbook("model_rollback", context)
    second = await grace.engine.execute_playbook("model_rollback", context)
    assert first.status is ExecutionStatus.SUCCEEDED
    assert second.status is ExecutionStatus.FAILED
    assert "already rolled back" in (second.steps[0].error or "")
    production = grace.registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "2"
