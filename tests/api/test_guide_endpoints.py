"""The guide's five HTTP endpoints, called exactly as the guide writes them.

Each answer is compared with the guide's example response: every key the guide shows is there,
with the JSON type the guide shows, and where the test reproduces the guide's situation (its
numbers: error 0.085, OOD 0.22, drift 0.35) with the guide's values.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from grace.clock import FakeClock
from tests.api.support import (
    API,
    DRIFT_REASON,
    ERROR_REASON,
    GUIDE_SNAPSHOT,
    MODEL,
    OOD_REASON,
    degraded_body,
    ok,
    problem,
    record,
    register_version,
    snapshot_body,
)

# The guide's example responses, verbatim.
GUIDE_MONITOR: dict[str, Any] = {
    "total_models": 5,
    "healthy": 3,
    "degraded": 1,
    "failing": 1,
    "issues": [
        {
            "model_id": "fraud_detector_v3",
            "version": "3.2.1",
            "reasons": ["High error rate: 8.50%", "High OOD rate: 22.00%"],
        }
    ],
}
GUIDE_HEALTH: dict[str, Any] = {
    "model_id": "fraud_detector_v3",
    "version": "3.2.1",
    "status": "production",
    "deployed_at": "2025-11-13T10:30:00",
    "health_status": "critical",
    "metrics": {
        "avg_error_rate": 0.085,
        "avg_latency_p95_ms": 245.3,
        "avg_ood_rate": 0.22,
        "snapshot_count": 12,
    },
}
GUIDE_ROLLBACK_CHECK: dict[str, Any] = {
    "model_id": "fraud_detector_v3",
    "should_rollback": True,
    "reasons": ["High error rate: 8.50%", "Input distribution drift: 0.350"],
    "window_minutes": 10,
    "auto_remediate": True,
}
GUIDE_ROLLBACK: dict[str, Any] = {
    "status": "rolled_back",
    "model_id": "fraud_detector_v3",
    "reason": "manual_intervention",
    "target_version": "3.1.5",
}


def assert_guide_shape(actual: Any, guide: Any, where: str = "$") -> None:
    """``actual`` has every key of the guide's example, recursively, with the same JSON type."""
    if isinstance(guide, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in guide.items():
            assert key in actual, f"{where}: the guide's key {key!r} is missing"
            assert_guide_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(guide, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        for index, item in enumerate(actual):
            assert_guide_shape(item, guide[0], f"{where}[{index}]")
    elif isinstance(guide, bool):
        assert isinstance(actual, bool), f"{where}: expected true/false, got {actual!r}"
    elif isinstance(guide, float):
        assert isinstance(actual, int | float), f"{where}: expected a number, got {actual!r}"
        assert not isinstance(actual, bool)
    elif isinstance(guide, int):
        assert isinstance(actual, int), f"{where}: expected a whole number, got {actual!r}"
        assert not isinstance(actual, bool)
    else:
        assert isinstance(actual, type(guide)), f"{where}: expected {type(guide)}, got {actual!r}"


async def deploy_two_versions(client: httpx.AsyncClient) -> None:
    """fraud_detector_v3: 3.1.5 was in production, 3.2.1 replaced it (3.1.5 is now archived)."""
    await register_version(client, MODEL, "3.1.5", production=True)
    await register_version(client, MODEL, "3.2.1", production=True)


async def test_fleet_monitor_reproduces_the_guides_answer(client: httpx.AsyncClient) -> None:
    """Five production models (three healthy, one degraded, one failing) give the guide's answer."""
    await register_version(client, MODEL, "3.2.1", production=True)
    await record(client, MODEL, degraded_body("3.2.1", input_drift_score=0.1))
    await register_version(client, "churn_predictor", "2.0", production=True)
    await record(client, "churn_predictor", snapshot_body("2.0", ood_rate=0.22))
    for healthy in ("recommender", "ranker", "spam_filter"):
        await register_version(client, healthy, "1.0", production=True)
        await record(client, healthy, snapshot_body("1.0"))

    body = ok(await client.get(f"{API}/monitor/production?window_minutes=10"))

    assert_guide_shape(body, GUIDE_MONITOR)
    guide_view = {key: body[key] for key in GUIDE_MONITOR}
    guide_view["issues"] = [
        {key: issue[key] for key in ("model_id", "version", "reasons")} for issue in body["issues"]
    ]
    assert guide_view == GUIDE_MONITOR
    assert body["window_minutes"] == 10
    assert body["no_data"] == 0
    assert body["issues"][0]["severity"] == "high"


async def test_fleet_monitor_only_judges_snapshots_inside_the_window(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Snapshots older than window_minutes are not counted: the model has no data, not issues."""
    await register_version(client, MODEL, "3.2.1", production=True)
    await record(client, MODEL, dict(GUIDE_SNAPSHOT))
    clock.advance(minutes=11)

    narrow = ok(await client.get(f"{API}/monitor/production?window_minutes=10"))
    wide = ok(await client.get(f"{API}/monitor/production?window_minutes=60"))

    assert (narrow["total_models"], narrow["failing"], narrow["no_data"]) == (1, 0, 1)
    assert narrow["issues"] == []
    assert (wide["failing"], wide["issues"][0]["model_id"]) == (1, MODEL)


async def test_health_summary_reproduces_the_guides_answer(client: httpx.AsyncClient) -> None:
    """Twelve of the guide's snapshots give the guide's critical health summary and averages."""
    await deploy_two_versions(client)
    for _ in range(12):
        await record(client, MODEL, dict(GUIDE_SNAPSHOT))

    body = ok(await client.get(f"{API}/models/{MODEL}/health"))

    assert_guide_shape(body, GUIDE_HEALTH)
    assert body["model_id"] == MODEL
    assert body["version"] == "3.2.1"
    assert body["status"] == "production"
    assert body["health_status"] == "critical"
    assert body["deployed_at"] == "2025-11-13T15:30:00Z"
    metrics = body["metrics"]
    assert metrics["avg_error_rate"] == pytest.approx(0.085)
    assert metrics["avg_latency_p95_ms"] == pytest.approx(245.3)
    assert metrics["avg_ood_rate"] == pytest.approx(0.22)
    assert metrics["snapshot_count"] == 12
    assert body["reasons"] == [ERROR_REASON, OOD_REASON, DRIFT_REASON]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "healthy"),
        ({"ood_rate": 0.22}, "degraded"),
        ({"error_rate": 0.15}, "critical"),
    ],
)
async def test_health_status_follows_the_trigger_severity(
    client: httpx.AsyncClient, values: dict[str, Any], expected: str
) -> None:
    """No condition is healthy, one MEDIUM condition degraded, a HIGH one critical."""
    await register_version(client, MODEL, "3.2.1", production=True)
    await record(client, MODEL, snapshot_body("3.2.1", **values))

    body = ok(await client.get(f"{API}/models/{MODEL}/health"))

    assert body["health_status"] == expected


async def test_health_without_snapshots_is_unknown_not_healthy(client: httpx.AsyncClient) -> None:
    """A production model with no snapshot in the window reports unknown and a count of zero."""
    await register_version(client, MODEL, "3.2.1", production=True)

    body = ok(await client.get(f"{API}/models/{MODEL}/health"))

    assert body["health_status"] == "unknown"
    assert body["metrics"]["snapshot_count"] == 0
    assert body["metrics"]["avg_error_rate"] is None


async def test_health_of_an_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    """Asking for the health of a model nobody registered is a 404 naming model_id."""
    body = problem(await client.get(f"{API}/models/nobody/health"), 404)
    assert body["field"] == "model_id"


async def test_health_of_a_model_without_production_version_is_404(
    client: httpx.AsyncClient,
) -> None:
    """A model only in development has no production version to summarise."""
    await register_version(client, MODEL, "3.2.1")
    body = problem(await client.get(f"{API}/models/{MODEL}/health"), 404)
    assert body["type"] == "urn:grace:problem:no-production-version"


async def test_recording_the_guides_snapshot_checks_triggers_and_opens_an_incident(
    client: httpx.AsyncClient,
) -> None:
    """The guide's body is stored, judged, fires its three triggers and opens a HIGH incident."""
    await deploy_two_versions(client)

    result = await record(client, MODEL, dict(GUIDE_SNAPSHOT))

    assert isinstance(result["snapshot_id"], int)
    assert (result["model_id"], result["version"], result["judged"]) == (MODEL, "3.2.1", True)
    check = result["check"]
    assert check["should_rollback"] is True
    assert check["reasons"] == [ERROR_REASON, OOD_REASON, DRIFT_REASON]
    assert check["severity"] == "high"
    assert check["auto_remediate"] is False
    assert check["remediation"] is None
    incident = ok(await client.get(f"{API}/incidents/{check['incident_id']}"))
    assert incident["severity"] == "high"
    assert incident["title"] == "Model performance degradation detected: Fraud Detector V3"
    assert incident["context"]["reasons"] == check["reasons"]


async def test_recording_a_snapshot_emits_the_guides_monitoring_event(
    client: httpx.AsyncClient,
) -> None:
    """The snapshot appears in the event log as model.performance_snapshot with the guide's data."""
    await deploy_two_versions(client)
    await record(client, MODEL, dict(GUIDE_SNAPSHOT))

    page = ok(
        await client.get(f"{API}/events", params={"event_type": "model.performance_snapshot"})
    )

    (event,) = page["items"]
    assert (event["event_type"], event["source"], event["resource_id"]) == (
        "model.performance_snapshot",
        "model_registry",
        MODEL,
    )
    assert event["timestamp"] == "2025-11-13T15:30:00Z"
    data = event["data"]
    assert data["version"] == "3.2.1"
    for key in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "error_rate", "ood_rate"):
        assert data[key] == GUIDE_SNAPSHOT[key]
    assert data["requests_per_second"] == 250.0
    assert data["drift_score"] == 0.35


async def test_recording_triggers_self_healing_when_the_model_has_it_enabled(
    client: httpx.AsyncClient,
) -> None:
    """With auto_remediate on for the model, the guide's snapshot rolls 3.2.1 back to 3.1.5."""
    await deploy_two_versions(client)
    ok(await client.patch(f"{API}/models/{MODEL}/settings", json={"auto_remediate": True}))

    result = await record(client, MODEL, dict(GUIDE_SNAPSHOT))

    remediation = result["check"]["remediation"]
    assert remediation["playbook"] == "model_rollback"
    assert remediation["status"] == "succeeded"
    assert (remediation["from_version"], remediation["to_version"]) == ("3.2.1", "3.1.5")
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.2.1"))["status"] == "rollback"
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.1.5"))["status"] == "production"


async def test_snapshot_body_may_leave_out_model_id(client: httpx.AsyncClient) -> None:
    """model_id is optional in the body: the path names the model."""
    await register_version(client, MODEL, "3.2.1", production=True)
    body = {k: v for k, v in GUIDE_SNAPSHOT.items() if k != "model_id"}

    result = await record(client, MODEL, body)

    assert result["model_id"] == MODEL


async def test_snapshot_body_naming_another_model_is_refused(client: httpx.AsyncClient) -> None:
    """A body whose model_id differs from the path is a 422 naming model_id; nothing is stored."""
    await register_version(client, MODEL, "3.2.1", production=True)
    await register_version(client, "other_model", "3.2.1", production=True)

    response = await client.post(f"{API}/models/other_model/performance", json=GUIDE_SNAPSHOT)

    assert problem(response, 422)["field"] == "model_id"
    health = ok(await client.get(f"{API}/models/other_model/health"))
    assert health["metrics"]["snapshot_count"] == 0


async def test_snapshot_of_a_version_not_in_production_is_stored_but_not_judged(
    client: httpx.AsyncClient,
) -> None:
    """A staging version's snapshot is kept, but only production versions are judged."""
    await register_version(client, MODEL, "3.2.1", stage="staging")

    result = await record(client, MODEL, dict(GUIDE_SNAPSHOT))

    assert result["judged"] is False
    assert result["check"] is None


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_rollback_check_dry_run_reports_the_guides_reasons_without_acting(
    client: httpx.AsyncClient, method: str
) -> None:
    """With auto_remediate=false the check answers with the guide's reasons and changes nothing."""
    await deploy_two_versions(client)
    await record(client, MODEL, degraded_body("3.2.1", ood_rate=0.05))
    incidents_before = ok(await client.get(f"{API}/incidents"))["items"]

    body = ok(
        await client.request(
            method, f"{API}/models/{MODEL}/rollback-check?window_minutes=10&auto_remediate=false"
        )
    )

    assert_guide_shape(body, GUIDE_ROLLBACK_CHECK)
    assert body["reasons"] == [ERROR_REASON, DRIFT_REASON]
    assert (body["should_rollback"], body["auto_remediate"], body["window_minutes"]) == (
        True,
        False,
        10,
    )
    assert body["remediation"] is None
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.2.1"))["status"] == "production"
    assert ok(await client.get(f"{API}/incidents"))["items"] == incidents_before
    assert ok(await client.get(f"{API}/executions"))["items"] == []


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_rollback_check_with_auto_remediate_follows_the_guides_five_steps(
    client: httpx.AsyncClient, method: str
) -> None:
    """auto_remediate=true: HIGH incident, model_rollback run, 3.2.1 in ROLLBACK, ops notified."""
    await deploy_two_versions(client)
    await record(client, MODEL, degraded_body("3.2.1", ood_rate=0.05))

    body = ok(
        await client.request(
            method, f"{API}/models/{MODEL}/rollback-check?window_minutes=10&auto_remediate=true"
        )
    )

    assert_guide_shape(body, GUIDE_ROLLBACK_CHECK)
    assert {key: body[key] for key in GUIDE_ROLLBACK_CHECK} == GUIDE_ROLLBACK_CHECK
    # 1. a HIGH severity incident
    incident = ok(await client.get(f"{API}/incidents/{body['incident_id']}"))
    assert incident["severity"] == "high"
    # 2. and 3. the model_rollback playbook, executed by the self-healing kernel
    remediation = body["remediation"]
    assert (remediation["playbook"], remediation["status"]) == ("model_rollback", "succeeded")
    run = ok(await client.get(f"{API}/executions/{remediation['execution_id']}"))
    assert run["playbook"] == "model_rollback"
    assert run["status"] == "succeeded"
    # 4. the model's status is ROLLBACK, and the previous stable version serves again
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.2.1"))["status"] == "rollback"
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.1.5"))["status"] == "production"
    # 5. the ops team is notified
    notices = ok(await client.get(f"{API}/events", params={"event_type": "ops.notified"}))
    assert [e["resource_id"] for e in notices["items"]] == [MODEL]


async def test_rollback_check_of_a_healthy_model_does_not_ask_for_rollback(
    client: httpx.AsyncClient,
) -> None:
    """Healthy numbers: should_rollback is false with no reasons, even with auto_remediate=true."""
    await deploy_two_versions(client)
    await record(client, MODEL, snapshot_body("3.2.1"))

    body = ok(
        await client.get(
            f"{API}/models/{MODEL}/rollback-check?window_minutes=10&auto_remediate=true"
        )
    )

    assert (body["should_rollback"], body["reasons"], body["remediation"]) == (False, [], None)
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.2.1"))["status"] == "production"


async def test_rollback_check_can_judge_a_named_version_but_only_remediate_production(
    client: httpx.AsyncClient,
) -> None:
    """?version= judges a candidate; acting on a version not in production is a 409."""
    await register_version(client, MODEL, "3.2.1", production=True)
    await register_version(client, MODEL, "3.3.0", stage="canary")
    await record(client, MODEL, degraded_body("3.3.0"))
    url = f"{API}/models/{MODEL}/rollback-check"

    judged = ok(await client.get(url, params={"version": "3.3.0"}))
    production = ok(await client.get(url))
    refused = await client.post(url, params={"version": "3.3.0", "auto_remediate": "true"})

    assert (judged["version"], judged["should_rollback"]) == ("3.3.0", True)
    assert judged["reasons"] == [ERROR_REASON, OOD_REASON, DRIFT_REASON]
    assert (production["version"], production["should_rollback"]) == ("3.2.1", False)
    problem(refused, 409)
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.3.0"))["status"] == "canary"


async def test_rollback_check_of_an_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    """Checking a model nobody registered is a 404 problem."""
    problem(await client.get(f"{API}/models/nobody/rollback-check?window_minutes=10"), 404)


async def test_manual_rollback_reproduces_the_guides_answer(client: httpx.AsyncClient) -> None:
    """The guide's manual rollback restores 3.1.5 and answers with the guide's four keys."""
    await deploy_two_versions(client)

    body = ok(
        await client.post(
            f"{API}/models/{MODEL}/rollback?reason=manual_intervention&target_version=3.1.5"
        )
    )

    assert_guide_shape(body, GUIDE_ROLLBACK)
    assert {key: body[key] for key in GUIDE_ROLLBACK} == GUIDE_ROLLBACK
    assert body["from_version"] == "3.2.1"
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.1.5"))["status"] == "production"
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.2.1"))["status"] == "rollback"
    history = ok(await client.get(f"{API}/models/{MODEL}/history"))
    assert {c["cause"] for c in history[-2:]} == {"manual_rollback"}


async def test_manual_rollback_without_target_restores_the_previous_stable_version(
    client: httpx.AsyncClient,
) -> None:
    """Leaving out target_version rolls back to the version production had before."""
    await deploy_two_versions(client)

    body = ok(await client.post(f"{API}/models/{MODEL}/rollback?reason=manual_intervention"))

    assert (body["target_version"], body["from_version"]) == ("3.1.5", "3.2.1")


async def test_manual_rollback_with_nothing_to_return_to_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    """A model whose only version is in production cannot roll back: 409, nothing changes."""
    await register_version(client, MODEL, "3.2.1", production=True)

    body = problem(
        await client.post(f"{API}/models/{MODEL}/rollback?reason=manual_intervention"), 409
    )

    assert body["type"] == "urn:grace:problem:no-stable-version"
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.2.1"))["status"] == "production"


async def test_manual_rollback_needs_a_reason(client: httpx.AsyncClient) -> None:
    """The reason query parameter is required: leaving it out is a 422 naming reason."""
    await deploy_two_versions(client)

    body = problem(await client.post(f"{API}/models/{MODEL}/rollback"), 422)

    assert body["field"] == "reason"
