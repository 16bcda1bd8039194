"""What a hostile probe sent, answered alike on SQLite and PostgreSQL: a 422 naming the field,
nothing stored, never a 500, and never a word of the database's own."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from grace.api.app import create_app
from grace.bootstrap import build
from grace.clock import FakeClock
from grace.domain.validation import MAX_JSON_DEPTH
from tests.api.support import (
    API,
    MODEL,
    client_for,
    degraded_body,
    ok,
    problem,
    record,
    register_version,
)
from tests.conftest import drop_postgres_database, make_settings

NUL = "bad\x00text"


def nested(depth: int) -> dict[str, Any]:
    """A JSON object ``depth`` levels deep: {"a": {"a": ... 1}}."""
    document: Any = 1
    for _ in range(depth):
        document = {"a": document}
    return dict(document)


@pytest.fixture
async def any_client(database_url: str, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """An open client over SQLite and over PostgreSQL, with the model in production."""
    grace = build(make_settings(database_url), clock=clock)
    try:
        async with client_for(create_app(grace, allow_open=True)) as client:
            await register_version(client, MODEL, "3.1.5", production=True)
            await register_version(client, MODEL, "3.2.1", production=True)
            yield client
    finally:
        grace.close()


async def test_metadata_nested_beyond_the_limit_is_a_422_naming_it(
    any_client: httpx.AsyncClient,
) -> None:
    """950 levels used to crash the serialiser; anything past the documented depth is refused."""
    for depth in (MAX_JSON_DEPTH + 1, 500):
        # Written out by hand: Python's own encoder cannot nest 950 levels either.
        metadata = '{"a":' * depth + "1" + "}" * depth
        raw = f'{{"model_id":"deep","version":"{depth}","metadata":{metadata}}}'
        response = await any_client.post(
            f"{API}/models", content=raw, headers={"content-type": "application/json"}
        )
        refused = problem(response, 422)
        assert refused["field"] == "metadata"
        assert str(MAX_JSON_DEPTH) in refused["detail"]
    problem(await any_client.get(f"{API}/models/deep"), 404)
    at_limit = {"model_id": "deep", "version": "ok", "metadata": nested(MAX_JSON_DEPTH - 1)}
    ok(await any_client.post(f"{API}/models", json=at_limit), 201)


async def test_updated_metadata_has_the_depth_limit(any_client: httpx.AsyncClient) -> None:
    """Changing a version's metadata is bounded like registering it."""
    url = f"{API}/models/{MODEL}/versions/3.2.1"
    response = await any_client.patch(url, json={"metadata": nested(MAX_JSON_DEPTH + 1)})
    assert problem(response, 422)["field"] == "metadata"


async def test_a_deeply_nested_cursor_is_a_422_naming_the_cursor(
    any_client: httpx.AsyncClient,
) -> None:
    """A cursor of 2,000 '[' and 2,000 ']' used to exhaust the parser's recursion."""
    crafted = base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).decode()
    for cursor in (crafted, base64.urlsafe_b64encode(b'["a\\u0000", "1"]').decode()):
        refused = problem(await any_client.get(f"{API}/models", params={"cursor": cursor}), 422)
        assert refused["field"] == "cursor"


@pytest.mark.parametrize(
    ("method", "url", "body", "params", "field"),
    [
        (
            "POST",
            f"{API}/models",
            {"model_id": "m", "version": "1", "description": NUL},
            {},
            "description",
        ),
        ("POST", f"{API}/models", {"model_id": "m", "version": "1", "name": NUL}, {}, "name"),
        (
            "POST",
            f"{API}/models",
            {"model_id": "m", "version": "1", "artifact_uri": NUL},
            {},
            "artifact_uri",
        ),
        (
            "POST",
            f"{API}/models",
            {"model_id": "m", "version": "1", "metadata": {NUL: 1}},
            {},
            "metadata",
        ),
        (
            "POST",
            f"{API}/models",
            {"model_id": "m", "version": "1", "metadata": {"k": [NUL]}},
            {},
            "metadata",
        ),
        ("PATCH", f"{API}/models/{MODEL}/versions/3.2.1", {"description": NUL}, {}, "description"),
        (
            "POST",
            f"{API}/models/{MODEL}/versions/3.2.1/stage",
            {"stage": "archived", "reason": NUL},
            {},
            "reason",
        ),
        ("POST", f"{API}/models/{MODEL}/rollback", None, {"reason": NUL}, "reason"),
        ("GET", f"{API}/models", None, {"model_id": NUL}, "model_id"),
        ("GET", f"{API}/models", None, {"owner": NUL}, "owner"),
        ("GET", f"{API}/models", None, {"tag": NUL}, "tag"),
        ("GET", f"{API}/incidents", None, {"model_id": NUL}, "model_id"),
        ("GET", f"{API}/executions", None, {"model_id": NUL}, "model_id"),
        ("GET", f"{API}/executions", None, {"playbook": NUL}, "playbook"),
        ("GET", f"{API}/events", None, {"event_type": NUL}, "event_type"),
        ("GET", f"{API}/events", None, {"model_id": NUL}, "model_id"),
    ],
)
async def test_a_nul_character_is_the_same_422_on_both_databases(
    any_client: httpx.AsyncClient,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    params: dict[str, str],
    field: str,
) -> None:
    """PostgreSQL cannot store U+0000 in text, so no database is asked to: 422, nothing stored."""
    before = ok(await any_client.get(f"{API}/events"))
    response = await any_client.request(method, url, json=body, params=params)
    refused = problem(response, 422)
    assert refused["field"] == field
    assert "NUL" in refused["detail"] or "printable" in refused["detail"]
    assert ok(await any_client.get(f"{API}/events")) == before


async def test_incident_notes_refuse_nul_and_deep_data(any_client: httpx.AsyncClient) -> None:
    """Notes and their data are text and documents like any other."""
    await record(any_client, MODEL, degraded_body("3.2.1"))
    incident = ok(await any_client.get(f"{API}/incidents"))["items"][0]["id"]
    for body, field in (
        ({"message": NUL}, "message"),
        ({"message": "m", "data": {"k": NUL}}, "data"),
        ({"message": "m", "data": nested(MAX_JSON_DEPTH + 1)}, "data"),
    ):
        response = await any_client.post(f"{API}/incidents/{incident}/notes", json=body)
        assert problem(response, 422)["field"] == field


@pytest.mark.parametrize("model_id", [".", ".."])
async def test_dot_segments_are_refused_as_ids(
    any_client: httpx.AsyncClient, model_id: str
) -> None:
    """Clients drop "." and ".." from paths, so such a model could never be read back."""
    for body, field in (
        ({"model_id": model_id, "version": "1"}, "model_id"),
        ({"model_id": "dots", "version": model_id}, "version"),
    ):
        assert problem(await any_client.post(f"{API}/models", json=body), 422)["field"] == field


@pytest.mark.postgres
async def test_a_missing_database_is_a_503_that_names_no_internals(
    fresh_postgres_url: str, postgres_server: str, clock: FakeClock
) -> None:
    """With the database gone, even a caller with a bogus token hears only that it is down."""
    grace = build(make_settings(fresh_postgres_url), clock=clock)
    try:
        grace.store.close()
        drop_postgres_database(postgres_server, fresh_postgres_url)
        async with client_for(create_app(grace, allow_open=False), "grc_bogus_token") as client:
            response = await client.get(f"{API}/models")
    finally:
        grace.close()
    refused = problem(response, 503)
    text = response.text
    for internal in ("5432", "127.0.0.1", "FATAL", "does not exist", "grace_test", "SELECT"):
        assert internal not in text
    assert "unavailable" in refused["detail"]


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"model_id": "\xff\xfe"}', "UTF-8"),
        (b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nests too deeply"),
        (b'{"model_id": "m", "version": "1", "metadata": {"n": ' + b"9" * 5000 + b"}}", "digits"),
        (b'{"model_id": ', "JSON"),
    ],
)
async def test_an_unreadable_body_is_a_422_naming_the_body(
    any_client: httpx.AsyncClient, raw: bytes, why: str
) -> None:
    """Bytes that are not UTF-8, nesting beyond the parser, a 5,000-digit integer: one shape."""
    response = await any_client.post(
        f"{API}/models", content=raw, headers={"content-type": "application/json"}
    )
    refused = problem(response, 422)
    assert refused["field"] == "body"
    assert why in refused["detail"]
