"""The REST surface beyond the guide: models, stages, settings, history, incidents, playbook runs,
the event log (paged and live) and the service's own health endpoints."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from grace.adapters.sqlstore import migrate
from grace.adapters.sqlstore.engine import make_engine
from grace.clock import FakeClock
from tests.api.conftest import BuildApi
from tests.api.support import (
    API,
    GATES_PASSED,
    MODEL,
    client_for,
    degraded_body,
    ok,
    problem,
    record,
    register_version,
    serving,
    snapshot_body,
)

# -- models ------------------------------------------------------------------------------------


async def test_registering_a_version_stores_every_field_it_was_given(
    client: httpx.AsyncClient,
) -> None:
    """POST /models answers 201 with the stored version, in development unless told otherwise."""
    body = {
        "model_id": MODEL,
        "version": "3.2.1",
        "name": "Fraud Detector V3",
        "description": "gradient boosted trees",
        "owner": "risk-team",
        "tags": ["fraud", "payments"],
        "artifact_uri": "s3://models/fraud/3.2.1",
        "calibration_error": 0.04,
        "metadata": {"framework": "xgboost"},
        **GATES_PASSED,
    }

    entry = ok(await client.post(f"{API}/models", json=body), 201)

    for key, value in body.items():
        assert entry[key] == value, key
    assert entry["status"] == "development"
    assert entry["registered_at"] == "2025-11-13T15:30:00Z"
    assert entry["deployed_at"] is None
    assert 0.0 <= entry["trust_score"] <= 1.0


async def test_get_model_returns_its_latest_registered_version(client: httpx.AsyncClient) -> None:
    """GET /models/{id} is the newest version; /versions/{v} reads any one of them."""
    await register_version(client, MODEL, "3.1.5")
    await register_version(client, MODEL, "3.2.1")

    latest = ok(await client.get(f"{API}/models/{MODEL}"))
    older = ok(await client.get(f"{API}/models/{MODEL}/versions/3.1.5"))

    assert latest["version"] == "3.2.1"
    assert older["version"] == "3.1.5"


async def test_the_production_version_is_named_or_404(client: httpx.AsyncClient) -> None:
    """/production answers the version serving now, and 404 when nothing is in production."""
    await register_version(client, MODEL, "3.1.5", production=True)
    await register_version(client, MODEL, "3.2.1")
    await register_version(client, "idle_model", "1")

    serving_now = ok(await client.get(f"{API}/models/{MODEL}/production"))
    idle = problem(await client.get(f"{API}/models/idle_model/production"), 404)

    assert (serving_now["version"], serving_now["status"]) == ("3.1.5", "production")
    assert idle["type"] == "urn:grace:problem:no-production-version"
    problem(await client.get(f"{API}/models/nobody/production"), 404)


async def test_updating_metadata_changes_only_the_fields_sent(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """PATCH keeps every field it was not sent, and the change is on the model's timeline."""
    await register_version(client, MODEL, "3.2.1", owner="risk-team", tags=["fraud"])
    clock.advance(minutes=1)

    entry = ok(
        await client.patch(
            f"{API}/models/{MODEL}/versions/3.2.1",
            json={"description": "retrained", "tags": ["fraud", "v3"]},
        )
    )

    assert (entry["description"], entry["tags"], entry["owner"]) == (
        "retrained",
        ["fraud", "v3"],
        "risk-team",
    )
    assert entry["updated_at"] == "2025-11-13T15:31:00Z"
    assert entry["status"] == "development"
    timeline = ok(await client.get(f"{API}/models/{MODEL}/timeline"))
    assert timeline["items"][0]["event_type"] == "model.updated"
    assert timeline["items"][0]["data"]["changed"] == ["description", "tags"]


async def test_updating_a_version_that_does_not_exist_is_404(client: httpx.AsyncClient) -> None:
    """PATCH on an unknown version is a 404 naming the version field."""
    await register_version(client, MODEL, "3.2.1")

    body = problem(
        await client.patch(f"{API}/models/{MODEL}/versions/9.9.9", json={"owner": "x"}), 404
    )

    assert body["field"] == "version"


async def test_listing_filters_by_stage_tag_and_owner(client: httpx.AsyncClient) -> None:
    """stage, tag and owner each narrow the listing to the versions that match."""
    await register_version(client, "a_model", "1", production=True, owner="ann", tags=["x"])
    await register_version(client, "a_model", "2", owner="bob", tags=["x", "y"])
    await register_version(client, "b_model", "1", stage="staging", owner="ann", tags=["y"])

    def pairs(page: dict[str, Any]) -> list[tuple[str, str]]:
        return [(e["model_id"], e["version"]) for e in page["items"]]

    by_stage = ok(await client.get(f"{API}/models", params={"stage": "production"}))
    by_tag = ok(await client.get(f"{API}/models", params={"tag": "y"}))
    by_owner = ok(await client.get(f"{API}/models", params={"owner": "ann"}))
    by_model = ok(await client.get(f"{API}/models", params={"model_id": "a_model"}))
    combined = ok(await client.get(f"{API}/models", params={"owner": "ann", "tag": "y"}))

    assert pairs(by_stage) == [("a_model", "1")]
    assert pairs(by_tag) == [("a_model", "2"), ("b_model", "1")]
    assert pairs(by_owner) == [("a_model", "1"), ("b_model", "1")]
    assert pairs(by_model) == [("a_model", "1"), ("a_model", "2")]
    assert pairs(combined) == [("b_model", "1")]


async def test_walking_every_page_sees_each_version_once_in_order(
    client: httpx.AsyncClient,
) -> None:
    """Keyset pages (limit 4) cover every version exactly once, by model id then registration."""
    registered: list[tuple[str, str]] = []
    for model_id, versions in (("m_c", 7), ("m_a", 9), ("m_b", 1), ("m_d", 6)):
        for n in range(versions):
            await register_version(client, model_id, f"{n}.0")
            registered.append((model_id, f"{n}.0"))

    seen: list[tuple[str, str]] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = ok(await client.get(f"{API}/models", params=params))
        pages += 1
        assert len(page["items"]) <= 4
        seen.extend((e["model_id"], e["version"]) for e in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 20, "the cursor never ended"

    assert len(seen) == len(set(seen)) == 23
    assert seen == sorted(registered, key=lambda p: (p[0], int(p[1].split(".")[0])))
    assert pages == 6


async def test_a_page_filled_exactly_has_no_next_cursor(client: httpx.AsyncClient) -> None:
    """When the last page is full, next_cursor is null rather than pointing at an empty page."""
    for n in range(4):
        await register_version(client, MODEL, f"{n}.0")

    page = ok(await client.get(f"{API}/models", params={"limit": 4}))

    assert len(page["items"]) == 4
    assert page["next_cursor"] is None


@pytest.mark.parametrize("limit", [0, -1, 1001, 10**6])
async def test_page_size_is_bounded(client: httpx.AsyncClient, limit: int) -> None:
    """limit must be from 1 to 1000: anything else is a 422 naming limit."""
    body = problem(await client.get(f"{API}/models", params={"limit": limit}), 422)
    assert body["field"] == "limit"


async def test_a_cursor_the_service_did_not_hand_out_is_refused(client: httpx.AsyncClient) -> None:
    """A forged or damaged cursor is a 422 naming cursor."""
    for cursor in ("not-base64!", "e30=", "WzEsMl0="):
        body = problem(await client.get(f"{API}/models", params={"cursor": cursor}), 422)
        assert body["field"] == "cursor"


# -- stages and governance ------------------------------------------------------------------------


async def test_a_version_moves_through_the_stages_to_production(
    client: httpx.AsyncClient,
) -> None:
    """development -> staging -> canary -> production, each answered with the moved version."""
    await register_version(client, MODEL, "3.2.1")
    url = f"{API}/models/{MODEL}/versions/3.2.1/stage"

    for stage in ("staging", "canary", "production"):
        entry = ok(await client.post(url, json={"stage": stage, "reason": f"to {stage}"}))
        assert entry["status"] == stage

    assert entry["deployed_at"] == "2025-11-13T15:30:00Z"


async def test_a_stage_change_without_a_version_moves_the_latest_one(
    client: httpx.AsyncClient,
) -> None:
    """POST /models/{id}/stage acts on the newest registered version, as the guide's call does."""
    await register_version(client, MODEL, "3.1.5")
    await register_version(client, MODEL, "3.2.1")

    entry = ok(await client.post(f"{API}/models/{MODEL}/stage", json={"stage": "production"}))

    assert (entry["version"], entry["status"]) == ("3.2.1", "production")
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.1.5"))["status"] == "development"


async def test_promoting_a_version_archives_the_one_it_replaces(client: httpx.AsyncClient) -> None:
    """Only one version is in production: the previous one moves to archived."""
    await register_version(client, MODEL, "3.1.5", production=True)
    await register_version(client, MODEL, "3.2.1", production=True)

    production = ok(await client.get(f"{API}/models", params={"stage": "production"}))

    assert [e["version"] for e in production["items"]] == ["3.2.1"]
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.1.5"))["status"] == "archived"


@pytest.mark.parametrize(
    ("start", "target"),
    [("development", "rollback"), ("production", "development"), ("staging", "staging")],
)
async def test_a_transition_the_lifecycle_forbids_is_a_conflict(
    client: httpx.AsyncClient, start: str, target: str
) -> None:
    """Moves outside the lifecycle table are 409 invalid-transition, and the stage is kept."""
    await register_version(client, MODEL, "3.2.1", stage=start)

    body = problem(
        await client.post(f"{API}/models/{MODEL}/versions/3.2.1/stage", json={"stage": target}),
        409,
    )

    assert body["type"] == "urn:grace:problem:invalid-transition"
    assert ok(await client.get(f"{API}/models/{MODEL}/versions/3.2.1"))["status"] == start


async def test_governance_refusal_lists_every_failed_gate(client: httpx.AsyncClient) -> None:
    """Promoting a version failing all four gates is a 409 whose failed_gates names each one."""
    ok(
        await client.post(
            f"{API}/models",
            json={"model_id": MODEL, "version": "3.2.1", "calibration_error": 0.2},
        ),
        201,
    )

    body = problem(
        await client.post(
            f"{API}/models/{MODEL}/versions/3.2.1/stage", json={"stage": "production"}
        ),
        409,
    )

    assert body["type"] == "urn:grace:problem:governance-refused"
    gates = body["failed_gates"]
    assert len(gates) == 4
    for words in ("constitutional compliance", "bias check", "latency SLO", "calibration error"):
        assert any(words in gate for gate in gates), words
    assert ok(await client.get(f"{API}/models/{MODEL}"))["status"] == "development"


async def test_registering_straight_into_production_passes_the_gates_too(
    client: httpx.AsyncClient,
) -> None:
    """stage=production at registration is refused like a promotion when gates fail."""
    body = problem(
        await client.post(
            f"{API}/models", json={"model_id": MODEL, "version": "1", "stage": "production"}
        ),
        409,
    )
    assert len(body["failed_gates"]) == 3


async def test_overriding_governance_needs_a_reason_and_is_recorded(
    client: httpx.AsyncClient,
) -> None:
    """override_governance without a reason is 422; with one it promotes and the history says so."""
    ok(await client.post(f"{API}/models", json={"model_id": MODEL, "version": "3.2.1"}), 201)
    url = f"{API}/models/{MODEL}/versions/3.2.1/stage"

    refused = problem(
        await client.post(url, json={"stage": "production", "override_governance": True}), 422
    )
    entry = ok(
        await client.post(
            url,
            json={"stage": "production", "override_governance": True, "reason": "hotfix"},
        )
    )

    assert refused["field"] == "reason"
    assert entry["status"] == "production"
    last = ok(await client.get(f"{API}/models/{MODEL}/history"))[-1]
    assert last["cause"] == "governance_override"
    assert last["reason"].startswith("hotfix [overrode: ")
    assert last["actor"] == "anonymous"


async def test_history_lists_every_stage_change_oldest_first(client: httpx.AsyncClient) -> None:
    """Registration, promotions and replacement appear in order with from/to stage and cause."""
    await register_version(client, MODEL, "3.1.5", production=True)
    await register_version(client, MODEL, "3.2.1", production=True)

    history = ok(await client.get(f"{API}/models/{MODEL}/history"))

    assert [(c["version"], c["from_stage"], c["to_stage"], c["cause"]) for c in history] == [
        ("3.1.5", None, "development", "registration"),
        ("3.1.5", "development", "production", "manual"),
        ("3.2.1", None, "development", "registration"),
        ("3.1.5", "production", "archived", "replaced"),
        ("3.2.1", "development", "production", "manual"),
    ]
    assert [c["id"] for c in history] == sorted(c["id"] for c in history)


async def test_history_of_an_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    """History is only kept for registered models."""
    problem(await client.get(f"{API}/models/nobody/history"), 404)


async def test_timeline_lists_the_models_events_newest_first(client: httpx.AsyncClient) -> None:
    """/timeline pages the model's own events from the newest back."""
    await register_version(client, MODEL, "3.2.1", production=True)
    await register_version(client, "other_model", "1")

    timeline = ok(await client.get(f"{API}/models/{MODEL}/timeline"))

    seqs = [e["seq"] for e in timeline["items"]]
    assert seqs == sorted(seqs, reverse=True)
    assert {e["resource_id"] for e in timeline["items"]} == {MODEL}
    assert [e["event_type"] for e in timeline["items"]] == [
        "model.stage_changed",
        "model.registered",
    ]


# -- per-model settings ---------------------------------------------------------------------------


async def test_settings_start_at_the_service_defaults(client: httpx.AsyncClient) -> None:
    """A new model is judged by the guide's thresholds over 10 minutes, without remediation."""
    await register_version(client, MODEL, "3.2.1")

    settings = ok(await client.get(f"{API}/models/{MODEL}/settings"))

    assert settings == {
        "model_id": MODEL,
        "auto_remediate": False,
        "window_minutes": 10,
        "thresholds": {
            "error_rate_warning": 0.05,
            "error_rate_critical": 0.1,
            "latency_factor": 1.5,
            "ood_rate": 0.2,
            "input_drift": 0.3,
            "min_snapshots": 1,
        },
        "overrides": {},
    }


async def test_settings_changes_apply_to_the_triggers_and_reset_restores_defaults(
    client: httpx.AsyncClient,
) -> None:
    """A lower error threshold makes a 3% error rate fire; resetting it stops it firing."""
    await register_version(client, MODEL, "3.2.1", production=True)
    await record(client, MODEL, snapshot_body("3.2.1", error_rate=0.03))
    url = f"{API}/models/{MODEL}/settings"

    changed = ok(
        await client.patch(
            url,
            json={
                "auto_remediate": True,
                "window_minutes": 30,
                "thresholds": {"error_rate_warning": 0.02},
            },
        )
    )
    fired = ok(await client.get(f"{API}/models/{MODEL}/rollback-check"))
    reset = ok(await client.patch(url, json={"reset": ["error_rate_warning", "window_minutes"]}))
    quiet = ok(await client.get(f"{API}/models/{MODEL}/rollback-check"))

    assert changed["auto_remediate"] is True
    assert changed["window_minutes"] == 30
    assert changed["thresholds"]["error_rate_warning"] == 0.02
    assert changed["overrides"] == {"error_rate_warning": 0.02, "window_minutes": 30}
    assert fired["reasons"] == ["High error rate: 3.00%"]
    assert reset["overrides"] == {}
    assert (reset["window_minutes"], reset["auto_remediate"]) == (10, True)
    assert quiet["should_rollback"] is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"thresholds": {"error_rate_warning": 0.5, "error_rate_critical": 0.2}}, "error_rate"),
        ({"thresholds": {"no_such_threshold": 1.0}}, "no_such_threshold"),
        ({"window_minutes": 0}, "window_minutes"),
        ({"reset": ["colour"]}, "reset"),
    ],
)
async def test_invalid_settings_are_refused_and_nothing_changes(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    """Bad settings are a 422 naming the field, and the stored settings stay as they were."""
    await register_version(client, MODEL, "3.2.1")
    url = f"{API}/models/{MODEL}/settings"

    body = problem(await client.patch(url, json=change), 422)

    assert body["field"].startswith(field)
    assert ok(await client.get(url))["overrides"] == {}


# -- incidents -----------------------------------------------------------------------------------


async def open_incident(client: httpx.AsyncClient, model_id: str, **values: Any) -> int:
    """Put ``model_id`` in production and degrade it: the snapshot opens an incident."""
    await register_version(client, model_id, "1.0", production=True)
    result = await record(client, model_id, degraded_body("1.0", **values))
    incident_id: int = result["check"]["incident_id"]
    return incident_id


async def test_an_incident_is_acknowledged_annotated_and_resolved(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Each step changes the status, names the actor and adds to the timeline, oldest first."""
    incident_id = await open_incident(client, MODEL)
    url = f"{API}/incidents/{incident_id}"

    opened = ok(await client.get(url))
    clock.advance(minutes=2)
    acked = ok(await client.post(f"{url}/acknowledge", json={"note": "looking"}))
    note = ok(
        await client.post(f"{url}/notes", json={"message": "bad deploy", "data": {"pr": 42}}), 201
    )
    clock.advance(minutes=3)
    resolved = ok(await client.post(f"{url}/resolve"))

    assert opened["status"] == "open"
    assert [t["kind"] for t in opened["timeline"]] == ["opened", "paged"]
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", "anonymous")
    assert acked["acknowledged_at"] == "2025-11-13T15:32:00Z"
    assert (note["kind"], note["message"], note["data"]) == ("note", "bad deploy", {"pr": 42})
    assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "anonymous")
    assert resolved["resolution_seconds"] == 300.0
    kinds = [t["kind"] for t in resolved["timeline"]]
    assert kinds == ["opened", "paged", "acknowledged", "note", "resolved"]
    assert resolved["timeline"][2]["message"] == "looking"


async def test_acting_on_a_resolved_incident_is_a_conflict(client: httpx.AsyncClient) -> None:
    """A resolved incident cannot be acknowledged or resolved again: 409."""
    incident_id = await open_incident(client, MODEL)
    ok(await client.post(f"{API}/incidents/{incident_id}/resolve"))

    for action in ("acknowledge", "resolve"):
        problem(await client.post(f"{API}/incidents/{incident_id}/{action}"), 409)


async def test_an_unknown_incident_is_404_for_every_action(client: httpx.AsyncClient) -> None:
    """Reading or acting on an incident that does not exist is a 404 problem."""
    problem(await client.get(f"{API}/incidents/999"), 404)
    problem(await client.post(f"{API}/incidents/999/acknowledge"), 404)
    problem(await client.post(f"{API}/incidents/999/resolve"), 404)
    problem(await client.post(f"{API}/incidents/999/notes", json={"message": "x"}), 404)


async def test_incidents_filter_by_status_severity_and_model(client: httpx.AsyncClient) -> None:
    """status, severity and model_id each select the matching incidents, newest first."""
    high = await open_incident(client, "model_high", error_rate=0.15, ood_rate=0.0)
    medium = await open_incident(
        client, "model_medium", error_rate=0.0, ood_rate=0.22, input_drift_score=0.0
    )
    ok(await client.post(f"{API}/incidents/{high}/resolve"))

    async def listed(**params: str) -> list[int]:
        page = ok(await client.get(f"{API}/incidents", params=params))
        return [i["id"] for i in page["items"]]

    assert await listed() == [medium, high]
    assert await listed(severity="high") == [high]
    assert await listed(severity="medium") == [medium]
    assert await listed(status="resolved") == [high]
    assert await listed(status="open") == [medium]
    assert await listed(model_id="model_medium") == [medium]
    assert await listed(model_id="model_medium", status="resolved") == []
    problem(await client.get(f"{API}/incidents", params={"severity": "apocalyptic"}), 422)


async def test_incident_pages_walk_back_without_gaps(client: httpx.AsyncClient) -> None:
    """Following next_before one incident at a time visits each once, newest first."""
    opened = [await open_incident(client, f"model_{n}") for n in range(3)]

    seen: list[int] = []
    before: int | None = None
    for _ in range(5):
        params = {"limit": 1, **({"before": before} if before else {})}
        page = ok(await client.get(f"{API}/incidents", params=params))
        seen.extend(i["id"] for i in page["items"])
        before = page["next_before"]
        if before is None:
            break

    assert seen == sorted(opened, reverse=True)


# -- self-healing ----------------------------------------------------------------------------------


async def test_playbooks_list_the_guides_model_rollback_steps(client: httpx.AsyncClient) -> None:
    """model_rollback is listed with the guide's five actions in order."""
    playbooks = ok(await client.get(f"{API}/playbooks"))

    (rollback,) = [p for p in playbooks if p["name"] == "model_rollback"]
    assert rollback["resource_type"] == "ml_model"
    assert len(rollback["steps"]) == 5
    assert rollback["steps"][0] == "find_previous_stable_version"


async def test_playbook_runs_are_listed_and_read_with_their_steps(
    client: httpx.AsyncClient,
) -> None:
    """An automatic rollback leaves a run whose steps all succeeded, filterable by model."""
    await register_version(client, MODEL, "3.1.5", production=True)
    await register_version(client, MODEL, "3.2.1", production=True)
    ok(await client.patch(f"{API}/models/{MODEL}/settings", json={"auto_remediate": True}))
    await record(client, MODEL, degraded_body("3.2.1"))

    runs = ok(await client.get(f"{API}/executions", params={"model_id": MODEL}))
    by_playbook = ok(await client.get(f"{API}/executions", params={"playbook": "model_rollback"}))
    other = ok(await client.get(f"{API}/executions", params={"model_id": "other_model"}))
    (run,) = runs["items"]
    detail = ok(await client.get(f"{API}/executions/{run['id']}"))

    assert by_playbook["items"] == runs["items"]
    assert other["items"] == []
    assert (detail["playbook"], detail["resource_id"], detail["status"]) == (
        "model_rollback",
        MODEL,
        "succeeded",
    )
    assert len(detail["steps"]) == 5
    assert {s["status"] for s in detail["steps"]} == {"succeeded"}
    assert detail["result"]["to_version"] == "3.1.5"


async def test_an_unknown_playbook_run_is_404(client: httpx.AsyncClient) -> None:
    """Reading a run that does not exist is a 404 problem."""
    problem(await client.get(f"{API}/executions/12345"), 404)


# -- events ----------------------------------------------------------------------------------------


async def test_event_history_pages_cover_the_log_without_gaps_or_repeats(
    client: httpx.AsyncClient,
) -> None:
    """Following next_after three events at a time yields the whole log in order, each once."""
    for n in range(4):
        await register_version(client, f"model_{n}", "1", production=True)
    everything = ok(await client.get(f"{API}/events", params={"limit": 1000}))["items"]

    seen: list[int] = []
    after = 0
    for _ in range(50):
        page = ok(await client.get(f"{API}/events", params={"limit": 3, "after_seq": after}))
        if not page["items"]:
            break
        assert len(page["items"]) <= 3
        seen.extend(e["seq"] for e in page["items"])
        after = page["next_after"]

    assert len(everything) == 8  # registered + stage_changed, per model
    assert seen == [e["seq"] for e in everything]
    assert seen == sorted(set(seen))


async def test_event_history_filters_by_model_and_type(client: httpx.AsyncClient) -> None:
    """model_id and repeated event_type narrow the log."""
    await register_version(client, "model_a", "1", production=True)
    await register_version(client, "model_b", "1")

    by_model = ok(await client.get(f"{API}/events", params={"model_id": "model_b"}))
    by_types = ok(
        await client.get(
            f"{API}/events?event_type=model.registered&event_type=model.stage_changed"
            "&model_id=model_a"
        )
    )

    assert [e["event_type"] for e in by_model["items"]] == ["model.registered"]
    assert [e["event_type"] for e in by_types["items"]] == [
        "model.registered",
        "model.stage_changed",
    ]


def read_frame(lines: Iterator[str], deadline: float) -> dict[str, str]:
    """The next Server-Sent Events frame (comments skipped), as its fields."""
    frame: dict[str, str] = {}
    for line in lines:
        assert time.monotonic() < deadline, "no event arrived in time"
        if line.startswith(":"):
            continue
        if not line:
            if frame:
                return frame
            continue
        name, _, value = line.partition(":")
        frame[name] = value.removeprefix(" ")
    raise AssertionError("the stream ended before a frame arrived")


def test_event_stream_delivers_events_written_after_connecting(app: FastAPI) -> None:
    """A live SSE client gets `: connected`, then each event a later request writes, in order."""
    with serving(app) as base, httpx.Client(base_url=base, timeout=5) as http:
        ok(http.post(f"{API}/models", json={"model_id": "before_connect", "version": "1"}), 201)
        with http.stream("GET", f"{API}/events/stream") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert next(lines) == ": connected"
            with httpx.Client(base_url=base, timeout=5) as writer:
                ok(writer.post(f"{API}/models", json={"model_id": MODEL, "version": "1"}), 201)
            deadline = time.monotonic() + 10
            frame = read_frame(lines, deadline)

    assert frame["event"] == "model.registered"
    event = json.loads(frame["data"])
    assert (event["resource_id"], event["data"]["version"]) == (MODEL, "1")
    assert frame["id"] == str(event["seq"])


def test_event_stream_only_sends_the_model_asked_for(app: FastAPI) -> None:
    """?model_id= filters the live stream: another model's events are not sent."""
    with serving(app) as base, httpx.Client(base_url=base, timeout=5) as http:
        params = {"model_id": MODEL, "event_type": "model.registered"}
        with http.stream("GET", f"{API}/events/stream", params=params) as stream:
            lines = stream.iter_lines()
            assert next(lines) == ": connected"
            for model_id in ("other_model", MODEL):
                ok(http.post(f"{API}/models", json={"model_id": model_id, "version": "1"}), 201)
            frame = read_frame(lines, time.monotonic() + 10)

    assert json.loads(frame["data"])["resource_id"] == MODEL


def test_event_stream_resumes_after_last_event_id(app: FastAPI) -> None:
    """Reconnecting with Last-Event-ID replays the events after it, then keeps streaming."""
    with serving(app) as base, httpx.Client(base_url=base, timeout=5) as http:
        for model_id in ("model_a", "model_b", "model_c"):
            ok(http.post(f"{API}/models", json={"model_id": model_id, "version": "1"}), 201)
        first = ok(http.get(f"{API}/events", params={"limit": 1}))["items"][0]
        headers = {"Last-Event-ID": str(first["seq"])}
        with http.stream("GET", f"{API}/events/stream", headers=headers) as stream:
            lines = stream.iter_lines()
            deadline = time.monotonic() + 10
            replayed = [read_frame(lines, deadline) for _ in range(2)]

    assert [json.loads(f["data"])["resource_id"] for f in replayed] == ["model_b", "model_c"]


# -- the service ----------------------------------------------------------------------------------


async def test_healthz_answers_while_the_process_is_up(client: httpx.AsyncClient) -> None:
    """/healthz needs no token and says ok."""
    assert ok(await client.get("/healthz"))["status"] == "ok"


async def test_readyz_reports_the_schema_revision_when_ready(client: httpx.AsyncClient) -> None:
    """/readyz is 200 with the head revision when the database answers and is migrated."""
    body = ok(await client.get("/readyz"))
    assert body == {"status": "ok", "detail": None, "schema_revision": migrate.head_revision()}


@pytest.mark.parametrize("revision", ["9999_from_the_future", "0001"])
async def test_readyz_is_503_when_the_schema_is_not_current(
    client: httpx.AsyncClient, sqlite_url: str, revision: str
) -> None:
    """A database stamped ahead of or behind this code is not ready: 503 saying why."""
    engine = make_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()

    response = await client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert revision in body["detail"]


def replace_with_directory(path: Path) -> None:
    """Remove the SQLite file (and its WAL) and put a directory where it was."""
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.mkdir()


async def test_readyz_is_503_when_the_database_is_unreachable(
    build_api: BuildApi, sqlite_url: str
) -> None:
    """With the database file gone (a directory in its place), /readyz is 503, not 500."""
    grace, app = build_api()
    grace.store.close()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    replace_with_directory(path)
    try:
        async with client_for(app) as client:
            response = await client.get("/readyz")
    finally:
        shutil.rmtree(path)

    assert response.status_code == 503
    assert response.json()["detail"].startswith("the database is unavailable")


async def test_docs_and_openapi_are_served(client: httpx.AsyncClient) -> None:
    """/docs is the interactive page and /openapi.json describes the API."""
    docs = await client.get("/docs")
    spec = ok(await client.get("/openapi.json"))

    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert spec["info"]["title"] == "Grace model registry"
    assert f"{API}/monitor/production" in spec["paths"]
