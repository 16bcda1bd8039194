"""Every error is an RFC 9457 problem: 404, 405, 409, 413 and 422, and never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import BuildApi
from tests.api.support import (
    API,
    MODEL,
    client_for,
    ok,
    problem,
    register_version,
    snapshot_body,
)

BIG = 2**70  # a valid JSON and OpenAPI integer, beyond any database's 64-bit ids


@pytest.fixture
async def with_model(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The anonymous client, with fraud_detector_v3 3.2.1 in production."""
    await register_version(client, MODEL, "3.2.1", production=True)
    return client


# -- 404 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "slug", "field"),
    [
        ("GET", f"{API}/models/nobody", "model-not-found", "model_id"),
        ("GET", f"{API}/models/nobody/settings", "model-not-found", "model_id"),
        ("GET", f"{API}/models/{MODEL}/versions/9.9.9", "version-not-found", "version"),
        ("GET", f"{API}/incidents/4242", "incident-not-found", None),
        ("GET", f"{API}/executions/4242", "execution-not-found", None),
        ("DELETE", f"{API}/tokens/0123456789ab", "token-not-found", None),
    ],
)
async def test_unknown_things_are_404_problems_naming_what_is_missing(
    with_model: httpx.AsyncClient, method: str, url: str, slug: str, field: str | None
) -> None:
    """Each kind of missing thing has its own problem type, and names the field when it is one."""
    body = problem(await with_model.request(method, url), 404)
    assert body["type"] == f"urn:grace:problem:{slug}"
    assert body.get("field") == field


async def test_snapshot_for_unknown_model_or_version_is_404(with_model: httpx.AsyncClient) -> None:
    """Posting a snapshot for a model or version nobody registered is a 404, not a 422."""
    unknown_model = await with_model.post(
        f"{API}/models/nobody/performance", json=snapshot_body("1")
    )
    unknown_version = await with_model.post(
        f"{API}/models/{MODEL}/performance", json=snapshot_body("9.9.9")
    )

    assert problem(unknown_model, 404)["field"] == "model_id"
    assert problem(unknown_version, 404)["field"] == "version"


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    """Even a path the API does not have answers with problem+json."""
    body = problem(await client.get("/api/model-registry/no-such-thing"), 404)
    assert body["type"] == "urn:grace:problem:http-404"


# -- 405 ------------------------------------------------------------------------------------------


async def test_a_method_the_route_does_not_allow_is_a_405_problem(
    client: httpx.AsyncClient,
) -> None:
    """PUT on the models collection is a 405 problem."""
    body = problem(await client.put(f"{API}/models"), 405)
    assert body["type"] == "urn:grace:problem:http-405"


async def test_a_405_says_which_methods_are_allowed(client: httpx.AsyncClient) -> None:
    """The 405 answer lists the methods the route does allow in its Allow header."""
    response = await client.put(f"{API}/models")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


# -- 409 ------------------------------------------------------------------------------------------


async def test_registering_a_version_twice_is_a_409_problem(with_model: httpx.AsyncClient) -> None:
    """A second registration of the same version is refused with version-exists."""
    response = await with_model.post(f"{API}/models", json={"model_id": MODEL, "version": "3.2.1"})
    assert problem(response, 409)["type"] == "urn:grace:problem:version-exists"


async def test_an_invalid_transition_is_a_409_problem(with_model: httpx.AsyncClient) -> None:
    """Moving a production version back to development is refused with invalid-transition."""
    response = await with_model.post(
        f"{API}/models/{MODEL}/versions/3.2.1/stage", json={"stage": "development"}
    )
    body = problem(response, 409)
    assert body["type"] == "urn:grace:problem:invalid-transition"
    assert "production" in body["detail"]


async def test_a_governance_refusal_is_a_409_problem_with_failed_gates(
    client: httpx.AsyncClient,
) -> None:
    """A promotion blocked by governance is a 409 carrying failed_gates as a list of strings."""
    ok(await client.post(f"{API}/models", json={"model_id": MODEL, "version": "1"}), 201)
    response = await client.post(
        f"{API}/models/{MODEL}/versions/1/stage", json={"stage": "production"}
    )
    body = problem(response, 409)
    assert body["type"] == "urn:grace:problem:governance-refused"
    assert all(isinstance(g, str) and g for g in body["failed_gates"])
    assert len(body["failed_gates"]) == 3


# -- 422 ------------------------------------------------------------------------------------------


def snap(**values: Any) -> dict[str, Any]:
    return snapshot_body("3.2.1", **values)


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("POST", f"{API}/models/{MODEL}/performance", snap(error_rate=1.5), "error_rate"),
        ("POST", f"{API}/models/{MODEL}/performance", snap(ood_rate=-0.01), "ood_rate"),
        ("POST", f"{API}/models/{MODEL}/performance", snap(accuracy=7), "accuracy"),
        ("POST", f"{API}/models/{MODEL}/performance", snap(error_rate="high"), "error_rate"),
        (
            "POST",
            f"{API}/models/{MODEL}/performance",
            snap(latency_p99_ms=1e12),
            "latency_p99_ms",
        ),
        (
            "POST",
            f"{API}/models/{MODEL}/performance",
            without(snap(), "latency_p99_ms"),
            "latency_p99_ms",
        ),
        ("POST", f"{API}/models/{MODEL}/performance", snap(extra=1), "extra"),
        (
            "POST",
            f"{API}/models/{MODEL}/performance",
            snap(timestamp="2031-01-01T00:00:00Z"),
            "timestamp",
        ),
        ("POST", f"{API}/models/{MODEL}/performance", snap(timestamp="yesterday"), "timestamp"),
        ("POST", f"{API}/models", {"version": "1"}, "model_id"),
        ("POST", f"{API}/models", {"model_id": "a/b", "version": "1"}, "model_id"),
        ("POST", f"{API}/models", {"model_id": "m", "version": " 1"}, "version"),
        ("POST", f"{API}/models", {"model_id": "m", "version": "1", "stage": "rollback"}, "stage"),
        (
            "POST",
            f"{API}/models",
            {"model_id": "m", "version": "1", "calibration_error": 2},
            "calibration_error",
        ),
        (
            "POST",
            f"{API}/models",
            {"model_id": "m", "version": "1", "expected_latency_p95_ms": -5},
            "expected_latency_p95_ms",
        ),
        ("POST", f"{API}/models/{MODEL}/versions/3.2.1/stage", {"stage": "heaven"}, "stage"),
        ("PATCH", f"{API}/models/{MODEL}/versions/3.2.1", {}, "changes"),
        ("POST", f"{API}/models", [], "body"),
        ("GET", f"{API}/monitor/production?window_minutes=0", None, "window_minutes"),
        ("GET", f"{API}/monitor/production?window_minutes=10081", None, "window_minutes"),
        ("GET", f"{API}/models/{MODEL}/health?window_minutes=ten", None, "window_minutes"),
        (
            "GET",
            f"{API}/models/{MODEL}/rollback-check?auto_remediate=maybe",
            None,
            "auto_remediate",
        ),
        ("GET", f"{API}/incidents?status=bogus", None, "status"),
        ("GET", f"{API}/incidents/abc", None, "incident_id"),
        ("GET", f"{API}/events?after_seq=-1", None, "after_seq"),
        ("GET", f"{API}/executions?limit=1001", None, "limit"),
    ],
)
async def test_malformed_or_out_of_range_input_is_a_422_naming_the_field(
    with_model: httpx.AsyncClient, method: str, url: str, body: Any, field: str
) -> None:
    """Bad values are refused with 422 invalid-input whose field names the culprit."""
    response = await with_model.request(method, url, json=body)
    problem_body = problem(response, 422)
    assert problem_body["type"] == "urn:grace:problem:invalid-input"
    assert problem_body["field"] == field
    assert problem_body["detail"].startswith(f"{field}: ")


async def test_a_422_lists_every_invalid_field(with_model: httpx.AsyncClient) -> None:
    """When several fields are wrong, errors lists each with its field and detail."""
    response = await with_model.post(
        f"{API}/models/{MODEL}/performance",
        json=without(without(snap(), "latency_p50_ms"), "error_rate"),
    )
    body = problem(response, 422)
    assert {e["field"] for e in body["errors"]} == {"latency_p50_ms", "error_rate"}
    assert all(e["detail"] for e in body["errors"])


async def test_a_refused_snapshot_stores_nothing(with_model: httpx.AsyncClient) -> None:
    """After a 422 the model's window has no snapshot: nothing half-done was kept."""
    problem(
        await with_model.post(f"{API}/models/{MODEL}/performance", json=snap(error_rate=1.5)), 422
    )
    health = ok(await with_model.get(f"{API}/models/{MODEL}/health"))
    assert health["metrics"]["snapshot_count"] == 0


async def test_a_malformed_json_body_is_a_422_naming_the_body(client: httpx.AsyncClient) -> None:
    """A body that is not JSON at all is refused with field 'body'."""
    response = await client.post(
        f"{API}/models", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert problem(response, 422)["field"] == "body"


# -- 413 ------------------------------------------------------------------------------------------


@pytest.fixture
async def small_limit_client(build_api: BuildApi) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a service that accepts request bodies of at most 2048 bytes."""
    _, app = build_api(max_body_bytes=2048)
    async with client_for(app) as client:
        yield client


def padded(size: int) -> bytes:
    """A valid registration body padded with blanks to exactly ``size`` bytes."""
    body = b'{"model_id": "padded", "version": "1"}'
    return body + b" " * (size - len(body))


async def test_a_body_at_the_limit_is_accepted(small_limit_client: httpx.AsyncClient) -> None:
    """Exactly max_body_bytes is still allowed."""
    response = await small_limit_client.post(
        f"{API}/models", content=padded(2048), headers={"content-type": "application/json"}
    )
    ok(response, 201)


async def test_a_declared_oversized_body_is_a_413_problem(
    small_limit_client: httpx.AsyncClient,
) -> None:
    """A Content-Length above max_body_bytes is refused with 413 before anything is read."""
    response = await small_limit_client.post(
        f"{API}/models", content=padded(2049), headers={"content-type": "application/json"}
    )
    body = problem(response, 413)
    assert body["type"] == "urn:grace:problem:payload-too-large"
    assert "2048" in body["detail"]
    problem(await small_limit_client.get(f"{API}/models/padded"), 404)


async def chunks(total: int, size: int = 512) -> AsyncIterator[bytes]:
    """A JSON body streamed in pieces, with no Content-Length (chunked transfer)."""
    data = padded(total)
    for start in range(0, total, size):
        yield data[start : start + size]


async def test_a_streamed_body_within_the_limit_is_accepted(
    small_limit_client: httpx.AsyncClient,
) -> None:
    """A chunked body under the limit is read and handled normally."""
    response = await small_limit_client.post(
        f"{API}/models", content=chunks(1500), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    ok(response, 201)


async def test_a_streamed_oversized_body_is_a_413_problem(
    small_limit_client: httpx.AsyncClient,
) -> None:
    """A chunked body that grows past max_body_bytes is refused with 413 as well."""
    response = await small_limit_client.post(
        f"{API}/models", content=chunks(5000), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert problem(response, 413)["type"] == "urn:grace:problem:payload-too-large"


async def test_a_streamed_oversized_body_stores_nothing(
    small_limit_client: httpx.AsyncClient,
) -> None:
    """Whatever the status, a body cut off at the limit registers nothing."""
    response = await small_limit_client.post(
        f"{API}/models", content=chunks(5000), headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    problem(await small_limit_client.get(f"{API}/models/padded"), 404)


# -- never a 500 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"{API}/incidents/{BIG}"),
        ("POST", f"{API}/incidents/{BIG}/acknowledge"),
        ("POST", f"{API}/incidents/{BIG}/resolve"),
        ("POST", f"{API}/incidents/{BIG}/notes"),
        ("GET", f"{API}/executions/{BIG}"),
        ("GET", f"{API}/incidents?before={BIG}"),
        ("GET", f"{API}/executions?before={BIG}"),
        ("GET", f"{API}/events?after_seq={BIG}"),
        ("GET", f"{API}/models/{MODEL}/timeline?before_seq={BIG}"),
    ],
)
async def test_integers_beyond_64_bits_are_refused_not_a_server_error(
    with_model: httpx.AsyncClient, method: str, url: str
) -> None:
    """An id or position too large for the database is a 404 or 422 problem, never a 500."""
    body = {"message": "note"} if url.endswith("/notes") else None
    response = await with_model.request(method, url, json=body)
    assert response.status_code in {200, 404, 422}, response.text
    if response.status_code != 200:
        problem(response, response.status_code)


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
async def test_a_timestamp_outside_the_utc_range_is_a_422(
    with_model: httpx.AsyncClient, timestamp: str
) -> None:
    """A timestamp that cannot be expressed in UTC is refused naming timestamp, not a 500."""
    response = await with_model.post(
        f"{API}/models/{MODEL}/performance", json=snap(timestamp=timestamp)
    )
    assert problem(response, 422)["field"] == "timestamp"


async def test_a_batch_item_with_an_out_of_range_timestamp_is_refused_alone(
    with_model: httpx.AsyncClient,
) -> None:
    """One unrepresentable timestamp refuses that item; the rest of the batch is stored."""
    items = [
        {"model_id": MODEL, **snap()},
        {"model_id": MODEL, **snap(timestamp="0001-01-01T00:00:00+05:00")},
    ]
    answer = ok(await with_model.post(f"{API}/performance/batch", json={"snapshots": items}))
    assert [i["status"] for i in answer["items"]] == ["stored", "refused"]
    assert answer["items"][1]["field"] == "timestamp"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"model_id": "m2", "version": "1", "name": "\\ud800"}', "name"),
        (b'{"model_id": "m2", "version": "1", "metadata": {"k": "\\udfff"}}', "metadata"),
    ],
)
async def test_text_that_is_not_valid_unicode_is_a_422(
    client: httpx.AsyncClient, raw: bytes, field: str
) -> None:
    """A lone surrogate in a text field is refused naming the field, not a 500."""
    response = await client.post(
        f"{API}/models", content=raw, headers={"content-type": "application/json"}
    )
    assert problem(response, 422)["field"] == field
