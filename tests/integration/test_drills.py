"""Rollback drills, on each database: model_rollback as a dry run for every production
model; those it could not heal are findings, events and (when asked) LOW incidents; nothing
else changes."""

from __future__ import annotations

from grace.bootstrap import Grace
from grace.clarity import EventRecorder
from grace.domain.stages import DeploymentStage
from tests.helpers import register


async def test_a_drill_reports_what_it_could_not_heal_and_changes_nothing(
    any_grace: Grace,
) -> None:
    register(any_grace.registry, "healable", "1", production=True)
    register(any_grace.registry, "healable", "2", production=True)
    register(any_grace.registry, "alone", "1", production=True)
    register(any_grace.registry, "gated", "1", production=True)
    register(any_grace.registry, "gated", "2", production=True)
    any_grace.registry.update_model("gated", "1", bias_check_passed=False)
    recorder = EventRecorder()
    any_grace.bus.subscribe(recorder)

    report = await any_grace.drills.run()

    assert report.models == 3
    assert report.healable == {"healable": {"from_version": "2", "to_version": "1"}}
    assert report.findings["alone"]["kind"] == "no_stable_version"
    assert report.findings["gated"]["kind"] == "restore_fails_gates"
    assert "bias" in report.findings["gated"]["detail"]
    assert report.incidents == []
    kinds = [e.event_type for e in recorder.events]
    assert kinds.count("drill.finding") == 2
    assert kinds[-1] == "drill.finished"
    production = any_grace.registry.get_production_version("healable")
    assert production is not None
    assert production.version == "2"  # a drill rolls nothing back
    assert any_grace.registry.get_model("healable", "1").status is DeploymentStage.ARCHIVED
    assert any_grace.incidents.list_incidents() == []


async def test_a_drill_can_open_low_incidents_once(any_grace: Grace) -> None:
    register(any_grace.registry, "alone", "1", production=True)
    first = await any_grace.drills.run(open_incidents=True)
    again = await any_grace.drills.run(open_incidents=True)
    (incident,) = any_grace.incidents.list_incidents()
    assert first.incidents == again.incidents == [incident.id]  # the same open incident
    assert incident.severity.value == "low"
    assert incident.occurrences == 2
