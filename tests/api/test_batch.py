"""Batch ingestion: POST /api/model-registry/performance/batch.

Ten thousand snapshots go in one request; each is validated alone and the answer says, per
item and in request order, whether it was stored or refused and why.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from grace.api.app import create_app
from grace.bootstrap import Grace, build
from grace.clock import FakeClock
from tests.api.conftest import BuildApi
from tests.api.support import API, MODEL, client_for, ok, problem, register_version, snapshot_body
from tests.conftest import make_settings

BATCH_SIZE = 10_000


def batch_item(version: str = "3.2.1", model_id: str = MODEL, **values: Any) -> dict[str, Any]:
    return {"model_id": model_id, **snapshot_body(version, **values)}


def without(item: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != key}


# Deliberately bad items, by position: (item, the field the refusal must name, words of the detail).
BAD_ITEMS: dict[int, tuple[dict[str, Any], str, str]] = {
    7: (batch_item(error_rate=1.5), "error_rate", "at most 1"),
    1_234: (batch_item(ood_rate=-0.1), "ood_rate", "at least 0"),
    2_000: (without(batch_item(), "latency_p99_ms"), "latency_p99_ms", "required"),
    3_333: (batch_item(latency_p50_ms="fast"), "latency_p50_ms", "number"),
    4_096: (without(batch_item(), "model_id"), "model_id", "required"),
    5_000: (batch_item(colour="red"), "colour", "not permitted"),
    6_001: (batch_item(timestamp="2031-01-01T00:00:00Z"), "timestamp", "future"),
    7_777: (batch_item(latency_p50_ms=900.0), "latency_p50_ms", "latency_p95_ms"),
    9_999: (batch_item(accuracy=1.2), "accuracy", "at most 1"),
}
UNKNOWN_MODEL = 8_000
UNKNOWN_VERSION = 8_500


def ten_thousand() -> list[dict[str, Any]]:
    items = [batch_item() for _ in range(BATCH_SIZE)]
    for index, (item, _, _) in BAD_ITEMS.items():
        items[index] = item
    items[UNKNOWN_MODEL] = batch_item(model_id="no_such_model")
    items[UNKNOWN_VERSION] = batch_item(version="0.0.0")
    return items


@dataclass(frozen=True)
class BatchRun:
    answer: dict[str, Any]
    health_after: dict[str, Any]


async def run_batch(app: FastAPI) -> BatchRun:
    async with client_for(app) as client:
        await register_version(client, MODEL, "3.2.1", production=True)
        response = await client.post(f"{API}/performance/batch", json={"snapshots": ten_thousand()})
        answer = ok(response)
        health = ok(await client.get(f"{API}/models/{MODEL}/health"))
    return BatchRun(answer, health)


@pytest.fixture(scope="module")
def batch_run(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> BatchRun:
    """One request of 10,000 snapshots (eleven of them bad), sent once for the whole module."""
    database = tmp_path_factory.mktemp("batch") / "grace.db"
    shutil.copy(sqlite_template, database)
    grace = build(make_settings(f"sqlite:///{database}"), clock=FakeClock())
    try:
        return asyncio.run(run_batch(create_app(grace, allow_open=True)))
    finally:
        grace.close()


@pytest.fixture
def batch_answer(batch_run: BatchRun) -> dict[str, Any]:
    return batch_run.answer


def test_ten_thousand_snapshots_are_answered_item_by_item(batch_answer: dict[str, Any]) -> None:
    """One request of 10,000 is answered 200 with one result per item, in request order."""
    items = batch_answer["items"]
    assert len(items) == BATCH_SIZE
    assert [item["index"] for item in items] == list(range(BATCH_SIZE))
    refused = {item["index"] for item in items if item["status"] == "refused"}
    assert refused == {*BAD_ITEMS, UNKNOWN_MODEL, UNKNOWN_VERSION}
    assert batch_answer["refused"] == len(refused) == 11
    assert batch_answer["stored"] == BATCH_SIZE - 11


def test_stored_items_carry_their_snapshot_id(batch_answer: dict[str, Any]) -> None:
    """Every stored item names a distinct snapshot id."""
    stored = [item for item in batch_answer["items"] if item["status"] == "stored"]
    ids = [item["snapshot_id"] for item in stored]
    assert all(isinstance(i, int) for i in ids)
    assert len(set(ids)) == len(ids) == BATCH_SIZE - 11


@pytest.mark.parametrize("index", sorted(BAD_ITEMS))
def test_an_invalid_item_is_refused_naming_its_field_and_why(
    batch_answer: dict[str, Any], index: int
) -> None:
    """Out-of-range, missing, mistyped, unknown or future values are refused with field/detail."""
    _, field, words = BAD_ITEMS[index]
    item = batch_answer["items"][index]
    assert item["status"] == "refused"
    assert item.get("snapshot_id") is None
    assert item["field"] == field
    assert words in item["detail"]
    assert item["type"] == "urn:grace:problem:invalid-input"


def test_an_item_for_an_unknown_model_is_refused_saying_so(batch_answer: dict[str, Any]) -> None:
    """A snapshot of a model nobody registered is refused with a detail naming the model."""
    item = batch_answer["items"][UNKNOWN_MODEL]
    assert item["status"] == "refused"
    assert item["type"] == "urn:grace:problem:model-not-found"
    assert "no_such_model" in item["detail"]
    assert "not registered" in item["detail"]


def test_an_item_for_an_unknown_version_is_refused_saying_so(batch_answer: dict[str, Any]) -> None:
    """A snapshot of a version the model does not have is refused with a detail naming it."""
    item = batch_answer["items"][UNKNOWN_VERSION]
    assert item["status"] == "refused"
    assert item["type"] == "urn:grace:problem:version-not-found"
    assert "'0.0.0'" in item["detail"]


def test_unknown_model_and_version_refusals_name_their_field(batch_answer: dict[str, Any]) -> None:
    """The refusal of an unknown model names model_id, of an unknown version names version."""
    assert batch_answer["items"][UNKNOWN_MODEL]["field"] == "model_id"
    assert batch_answer["items"][UNKNOWN_VERSION]["field"] == "version"


def test_only_the_stored_items_count_in_the_window(batch_run: BatchRun) -> None:
    """The health summary counts exactly the stored snapshots; refused ones left no trace."""
    health, batch_answer = batch_run.health_after, batch_run.answer
    assert health["metrics"]["snapshot_count"] == batch_answer["stored"]
    assert health["metrics"]["avg_error_rate"] == pytest.approx(0.01)


def test_the_batch_is_judged_once_per_production_version(batch_answer: dict[str, Any]) -> None:
    """The triggers are checked once for the version the batch touched, over the whole window."""
    (check,) = batch_answer["checks"]
    assert (check["model_id"], check["version"]) == (MODEL, "3.2.1")
    assert check["snapshot_count"] == batch_answer["stored"]
    assert check["should_rollback"] is False


async def test_a_degrading_batch_opens_one_incident(client: httpx.AsyncClient) -> None:
    """A batch that pushes the window over a threshold fires the triggers once, not per item."""
    await register_version(client, MODEL, "3.2.1", production=True)
    items = [batch_item(error_rate=0.2) for _ in range(50)]

    answer = ok(await client.post(f"{API}/performance/batch", json={"snapshots": items}))

    (check,) = answer["checks"]
    assert check["should_rollback"] is True
    assert check["reasons"] == ["High error rate: 20.00%"]
    incidents = ok(await client.get(f"{API}/incidents"))["items"]
    assert [i["id"] for i in incidents] == [check["incident_id"]]


async def test_a_batch_above_the_configured_maximum_is_413(build_api: BuildApi) -> None:
    """More snapshots than max_batch_snapshots is refused whole with a 413 problem."""
    grace, app = build_api(max_batch_snapshots=5)
    async with client_for(app) as client:
        await register_version(client, MODEL, "3.2.1", production=True)
        at_limit = await client.post(
            f"{API}/performance/batch", json={"snapshots": [batch_item()] * 5}
        )
        over = await client.post(f"{API}/performance/batch", json={"snapshots": [batch_item()] * 6})

    assert ok(at_limit)["stored"] == 5
    body = problem(over, 413)
    assert "limit is 5" in body["detail"]
    assert_window_count(grace, 5)


def assert_window_count(grace: Grace, expected: int) -> None:
    stats = grace.registry.window_stats(MODEL, "3.2.1", window_minutes=60)
    assert stats.snapshot_count == expected


async def test_an_empty_batch_stores_nothing(client: httpx.AsyncClient) -> None:
    """An empty list is a valid batch with nothing stored or refused."""
    answer = ok(await client.post(f"{API}/performance/batch", json={"snapshots": []}))
    assert (answer["stored"], answer["refused"], answer["items"], answer["checks"]) == (
        0,
        0,
        [],
        [],
    )


async def test_a_batch_without_the_snapshots_list_is_422(client: httpx.AsyncClient) -> None:
    """The body must be an object with a snapshots list: otherwise a 422 naming the field."""
    body = problem(await client.post(f"{API}/performance/batch", json={"items": []}), 422)
    assert body["field"] == "snapshots"
    extra: dict[str, list[object]] = {"snapshots": [], "items": []}
    refused = problem(await client.post(f"{API}/performance/batch", json=extra), 422)
    assert refused["field"] == "items"
    assert "not a field" in refused["detail"]


async def test_a_huge_count_of_items_is_refused_early_and_cheaply(build_api: BuildApi) -> None:
    """32 MiB of empty items (11 million) is a 413 at the first item past the limit, without
    the gigabytes that parsing it whole would take."""
    _, app = build_api()
    count = (32 * 1024 * 1024 - 64) // 3
    raw = b'{"snapshots":[' + b"{}," * (count - 1) + b"{}]}"
    tracemalloc.start()
    try:
        async with client_for(app) as client:
            started = time.perf_counter()
            response = await client.post(
                f"{API}/performance/batch",
                content=raw,
                headers={"content-type": "application/json"},
            )
            elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    refused = problem(response, 413)
    assert "50000" in refused["detail"]
    # The body itself and its text are 64 MiB; what is parsed beyond them stays small.
    assert peak < 2.5 * len(raw) + 64 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"
    assert elapsed < 30
