"""A user's own playbook, given to the engine or installed as an entry point, runs through
the one remediation pipeline with the same records, timeouts, retries, guardrails and
approvals as the built-in model_rollback (on each database)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from grace.bootstrap import Grace, build
from grace.clarity import EventRecorder
from grace.clock import FakeClock
from grace.domain.records import ExecutionStatus, StepStatus
from grace.errors import Conflict, InvalidInput, PlaybookPluginFailed
from grace.services.playbook_plugins import installed_playbooks
from grace.services.self_healing import Playbook, PlaybookRun, PlaybookStep
from tests.conftest import make_settings
from tests.helpers import degrade as _degrade
from tests.helpers import register
from tests.plugins import MODULE, declare, install_plugin

S = ExecutionStatus


class Operations:
    """What a team's own remediation does: here, recorded calls to a serving cluster."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.flaky_left = 0
        self.hang = False

    def playbook(self) -> Playbook:
        async def drain_traffic(run: PlaybookRun) -> Mapping[str, Any]:
            version = str(run.context["current_version"])
            self.calls.append(("drain", run.resource_id, version))
            run.state["drained"] = version
            return {"drained": version, "reasons": list(run.context["reasons"])}

        async def restart_replicas(run: PlaybookRun) -> Mapping[str, Any]:
            if self.hang:
                await asyncio.sleep(30)
            if self.flaky_left:
                self.flaky_left -= 1
                raise RuntimeError("cluster API answered 503")
            self.calls.append(("restart", run.resource_id, run.state["drained"]))
            return {"restarted": 3}

        return Playbook(
            name="restart_serving",
            resource_type="ml_model",
            resource_key="model_id",
            description="Drain the degraded version and restart its replicas",
            steps=[
                PlaybookStep("drain_traffic", drain_traffic),
                PlaybookStep(
                    "restart_replicas", restart_replicas, timeout=0.2, retries=2, retry_delay=0.01
                ),
            ],
        )


@pytest.fixture
def ops() -> Operations:
    return Operations()


@pytest.fixture
async def grace(database_url: str, clock: FakeClock, ops: Operations) -> AsyncIterator[Grace]:
    settings = make_settings(
        database_url,
        remediation_cooldown_minutes=0,
        remediation_max_per_model_per_hour=2,
        remediation_breaker_after=2,
    )
    built = build(settings, clock=clock)
    built.engine.register_playbook(ops.playbook())
    yield built
    await built.aclose()


def _releases(grace: Grace, model: str) -> None:
    for n in (1, 2):
        register(grace.registry, model, f"{n}.0", production=True)
    grace.registry.configure_model(model, auto_remediate=True)


async def test_the_policys_playbook_runs_with_every_record(
    grace: Grace, clock: FakeClock, ops: Operations
) -> None:
    _releases(grace, "fraud")
    await grace.policies.update("fraud", {"playbook": "restart_serving"})
    recorder = EventRecorder()
    grace.bus.subscribe(recorder)

    check = await _degrade(grace, clock, "fraud")

    assert check["remediation"]["playbook"] == "restart_serving"
    assert check["remediation"]["status"] == "succeeded"
    assert ops.calls == [("drain", "fraud", "2.0"), ("restart", "fraud", "2.0")]
    production = grace.registry.get_production_version("fraud")
    assert production is not None
    assert production.version == "2.0"  # it rolled nothing back
    run = grace.engine.list_executions("fraud")[0]
    assert (run.playbook, run.status) == ("restart_serving", S.SUCCEEDED)
    assert [(s.name, s.status, s.attempts) for s in run.steps] == [
        ("drain_traffic", StepStatus.SUCCEEDED, 1),
        ("restart_replicas", StepStatus.SUCCEEDED, 1),
    ]
    assert run.steps[0].detail["reasons"] == check["reasons"]
    assert run.result == {"drained": "2.0"}
    kinds = [e.event_type for e in recorder.events]
    for kind in ("playbook.started", "playbook.step", "playbook.finished", "ops.notified"):
        assert kind in kinds
    timeline = grace.incidents.get_incident(check["incident_id"]).timeline
    assert [t.kind for t in timeline].count("remediation_step") == 2
    assert "remediation_succeeded" in [t.kind for t in timeline]
    # Not a rollback: there is no restored version to verify.
    clock.advance(minutes=30)
    assert await grace.verification.verify_due() == []


async def test_a_step_is_retried_and_its_record_says_how_often(
    grace: Grace, clock: FakeClock, ops: Operations
) -> None:
    _releases(grace, "fraud")
    await grace.policies.update("fraud", {"playbook": "restart_serving"})
    ops.flaky_left = 2  # two 503s, then the cluster answers

    check = await _degrade(grace, clock, "fraud")

    assert check["remediation"]["status"] == "succeeded"
    step = grace.engine.list_executions("fraud")[0].steps[1]
    assert (step.status, step.attempts) == (StepStatus.SUCCEEDED, 3)


async def test_a_step_past_its_timeout_fails_and_failures_open_the_breaker(
    grace: Grace, clock: FakeClock, ops: Operations
) -> None:
    _releases(grace, "fraud")
    await grace.policies.update("fraud", {"playbook": "restart_serving"})
    ops.hang = True

    first = await _degrade(grace, clock, "fraud")

    run = grace.engine.list_executions("fraud")[0]
    assert run.status is S.FAILED
    step = run.steps[1]
    assert step.status is StepStatus.FAILED
    assert step.error == "timed out after 0.2 s (after 3 attempts)"
    assert step.attempts == 3
    assert first["remediation"]["status"] == "failed"

    clock.advance(minutes=1)
    await _degrade(grace, clock, "fraud")  # the second failure in a row: the breaker opens
    policy = grace.policies.get("fraud")
    assert policy.breaker_open
    assert "restart_replicas" in (policy.breaker_reason or "")

    clock.advance(minutes=1)
    third = await _degrade(grace, clock, "fraud")
    assert third["remediation"]["reason"] == "breaker_open"


async def test_rate_limits_count_every_playbook_of_the_model(
    grace: Grace, clock: FakeClock
) -> None:
    _releases(grace, "fraud")
    register(grace.registry, "fraud", "3.0", production=True)
    await _degrade(grace, clock, "fraud")  # model_rollback: 3.0 -> 2.0
    await grace.policies.update("fraud", {"playbook": "restart_serving"})
    clock.advance(minutes=1)
    await _degrade(grace, clock, "fraud")  # restart_serving: the second this hour
    clock.advance(minutes=1)

    third = await _degrade(grace, clock, "fraud")

    assert third["remediation"]["playbook"] == "restart_serving"
    assert third["remediation"]["reason"] == "rate_limit"


async def test_approval_and_dry_run_apply_to_the_users_playbook(
    grace: Grace, clock: FakeClock, ops: Operations
) -> None:
    _releases(grace, "fraud")
    await grace.policies.update("fraud", {"playbook": "restart_serving", "dry_run": True})
    dry = await _degrade(grace, clock, "fraud")
    run = grace.engine.list_executions("fraud")[0]
    assert (run.playbook, run.status) == ("restart_serving", S.DRY_RUN)
    assert run.result["plan"] == {
        "would_run": "restart_serving",
        "steps": ["drain_traffic", "restart_replicas"],
    }
    assert dry["remediation"]["reason"] == "dry_run"
    assert ops.calls == []

    await grace.policies.update("fraud", {"dry_run": False, "require_approval": True})
    clock.advance(minutes=1)
    await _degrade(grace, clock, "fraud")
    waiting = grace.engine.list_executions("fraud")[0]
    assert (waiting.playbook, waiting.status) == ("restart_serving", S.WAITING_APPROVAL)
    assert ops.calls == []

    done = await grace.approvals.approve(waiting.id, "alice")

    assert done.status is S.SUCCEEDED
    assert [c[0] for c in ops.calls] == ["drain", "restart"]


async def test_a_policy_naming_a_playbook_this_process_lacks_refuses(
    grace: Grace, clock: FakeClock, database_url: str
) -> None:
    _releases(grace, "fraud")
    await grace.policies.update("fraud", {"playbook": "restart_serving"})
    # Another process on the same database that was not given the playbook.
    other = build(make_settings(database_url, remediation_cooldown_minutes=0), clock=clock)
    try:
        check = await _degrade(other, clock, "fraud")
    finally:
        await other.aclose()

    remediation = check["remediation"]
    assert (remediation["status"], remediation["reason"]) == ("refused", "unknown_playbook")
    assert "restart_serving" in remediation["message"]
    production = grace.registry.get_production_version("fraud")
    assert production is not None
    assert production.version == "2.0"  # no other playbook ran


async def test_bad_playbooks_and_policies_are_refused(grace: Grace) -> None:
    _releases(grace, "fraud")

    async def step(run: PlaybookRun) -> Mapping[str, Any]:
        return {}

    with pytest.raises(InvalidInput, match=r"playbook\.steps: a playbook needs at least one"):
        grace.engine.register_playbook(Playbook("empty", "ml_model", []))
    twice = [PlaybookStep("a", step), PlaybookStep("a", step)]
    with pytest.raises(InvalidInput, match="'a' names two steps"):
        grace.engine.register_playbook(Playbook("twice", "ml_model", twice))
    with pytest.raises(InvalidInput, match=r"steps\[0\].timeout"):
        grace.engine.register_playbook(
            Playbook("slow", "ml_model", [PlaybookStep("a", step, timeout=0)])
        )
    with pytest.raises(InvalidInput, match=r"steps\[0\].retries"):
        grace.engine.register_playbook(
            Playbook("again", "ml_model", [PlaybookStep("a", step, retries=11)])
        )
    with pytest.raises(Conflict, match="already registered"):
        grace.engine.register_playbook(
            Playbook("model_rollback", "ml_model", [PlaybookStep("a", step)])
        )
    grace.engine.register_playbook(Playbook("clean_cache", "cache", [PlaybookStep("a", step)]))

    before = grace.policies.get("fraud")
    with pytest.raises(InvalidInput, match="'nope' is not a registered playbook for models"):
        await grace.policies.update("fraud", {"playbook": "nope"})
    with pytest.raises(InvalidInput, match="'clean_cache' is not a registered playbook for"):
        await grace.policies.update("fraud", {"playbook": "clean_cache"})
    assert grace.policies.get("fraud") == before
    # null is back to the built-in model_rollback
    await grace.policies.update("fraud", {"playbook": "restart_serving"})
    assert (await grace.policies.update("fraud", {"playbook": None})).playbook is None


# -- entry points --------------------------------------------------------------------------
@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Path]:
    site = tmp_path / "site"
    info = install_plugin(site)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield info
    finally:
        sys.path.remove(str(site))
        sys.modules.pop(MODULE, None)
        importlib.invalidate_caches()


async def test_an_installed_entry_point_is_registered_and_runs(
    installed: Path, database_url: str, clock: FakeClock
) -> None:
    assert [p.name for p in installed_playbooks()] == ["page_owner"]
    settings = make_settings(database_url, remediation_cooldown_minutes=0)
    grace = build(settings, clock=clock)
    try:
        assert [p.name for p in grace.engine.playbooks] == ["model_rollback", "page_owner"]
        _releases(grace, "fraud")
        await grace.policies.update("fraud", {"playbook": "page_owner"})
        check = await _degrade(grace, clock, "fraud")
        run = grace.engine.list_executions("fraud")[0]
        assert (run.playbook, run.status) == ("page_owner", S.SUCCEEDED)
        assert run.steps[0].detail == {"paged": "fraud"}
        assert check["remediation"]["playbook"] == "page_owner"
    finally:
        await grace.aclose()

    off = build(make_settings(database_url, playbook_entry_points=False), clock=clock)
    try:
        assert [p.name for p in off.engine.playbooks] == ["model_rollback"]
    finally:
        await off.aclose()


async def test_a_broken_entry_point_stops_the_start_naming_it(
    installed: Path, database_url: str
) -> None:
    declare(installed, "broken = acme_playbooks:broken")
    importlib.invalidate_caches()
    with pytest.raises(PlaybookPluginFailed, match="'broken = acme_playbooks:broken' is not a"):
        build(make_settings(database_url))
    declare(installed, "missing = acme_playbooks_gone:playbooks")
    importlib.invalidate_caches()
    with pytest.raises(PlaybookPluginFailed, match="could not be imported: ModuleNotFoundError"):
        build(make_settings(database_url))
