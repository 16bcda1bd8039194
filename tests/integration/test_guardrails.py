"""The remediation pipeline's guardrails, on each database: maintenance windows, rate limits
per model and across the fleet, the circuit breaker, dry runs and approvals.  Every hold or
refusal says why, in the run, on the incident's timeline and as an event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from grace.bootstrap import Grace, build
from grace.clarity import EventRecorder
from grace.clock import FakeClock
from grace.domain.records import ExecutionStatus, PlaybookExecution
from grace.domain.stages import DeploymentStage
from grace.errors import ConcurrentChange, Conflict, InvalidInput, ModelNotFound
from tests.conftest import make_settings
from tests.helpers import degrade as _degrade
from tests.helpers import register

S = ExecutionStatus


@pytest.fixture
async def guarded(database_url: str, clock: FakeClock) -> AsyncIterator[Grace]:
    """No cooldown (the guardrails under test decide alone), small limits."""
    settings = make_settings(
        database_url,
        remediation_cooldown_minutes=0,
        remediation_max_per_model_per_hour=3,
        remediation_max_fleet_per_hour=4,
        remediation_breaker_after=2,
        approval_ttl_minutes=30,
    )
    grace = build(settings, clock=clock)
    yield grace
    await grace.aclose()


def _releases(grace: Grace, model: str, count: int = 2) -> None:
    for n in range(1, count + 1):
        register(grace.registry, model, f"{n}.0", production=True)
        grace.registry.configure_model(model, auto_remediate=True)


def _production(grace: Grace, model: str) -> str | None:
    entry = grace.registry.get_production_version(model)
    return entry.version if entry else None


def _last_run(grace: Grace, model: str) -> PlaybookExecution:
    return grace.engine.list_executions(model)[0]


def _timeline_kinds(grace: Grace, incident_id: int | None) -> list[str]:
    assert incident_id is not None
    return [t.kind for t in grace.incidents.get_incident(incident_id).timeline]


async def test_a_maintenance_window_holds_remediation_and_its_end_acts(
    guarded: Grace, clock: FakeClock
) -> None:
    _releases(guarded, "fraud")
    window = await guarded.windows.create(
        "fraud", clock.now(), clock.now() + timedelta(minutes=5), "feature store migration"
    )
    recorder = EventRecorder()
    guarded.bus.subscribe(recorder)

    check = await _degrade(guarded, clock, "fraud")

    assert _production(guarded, "fraud") == "2.0"  # held: nothing rolled back
    held = _last_run(guarded, "fraud")
    assert (held.status, held.reason, held.window_id) == (S.HELD, "maintenance_window", window.id)
    assert "feature store migration" in (held.error or "")
    assert check["remediation"]["status"] == "held"
    assert "remediation_held" in _timeline_kinds(guarded, check["incident_id"])
    assert "remediation.held" in [e.event_type for e in recorder.events]

    clock.advance(minutes=6)  # the window is over; the degraded snapshot is still in range
    released = await guarded.windows.release_ended()

    assert [w.id for w in released] == [window.id]
    assert _production(guarded, "fraud") == "1.0"  # the held remediation acted
    kinds = [e.event_type for e in recorder.events]
    assert "maintenance.window_ended" in kinds
    assert "alert.held" in kinds  # the incident opened inside the window: its page was held
    assert "alert.triggered" in kinds  # ... and went out when the window ended
    held = guarded.engine.get_execution(held.id)
    assert held.finished_at is not None
    assert held.result["failing"] is True
    assert await guarded.windows.release_ended() == []  # once


async def test_a_window_that_only_pages_leaves_the_model_alone(
    guarded: Grace, clock: FakeClock
) -> None:
    _releases(guarded, "fraud")
    await guarded.windows.create(
        None, clock.now(), clock.now() + timedelta(minutes=5), "all hands", on_end="page"
    )
    await _degrade(guarded, clock, "fraud")
    recorder = EventRecorder()
    guarded.bus.subscribe(recorder)

    clock.advance(minutes=6)
    await guarded.windows.release_ended()

    assert _production(guarded, "fraud") == "2.0"
    (paged,) = [e for e in recorder.events if e.event_type == "alert.triggered"]
    assert paged.resource_id == "fraud"


async def test_a_model_that_recovered_in_the_window_is_left_alone(
    guarded: Grace, clock: FakeClock
) -> None:
    _releases(guarded, "fraud")
    await guarded.windows.create("fraud", clock.now(), clock.now() + timedelta(minutes=5), "x")
    await _degrade(guarded, clock, "fraud")
    held = _last_run(guarded, "fraud")

    clock.advance(minutes=30)  # no snapshot in the window any more: nothing fires
    await guarded.windows.release_ended()

    assert _production(guarded, "fraud") == "2.0"
    assert guarded.engine.get_execution(held.id).result["failing"] is False


async def test_removing_a_window_releases_what_it_held(guarded: Grace, clock: FakeClock) -> None:
    _releases(guarded, "fraud")
    window = await guarded.windows.create(
        "fraud", clock.now(), clock.now() + timedelta(hours=2), "x"
    )
    await _degrade(guarded, clock, "fraud")

    removed = await guarded.windows.remove(window.id)

    assert removed.removed_at is not None
    assert _production(guarded, "fraud") == "1.0"
    assert guarded.windows.list_windows() == []


async def test_the_per_model_rate_limit_refuses_and_says_why(
    guarded: Grace, clock: FakeClock
) -> None:
    _releases(guarded, "fraud", count=4)
    await guarded.policies.update("fraud", {"max_per_hour": 1})
    first = await _degrade(guarded, clock, "fraud")
    assert first["remediation"]["status"] == "succeeded"
    clock.advance(minutes=1)

    second = await _degrade(guarded, clock, "fraud")

    assert second["remediation"]["status"] == "refused"
    assert second["remediation"]["reason"] == "rate_limit"
    assert _production(guarded, "fraud") == "3.0"
    refused = _last_run(guarded, "fraud")
    assert (refused.status, refused.reason) == (S.REFUSED, "rate_limit")
    assert "at most 1" in (refused.error or "")
    assert "remediation_refused" in _timeline_kinds(guarded, second["incident_id"])

    clock.advance(minutes=61)  # an hour later the model may be remediated again
    third = await _degrade(guarded, clock, "fraud")
    assert third["remediation"]["status"] == "succeeded"


async def test_past_the_fleet_limit_a_human_is_paged_instead(
    guarded: Grace, clock: FakeClock
) -> None:
    models = [f"m{n}" for n in range(5)]
    for model in models:
        _releases(guarded, model)
    recorder = EventRecorder()
    guarded.bus.subscribe(recorder)

    checks = [await _degrade(guarded, clock, model) for model in models]

    statuses = [c["remediation"]["status"] for c in checks]
    assert statuses == ["succeeded"] * 4 + ["refused"]
    assert checks[-1]["remediation"]["reason"] == "fleet_rate_limit"
    assert _production(guarded, "m4") == "2.0"
    (burst,) = [i for i in guarded.incidents.list_incidents() if i.resource_type == "fleet"]
    assert burst.severity.value == "critical"
    assert "fleet rate limit" in burst.description
    pages = [e for e in recorder.events if e.event_type == "alert.triggered"]
    assert "fleet" in [e.resource_id for e in pages]


async def test_failed_runs_in_a_row_open_the_breaker_until_a_human_closes_it(
    guarded: Grace, clock: FakeClock
) -> None:
    _releases(guarded, "fraud", count=1)  # no earlier version: every rollback fails
    first = await _degrade(guarded, clock, "fraud")
    assert first["remediation"]["status"] == "failed"
    assert not guarded.policies.get("fraud").breaker_open
    clock.advance(minutes=1)
    await _degrade(guarded, clock, "fraud")  # the second failure in a row (breaker_after=2)

    policy = guarded.policies.get("fraud")
    assert policy.breaker_open
    assert "2 automatic remediations in a row failed" in (policy.breaker_reason or "")
    (asking,) = [i for i in guarded.incidents.list_incidents() if "switched off" in i.title]
    assert asking.severity.value == "high"

    clock.advance(minutes=1)
    third = await _degrade(guarded, clock, "fraud")
    assert third["remediation"]["reason"] == "breaker_open"
    assert _last_run(guarded, "fraud").status is S.REFUSED

    closed = await guarded.policies.close_breaker("fraud", actor="alice")
    assert not closed.breaker_open
    with pytest.raises(Conflict, match="not open"):
        await guarded.policies.close_breaker("fraud", actor="alice")


async def test_a_dry_run_records_what_it_would_do_and_does_nothing(
    guarded: Grace, clock: FakeClock
) -> None:
    _releases(guarded, "fraud")
    await guarded.policies.update("fraud", {"dry_run": True})

    check = await _degrade(guarded, clock, "fraud")

    assert check["remediation"]["status"] == "dry_run"
    assert _production(guarded, "fraud") == "2.0"
    run = _last_run(guarded, "fraud")
    assert (run.status, run.reason) == (S.DRY_RUN, "dry_run")
    assert run.result["plan"] == {
        "would_roll_back": True,
        "from_version": "2.0",
        "to_version": "1.0",
    }
    assert run.result["decision"]["would"] == "act"
    # a dry run does not count against the rate limits
    assert guarded.registry.get_model("fraud", "2.0").status is DeploymentStage.PRODUCTION


async def test_an_approval_runs_the_rollback_and_a_second_decision_is_refused(
    guarded: Grace, clock: FakeClock
) -> None:
    _releases(guarded, "fraud")
    await guarded.policies.update("fraud", {"require_approval": True})
    recorder = EventRecorder()
    guarded.bus.subscribe(recorder)

    check = await _degrade(guarded, clock, "fraud")

    assert check["remediation"]["status"] == "waiting_approval"
    assert _production(guarded, "fraud") == "2.0"
    waiting = _last_run(guarded, "fraud")
    assert waiting.expires_at == waiting.started_at + timedelta(minutes=30)
    assert "remediation.approval_requested" in [e.event_type for e in recorder.events]

    done = await guarded.approvals.approve(waiting.id, "alice")

    assert done.status is S.SUCCEEDED
    assert (done.decided_by, done.decided_at) == ("alice", clock.now())
    assert _production(guarded, "fraud") == "1.0"
    assert "remediation_approved" in _timeline_kinds(guarded, check["incident_id"])
    with pytest.raises(ConcurrentChange, match="succeeded, not waiting_approval"):
        await guarded.approvals.approve(waiting.id, "bob")
    with pytest.raises(ConcurrentChange):
        await guarded.approvals.deny(waiting.id, "bob")
    assert guarded.engine.get_execution(waiting.id).decided_by == "alice"


async def test_a_denied_or_unanswered_request_ends_refused(
    guarded: Grace, clock: FakeClock
) -> None:
    for model in ("a", "b"):
        _releases(guarded, model)
        await guarded.policies.update(model, {"require_approval": True})
        await _degrade(guarded, clock, model)
    denied = await guarded.approvals.deny(_last_run(guarded, "a").id, "alice")
    assert (denied.status, denied.reason, denied.decided_by) == (S.DENIED, "denied", "alice")

    clock.advance(minutes=29)
    assert await guarded.approvals.expire() == []
    clock.advance(minutes=2)
    (expired,) = await guarded.approvals.expire()

    assert expired.id == _last_run(guarded, "b").id
    assert (expired.status, expired.reason) == (S.DENIED, "approval_expired")
    assert _production(guarded, "a") == "2.0"
    assert _production(guarded, "b") == "2.0"


@pytest.mark.parametrize(
    ("start", "end", "model", "field", "words"),
    [
        (0, -1, "fraud", "ends_at", "after starts_at"),
        (-120, -60, "fraud", "ends_at", "in the past"),
        (0, 60 * 24 * 40, "fraud", "ends_at", "31 days"),
    ],
)
async def test_a_bad_window_is_refused_and_nothing_is_stored(
    guarded: Grace, clock: FakeClock, start: int, end: int, model: str, field: str, words: str
) -> None:
    _releases(guarded, "fraud")
    with pytest.raises(InvalidInput, match=words) as refused:
        await guarded.windows.create(
            model,
            clock.now() + timedelta(minutes=start),
            clock.now() + timedelta(minutes=end),
            "x",
        )
    assert refused.value.field == field
    assert guarded.windows.list_windows(include_past=True) == []


async def test_a_window_for_an_unknown_model_or_rule_is_refused(
    guarded: Grace, clock: FakeClock
) -> None:
    later = clock.now() + timedelta(hours=1)
    with pytest.raises(ModelNotFound):
        await guarded.windows.create("nobody", clock.now(), later, "x")
    with pytest.raises(InvalidInput, match="on_end"):
        await guarded.windows.create(None, clock.now(), later, "x", on_end="panic")
    with pytest.raises(InvalidInput, match="reason"):
        await guarded.windows.create(None, clock.now(), later, " ")
    assert guarded.windows.list_windows(include_past=True) == []
