"""The guardrails over HTTP: maintenance windows, a model's remediation policy and circuit
breaker, approvals.  Bad input is a 4xx naming the problem, and nothing changes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from grace.clock import FakeClock
from grace.domain.records import ExecutionStatus
from grace.services.self_healing import Playbook, PlaybookRun, PlaybookStep
from tests.api.conftest import BuildApi
from tests.api.support import API, MODEL, client_for, degraded_body, ok, problem
from tests.helpers import register


def _iso(clock: FakeClock, minutes: float) -> str:
    return (clock.now() + timedelta(minutes=minutes)).isoformat()


async def test_a_window_is_made_listed_read_and_removed_under_the_tokens_name(
    build_api: BuildApi, clock: FakeClock
) -> None:
    grace, app = build_api()
    register(grace.registry, MODEL, "1", production=True)
    admin = grace.tokens.create("oncall-alice", ["admin"])[1]
    body = {
        "model_id": MODEL,
        "starts_at": _iso(clock, 0),
        "ends_at": _iso(clock, 60),
        "reason": "feature store migration",
    }
    async with client_for(app, admin) as c:
        made = ok(await c.post(f"{API}/maintenance-windows", json=body), 201)
        assert made["created_by"] == "oncall-alice"
        assert made["on_end"] == "act"
        listed = ok(await c.get(f"{API}/maintenance-windows"))
        mine = ok(await c.get(f"{API}/maintenance-windows", params={"model_id": MODEL}))
        others = ok(await c.get(f"{API}/maintenance-windows", params={"model_id": "other"}))
        one = ok(await c.get(f"{API}/maintenance-windows/{made['id']}"))
        removed = ok(await c.delete(f"{API}/maintenance-windows/{made['id']}"))
        after = ok(await c.get(f"{API}/maintenance-windows"))
        past = ok(await c.get(f"{API}/maintenance-windows", params={"include_past": "true"}))
        problem(await c.get(f"{API}/maintenance-windows/{made['id'] + 9}"), 404)
    assert listed == mine == [made]
    assert others == []
    assert one == made
    assert removed["removed_at"] is not None
    assert after == []
    assert [w["id"] for w in past] == [made["id"]]


@pytest.mark.parametrize(
    ("change", "status", "field", "words"),
    [
        ({"ends_at": -1}, 422, "ends_at", "after starts_at"),
        ({"starts_at": -120, "ends_at": -60}, 422, "ends_at", "in the past"),
        ({"ends_at": 60 * 24 * 32}, 422, "ends_at", "31 days"),
        ({"on_end": "panic"}, 422, "on_end", ""),
        ({"reason": "   "}, 422, "reason", "non-empty"),
        ({"reason": ""}, 422, "reason", ""),
        ({"model_id": "nobody"}, 404, None, "nobody"),
        ({"starts_at": "next tuesday"}, 422, "starts_at", ""),
    ],
)
async def test_a_bad_window_names_the_problem_and_makes_nothing(
    build_api: BuildApi,
    clock: FakeClock,
    change: dict[str, Any],
    status: int,
    field: str | None,
    words: str,
) -> None:
    grace, app = build_api()
    register(grace.registry, MODEL, "1", production=True)
    body: dict[str, Any] = {
        "model_id": MODEL,
        "starts_at": _iso(clock, 0),
        "ends_at": _iso(clock, 60),
        "reason": "x",
    }
    for key, value in change.items():
        body[key] = _iso(clock, value) if isinstance(value, int) else value
    async with client_for(app) as c:
        answer = problem(await c.post(f"{API}/maintenance-windows", json=body), status)
    if field is not None:
        assert answer["field"] == field
    assert words in answer["detail"]
    assert grace.windows.list_windows(include_past=True) == []


async def test_a_policy_is_read_and_changed_and_bad_values_are_refused(
    build_api: BuildApi,
) -> None:
    grace, app = build_api()
    register(grace.registry, MODEL, "1", production=True)
    url = f"{API}/models/{MODEL}/remediation"
    async with client_for(app) as c:
        default = ok(await c.get(url))
        changed = ok(
            await c.patch(
                url,
                json={
                    "require_approval": True,
                    "max_per_hour": 2,
                    "runbook_url": "https://wiki.example/runbooks/fraud",
                },
            )
        )
        cleared = ok(await c.patch(url, json={"max_per_hour": None}))
        refusals = [
            problem(await c.patch(url, json={"max_per_hour": -1}), 422),
            problem(await c.patch(url, json={"max_per_hour": 1.5}), 422),
            problem(await c.patch(url, json={"runbook_url": "ftp://x/y"}), 422),
            problem(await c.patch(url, json={"dry_run": "yes"}), 422),
            problem(await c.patch(url, json={"breaker": {"open": False}}), 422),
        ]
        problem(await c.get(f"{API}/models/nobody/remediation"), 404)
        problem(await c.post(f"{url}/breaker/close"), 409)
    assert default["require_approval"] is False
    assert default["breaker"] == {"open": False, "opened_at": None, "reason": None}
    assert changed["require_approval"] is True
    assert changed["max_per_hour"] == 2
    assert changed["runbook_url"] == "https://wiki.example/runbooks/fraud"
    assert cleared["max_per_hour"] is None
    assert cleared["require_approval"] is True
    assert [r["field"] for r in refusals] == [
        "max_per_hour",
        "max_per_hour",
        "runbook_url",
        "dry_run",
        "breaker",
    ]
    assert grace.policies.get(MODEL).max_per_hour is None


async def test_a_waiting_remediation_is_approved_once_over_http(build_api: BuildApi) -> None:
    grace, app = build_api()
    register(grace.registry, MODEL, "3.1.5", production=True)
    register(grace.registry, MODEL, "3.2.1", production=True)
    grace.registry.configure_model(MODEL, auto_remediate=True)
    operator = grace.tokens.create("oncall-bob", ["operate", "ingest", "write"])[1]
    async with client_for(app, operator) as c:
        ok(await c.patch(f"{API}/models/{MODEL}/remediation", json={"require_approval": True}))
        recorded = ok(
            await c.post(f"{API}/models/{MODEL}/performance", json=degraded_body("3.2.1")), 201
        )
        waiting = recorded["check"]["remediation"]
        assert waiting["status"] == "waiting_approval"
        assert waiting["reason"] == "waiting_approval"
        run_id = waiting["execution_id"]
        approved = ok(await c.post(f"{API}/executions/{run_id}/approve"))
        again = problem(await c.post(f"{API}/executions/{run_id}/approve"), 409)
        denied_late = problem(await c.post(f"{API}/executions/{run_id}/deny"), 409)
        problem(await c.post(f"{API}/executions/{run_id + 50}/approve"), 404)
    assert approved["status"] == ExecutionStatus.SUCCEEDED.value
    assert approved["decided_by"] == "oncall-bob"
    assert "not waiting_approval" in again["detail"]
    assert "not waiting_approval" in denied_late["detail"]
    production = grace.registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "3.1.5"


async def test_a_waiting_remediation_is_denied_over_http(build_api: BuildApi) -> None:
    grace, app = build_api()
    register(grace.registry, MODEL, "3.1.5", production=True)
    register(grace.registry, MODEL, "3.2.1", production=True)
    grace.registry.configure_model(MODEL, auto_remediate=True)
    await grace.policies.update(MODEL, {"require_approval": True})
    async with client_for(app) as c:
        recorded = ok(
            await c.post(f"{API}/models/{MODEL}/performance", json=degraded_body("3.2.1")), 201
        )
        run_id = recorded["check"]["remediation"]["execution_id"]
        denied = ok(await c.post(f"{API}/executions/{run_id}/deny"))
        problem(await c.post(f"{API}/executions/{run_id}/approve"), 409)
    assert (denied["status"], denied["reason"]) == ("denied", "denied")
    production = grace.registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "3.2.1"


async def test_the_service_expires_requests_and_releases_windows_by_itself(
    build_api: BuildApi, clock: FakeClock
) -> None:
    grace, app = build_api(guardrail_sweep_seconds=0.02, approval_ttl_minutes=3)
    for model in ("a", "b"):
        register(grace.registry, model, "1", production=True)
        register(grace.registry, model, "2", production=True)
        grace.registry.configure_model(model, auto_remediate=True)
    await grace.policies.update("a", {"require_approval": True})
    await grace.windows.create("b", clock.now(), clock.now() + timedelta(minutes=5), "deploy")
    async with app.router.lifespan_context(app), client_for(app) as c:
        for model in ("a", "b"):
            ok(await c.post(f"{API}/models/{model}/performance", json=degraded_body("2")), 201)
        waiting = grace.engine.list_executions("a")[0]
        assert waiting.status is ExecutionStatus.WAITING_APPROVAL
        # past the request's time to live and the window's end, the degraded snapshot still
        # inside the model's 10-minute window
        clock.advance(minutes=6)
        for _ in range(200):
            if grace.engine.get_execution(waiting.id).status is ExecutionStatus.DENIED:
                b_production = grace.registry.get_production_version("b")
                if b_production is not None and b_production.version == "1":
                    break
            await asyncio.sleep(0.02)
    assert grace.engine.get_execution(waiting.id).reason == "approval_expired"
    b_production = grace.registry.get_production_version("b")
    assert b_production is not None
    assert b_production.version == "1"  # the window's end acted on what it held


async def test_incident_statistics_over_http(build_api: BuildApi, clock: FakeClock) -> None:
    grace, app = build_api()
    made = await grace.incidents.create_incident("test", "ml_model", MODEL, "high", "broke")
    clock.advance(minutes=3)
    await grace.incidents.acknowledge(made.id, actor="alice")
    async with client_for(app) as c:
        stats = ok(await c.get(f"{API}/incidents/stats", params={"hours": 1}))
        one = ok(await c.get(f"{API}/incidents/{made.id}"))
        problem(await c.get(f"{API}/incidents/stats", params={"hours": 0}), 422)
        problem(await c.get(f"{API}/incidents/stats", params={"hours": 10_000}), 422)
    assert stats["fleet"]["count"] == 1
    assert stats["fleet"]["mtta_seconds"] == 180.0
    assert stats["models"][MODEL]["acknowledged"] == 1
    assert one["acknowledgement_seconds"] == 180.0
    assert one["recurrence_of"] is None


async def test_a_drill_over_http(build_api: BuildApi) -> None:
    grace, app = build_api()
    register(grace.registry, MODEL, "1", production=True)
    async with client_for(app) as c:
        quiet = ok(await c.post(f"{API}/drills"))
        loud = ok(await c.post(f"{API}/drills", json={"open_incidents": True}))
        problem(await c.post(f"{API}/drills", json={"open_incidents": "yes"}), 422)
    assert quiet["models"] == 1
    assert quiet["findings"][MODEL]["kind"] == "no_stable_version"
    assert quiet["incidents"] == []
    assert len(loud["incidents"]) == 1


async def test_a_users_playbook_is_listed_chosen_and_run_over_http(build_api: BuildApi) -> None:
    grace, app = build_api()

    async def warm_cache(run: PlaybookRun) -> Mapping[str, Any]:
        return {"warmed": run.resource_id}

    grace.engine.register_playbook(
        Playbook(
            "warm_cache",
            "ml_model",
            [PlaybookStep("warm_cache", warm_cache, timeout=5, retries=1)],
            description="Warm the feature cache",
        )
    )
    register(grace.registry, MODEL, "1", production=True)
    register(grace.registry, MODEL, "2", production=True)
    grace.registry.configure_model(MODEL, auto_remediate=True)
    url = f"{API}/models/{MODEL}/remediation"
    async with client_for(app) as c:
        listed = ok(await c.get(f"{API}/playbooks"))
        unknown = problem(await c.patch(url, json={"playbook": "nope"}), 422)
        chosen = ok(await c.patch(url, json={"playbook": "warm_cache"}))
        recorded = ok(
            await c.post(f"{API}/models/{MODEL}/performance", json=degraded_body("2")), 201
        )
        run_id = recorded["check"]["remediation"]["execution_id"]
        run = ok(await c.get(f"{API}/executions/{run_id}"))
    (warm,) = [p for p in listed if p["name"] == "warm_cache"]
    assert warm["step_details"] == [
        {
            "name": "warm_cache",
            "description": "",
            "timeout_seconds": 5,
            "retries": 1,
            "retry_delay_seconds": 1.0,
        }
    ]
    (rollback,) = [p for p in listed if p["name"] == "model_rollback"]
    assert rollback["step_details"][0]["timeout_seconds"] == grace.engine.step_timeout
    assert unknown["field"] == "playbook"
    assert "not a registered playbook" in unknown["detail"]
    assert chosen["playbook"] == "warm_cache"
    assert (run["playbook"], run["status"]) == ("warm_cache", "succeeded")
    assert run["steps"][0]["detail"] == {"warmed": MODEL}
    assert run["steps"][0]["attempts"] == 1
