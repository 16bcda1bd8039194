"""/openapi.json states what the server accepts and answers, and says it the way the core does.

The patterns of ``grace.api.shapes`` are judged here as a JSON Schema validator judges them
(ECMA-262 regular expressions, through jsonschema-rs as schemathesis uses it) against the
core's own checks, over all of Unicode: the schemathesis suite fuzzes with ASCII text only.
The rest pins what the document says about security and statuses, and the few input rules
the HTTP layer itself holds so that the document can state them exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema_rs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from grace.api.shapes import (
    MAX_KIND_LENGTH,
    MAX_NAME_LENGTH,
    MAX_TAG_LENGTH,
    identifier_pattern,
)
from grace.domain.validation import (
    MAX_ID_LENGTH,
    MAX_JSON_DEPTH,
    MAX_TAGS,
    MAX_TEXT_LENGTH,
    check_identifier,
    check_json_object,
    check_optional_text,
)
from grace.errors import InvalidInput
from tests.api.conftest import BuildApi
from tests.api.support import API, MODEL, PROBLEM_JSON, client_for, ok, problem, register_version

SHAPES = settings(
    max_examples=300, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)  # fmt: skip
# Any text: every code point but lone surrogates, which no HTTP request can carry.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
# Text near the edges of the rules: blanks, dots, slashes, NUL, controls, long runs.
EDGY_TEXT = st.text(
    st.sampled_from([" ", ".", "/", "\x00", "\t", "\u00a0", "a", "é", "\U0001f600"])
)
FANCY = jsonschema_rs.FancyRegexOptions(size_limit=150_000_000)


def accepts(check: Callable[[], object]) -> bool:
    try:
        check()
    except InvalidInput:
        return False
    return True


async def served(client: httpx.AsyncClient) -> dict[str, Any]:
    spec: dict[str, Any] = ok(await client.get("/openapi.json"))
    return spec


def validator(spec: dict[str, Any], component: str) -> Any:
    """A validator of one component of ``spec``, its references resolved within ``spec``."""
    schema = {"components": spec["components"], "$ref": f"#/components/schemas/{component}"}
    return jsonschema_rs.Draft202012Validator(schema, pattern_options=FANCY)


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    return await served(client)


# -- identifiers, texts and JSON objects, as the core checks them ------------------------------


@pytest.mark.parametrize(
    ("component", "longest"),
    [("Identifier", MAX_ID_LENGTH), ("Tag", MAX_TAG_LENGTH), ("EntryKind", MAX_KIND_LENGTH)],
)
def test_identifier_schemas_accept_exactly_what_check_identifier_accepts(
    spec: dict[str, Any], component: str, longest: int
) -> None:
    """Pattern and lengths of each identifier component agree with the core over all of Unicode."""
    judge = validator(spec, component)

    @SHAPES
    @given(value=ANY_TEXT | EDGY_TEXT | st.text(min_size=longest - 1, max_size=longest + 1))
    @example(value=".")
    @example(value="..")
    @example(value="...")
    @example(value=" a")
    @example(value="a ")
    @example(value="a b")
    @example(value="a\n")
    @example(value="\u0378")  # unassigned
    @example(value="\ue000")  # private use
    @example(value="\u200b")  # a format character
    @example(value="x" * longest)
    @example(value="x" * (longest + 1))
    def agree(value: str) -> None:
        assert judge.is_valid(value) == accepts(lambda: check_identifier("id", value, longest))

    agree()


def test_the_ascii_pattern_the_fuzz_judges_with_agrees_with_the_documents_on_ascii() -> None:
    """The schemathesis suite judges with the pattern's ASCII part; on ASCII text it is the same."""
    whole = jsonschema_rs.Draft202012Validator(
        {"pattern": identifier_pattern()}, pattern_options=FANCY
    )
    ascii_only = jsonschema_rs.Draft202012Validator(
        {"pattern": identifier_pattern(below=128)}, pattern_options=FANCY
    )

    @SHAPES
    @given(value=st.text(st.characters(max_codepoint=127)))
    def agree(value: str) -> None:
        assert whole.is_valid(value) == ascii_only.is_valid(value)

    agree()


@pytest.mark.parametrize(
    ("schema_of", "longest"),
    [
        (("ModelCreate", "name"), MAX_NAME_LENGTH),
        (("ModelCreate", "description"), MAX_TEXT_LENGTH),
        (("IncidentActionIn", "note"), MAX_TEXT_LENGTH),
    ],
)
def test_text_fields_refuse_exactly_what_check_optional_text_refuses(
    spec: dict[str, Any], schema_of: tuple[str, str], longest: int
) -> None:
    """Free text: at most so long and no NUL, in the document as in the core."""
    model, name = schema_of
    field_schema = spec["components"]["schemas"][model]["properties"][name]
    judge = jsonschema_rs.Draft202012Validator(field_schema, pattern_options=FANCY)

    @SHAPES
    @given(value=ANY_TEXT | EDGY_TEXT)
    @example(value="x" * longest)
    @example(value="x" * (longest + 1))
    def agree(value: str) -> None:
        assert judge.is_valid(value) == accepts(lambda: check_optional_text(name, value, longest))

    agree()


def test_a_notes_message_is_documented_as_the_core_reads_it(spec: dict[str, Any]) -> None:
    """Not blank (as str.strip sees blanks), no NUL, at most MAX_TEXT_LENGTH characters."""
    message = spec["components"]["schemas"]["NoteIn"]["properties"]["message"]
    judge = jsonschema_rs.Draft202012Validator(message, pattern_options=FANCY)

    def core(value: str) -> bool:
        return bool(value.strip()) and accepts(lambda: check_optional_text("message", value))

    @SHAPES
    @given(value=ANY_TEXT | EDGY_TEXT | st.text(st.characters(categories=["Zs", "Cc"])))
    @example(value="\u3000\u2028\x1c")
    def agree(value: str) -> None:
        assert judge.is_valid(value) == core(value)

    agree()


NUMBERS = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
KEYS = ANY_TEXT | EDGY_TEXT
json_values = st.recursive(
    st.none() | st.booleans() | NUMBERS | ANY_TEXT | EDGY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=12,
)


def test_json_objects_are_documented_as_check_json_object_accepts_them(
    spec: dict[str, Any],
) -> None:
    """Metadata and a note's data: any JSON object without NUL in its keys and strings."""
    metadata = spec["components"]["schemas"]["ModelCreate"]["properties"]["metadata"]
    judge = jsonschema_rs.Draft202012Validator(
        {"components": spec["components"], **metadata}, pattern_options=FANCY
    )

    @SHAPES
    @given(value=st.dictionaries(KEYS, json_values, max_size=4))
    @example(value={"a\x00": 1})
    @example(value={"a": [{"b": "c\x00"}]})
    def agree(value: dict[str, Any]) -> None:
        assert judge.is_valid(value) == accepts(lambda: check_json_object("metadata", value))

    agree()
    assert str(MAX_JSON_DEPTH) in metadata["description"]  # the one rule it can only say


# -- security and statuses -------------------------------------------------------------------------


def test_an_open_service_documents_no_security(spec: dict[str, Any]) -> None:
    """Open mode asks for no token, so the document declares none and no 403."""
    assert "securitySchemes" not in spec["components"]
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert "security" not in operation, f"{method} {path}"
            assert "403" not in operation["responses"], f"{method} {path}"


async def test_a_guarded_service_documents_bearer_auth_on_every_api_operation(
    build_api: BuildApi,
) -> None:
    """Tokens required: every /api/ operation names the bearer scheme; the probes do not."""
    _, app = build_api(allow_open=False)
    async with client_for(app) as anonymous:
        spec = await served(anonymous)
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            guarded = path.startswith("/api/")
            assert ("security" in operation) == guarded, f"{method} {path}"
            assert ("403" in operation["responses"]) == guarded, f"{method} {path}"


async def test_the_document_turns_guarded_when_a_first_token_is_created(
    client: httpx.AsyncClient,
) -> None:
    """Open mode ends with the first token, and /openapi.json says so from the next request."""
    assert "securitySchemes" not in (await served(client))["components"]
    created = ok(await client.post(f"{API}/tokens", json={"name": "ops", "scopes": ["admin"]}), 201)

    guarded = await served(client)

    assert "HTTPBearer" in guarded["components"]["securitySchemes"]
    problem(await client.get(f"{API}/models"), 401)
    assert created["token"].startswith("grc_")


def test_every_status_the_server_can_send_is_documented_as_a_problem(
    spec: dict[str, Any],
) -> None:
    """400, 408, 413 and 414 on every operation (the server sends them before routing), 422
    where there is input, 404 where a path names something, 401 and 503 on the API."""
    missing = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            expected = {"400", "408", "413", "414"}
            if operation.get("parameters") or operation.get("requestBody"):
                expected.add("422")
            if path.startswith("/api/"):
                expected |= {"401", "503"}
            if "{" in path:
                expected.add("404")
            for status in sorted(expected):
                content = operation["responses"].get(status, {}).get("content", {})
                if PROBLEM_JSON not in content:
                    missing.append(f"{method.upper()} {path} {status}")
    assert missing == []


def test_optional_parameters_are_documented_as_absent_not_null(spec: dict[str, Any]) -> None:
    """A query string has no null: an optional parameter's schema is its value's alone."""
    nullable = [
        f"{method.upper()} {path} {parameter['name']}"
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        for parameter in operation.get("parameters", [])
        if {"type": "null"} in parameter["schema"].get("anyOf", [])
    ]
    assert nullable == []


# -- the input rules the HTTP layer holds so that the document can state them ---------------------


async def test_an_empty_version_to_judge_is_refused_as_the_document_says(
    client: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    """rollback-check's ``version`` is an identifier (minLength 1): an empty one is a 422."""
    operation = spec["paths"][f"{API}/models/{{model_id}}/rollback-check"]["get"]
    (version,) = [p for p in operation["parameters"] if p["name"] == "version"]
    assert version["schema"]["$ref"] == "#/components/schemas/Identifier"
    assert spec["components"]["schemas"]["Identifier"]["minLength"] == 1
    await register_version(client, MODEL, "3.2.1", production=True)

    response = await client.get(f"{API}/models/{MODEL}/rollback-check", params={"version": ""})

    assert problem(response, 422)["field"] == "version"


async def test_a_versions_booleans_may_be_left_out_but_not_sent_as_null(
    client: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    """PATCH documents them as plain booleans, and null is refused naming the field."""
    properties = spec["components"]["schemas"]["ModelUpdate"]["properties"]
    await register_version(client, MODEL, "3.2.1")
    url = f"{API}/models/{MODEL}/versions/3.2.1"

    refused = await client.patch(url, json={"bias_check_passed": None})
    kept = ok(await client.patch(url, json={"owner": "risk-team"}))

    assert properties["bias_check_passed"]["type"] == "boolean"
    assert properties["constitutional_compliance"]["type"] == "boolean"
    assert problem(refused, 422)["field"] == "bias_check_passed"
    assert kept["bias_check_passed"] is True  # left out, kept


async def test_a_patch_that_names_no_field_is_refused_as_documented(
    client: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    """ModelUpdate says minProperties 1, and {} is a 422."""
    assert spec["components"]["schemas"]["ModelUpdate"]["minProperties"] == 1
    await register_version(client, MODEL, "3.2.1")

    response = await client.patch(f"{API}/models/{MODEL}/versions/3.2.1", json={})

    problem(response, 422)


async def test_more_tags_than_documented_are_refused_even_when_repeated(
    client: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    """maxItems is the whole rule: 65 tags are refused though the core would drop repeats."""
    tags = spec["components"]["schemas"]["ModelCreate"]["properties"]["tags"]
    body = {"model_id": MODEL, "version": "1", "tags": ["fraud"] * (MAX_TAGS + 1)}

    response = await client.post(f"{API}/models", json=body)

    assert tags["maxItems"] == MAX_TAGS
    assert problem(response, 422)["field"] == "tags"


@pytest.mark.parametrize("timestamp", ["0", "2025-11-13", "2025-11-13 15:00:00Z", 1_700_000_000])
async def test_a_timestamp_that_is_not_an_rfc3339_date_time_is_refused(
    client: httpx.AsyncClient, timestamp: object
) -> None:
    """The documented format is date-time; Unix times, bare dates and numbers are refused."""
    await register_version(client, MODEL, "3.2.1")
    body = {
        "version": "3.2.1",
        "timestamp": timestamp,
        "latency_p50_ms": 1.0,
        "latency_p95_ms": 2.0,
        "latency_p99_ms": 3.0,
        "requests_per_second": 1.0,
        "error_rate": 0.0,
        "ood_rate": 0.0,
    }

    response = await client.post(f"{API}/models/{MODEL}/performance", json=body)

    assert problem(response, 422)["field"] == "timestamp"


async def test_a_whole_number_of_minutes_may_be_spelled_with_a_fraction_of_zero(
    client: httpx.AsyncClient,
) -> None:
    """JSON Schema's integer includes 30.0, so the settings take it as 30."""
    await register_version(client, MODEL, "3.2.1")
    url = f"{API}/models/{MODEL}/settings"

    settings_ = ok(await client.patch(url, json={"window_minutes": 30.0}))
    refused = await client.patch(url, json={"window_minutes": 30.5})

    assert settings_["window_minutes"] == 30
    assert problem(refused, 422)["field"] == "window_minutes"


async def test_non_ascii_identifiers_travel_in_paths_and_bodies(client: httpx.AsyncClient) -> None:
    """What the fuzz does not draw: identifiers beyond ASCII, percent-encoded in the path."""
    model, version = "modèle_ü_🚀", "1.0-β"
    await register_version(client, model, version, tags=["ünïcode", "标签"])
    base = f"{API}/models/{quote(model, safe='')}"

    latest = ok(await client.get(base))
    named = ok(await client.get(f"{base}/versions/{quote(version, safe='')}"))
    listed = ok(await client.get(f"{API}/models", params={"tag": "标签"}))

    assert (latest["model_id"], latest["version"]) == (model, version)
    assert named["tags"] == ["ünïcode", "标签"]
    assert [item["model_id"] for item in listed["items"]] == [model]
    assert json.dumps(named, ensure_ascii=False)  # the answer is UTF-8 JSON


async def test_a_threshold_being_reset_must_still_be_in_range(client: httpx.AsyncClient) -> None:
    """Found by `st run`: a value sent for a threshold also named in `reset` went unchecked, though
    the document bounds every value.  It is refused when out of range; in range, reset wins."""
    await register_version(client, MODEL, "3.2.1")
    url = f"{API}/models/{MODEL}/settings"
    ok(await client.patch(url, json={"thresholds": {"input_drift": 0.5}}))

    refused = await client.patch(
        url, json={"thresholds": {"input_drift": -1e-300}, "reset": ["input_drift"]}
    )
    reset = ok(
        await client.patch(url, json={"thresholds": {"input_drift": 0.7}, "reset": ["input_drift"]})
    )

    assert problem(refused, 422)["field"] == "input_drift"
    assert "input_drift" not in reset["overrides"]
    assert reset["thresholds"]["input_drift"] == 0.3  # the service default again
