"""Property-based tests of the HTTP API against its own /openapi.json, with schemathesis.

Every operation (except the endless SSE stream) is fed generated requests, valid and invalid,
some of the valid ones aimed at models, versions, incidents and runs that exist.  Each answer
must not be a server error, must match the documented response schema, and must carry the
documented content type; every error must be an RFC 9457 problem.

Routes return pre-built JSON (``grace.api.responses.reply``) that FastAPI does not re-validate,
so this suite is what holds the answers to the documented models.

Runs are derandomized, so a failure reproduces.  Every integer parameter has a documented
upper bound, so the fuzz also tries integers beyond 64 bits (once a 500);
``test_integers_beyond_64_bits_are_not_a_server_error`` tries each such parameter on purpose.

``schemathesis.pytest.from_fixture`` cannot be used with pytest 9 (it reads the removed
``Node._nodeid``), so each operation is a parametrized test driving
``APIOperation.as_strategy`` under ``hypothesis.given``; a completeness test keeps the lists
equal to the schema's operations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from grace.api.app import create_app
from grace.bootstrap import Grace
from grace.clock import FakeClock
from tests.api.support import API, MODEL, PROBLEM_JSON
from tests.helpers import DEGRADED, HEALTHY, register, snapshot

Operation = tuple[str, str]

# Operations fuzzed on an open (token-less, loopback) service.
OPEN_OPERATIONS: list[Operation] = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", f"{API}/monitor/production"),
    ("GET", f"{API}/models/{{model_id}}/health"),
    ("POST", f"{API}/models/{{model_id}}/performance"),
    ("POST", f"{API}/performance/batch"),
    ("GET", f"{API}/models/{{model_id}}/rollback-check"),
    ("POST", f"{API}/models/{{model_id}}/rollback-check"),
    ("POST", f"{API}/models/{{model_id}}/rollback"),
    ("POST", f"{API}/models"),
    ("GET", f"{API}/models"),
    ("GET", f"{API}/models/{{model_id}}"),
    ("GET", f"{API}/models/{{model_id}}/production"),
    ("GET", f"{API}/models/{{model_id}}/versions/{{version}}"),
    ("PATCH", f"{API}/models/{{model_id}}/versions/{{version}}"),
    ("POST", f"{API}/models/{{model_id}}/versions/{{version}}/stage"),
    ("POST", f"{API}/models/{{model_id}}/stage"),
    ("GET", f"{API}/models/{{model_id}}/history"),
    ("GET", f"{API}/models/{{model_id}}/settings"),
    ("PATCH", f"{API}/models/{{model_id}}/settings"),
    ("GET", f"{API}/models/{{model_id}}/timeline"),
    ("GET", f"{API}/incidents"),
    ("GET", f"{API}/incidents/{{incident_id}}"),
    ("POST", f"{API}/incidents/{{incident_id}}/acknowledge"),
    ("POST", f"{API}/incidents/{{incident_id}}/resolve"),
    ("POST", f"{API}/incidents/{{incident_id}}/notes"),
    ("GET", f"{API}/playbooks"),
    ("GET", f"{API}/executions"),
    ("GET", f"{API}/executions/{{execution_id}}"),
    ("GET", f"{API}/events"),
]
# Creating a token ends open mode, so these run authenticated as an admin.
TOKEN_OPERATIONS: list[Operation] = [
    ("GET", f"{API}/tokens"),
    ("POST", f"{API}/tokens"),
    ("DELETE", f"{API}/tokens/{{token_id}}"),
]
# Not fuzzed: it never ends (test_rest_surface reads it over a real socket).
STREAM: Operation = ("GET", f"{API}/events/stream")

INT64_MAX = 2**63 - 1

# Values of path parameters that name things which exist in the fleet below.
EXISTING: list[dict[str, str]] = [
    {"model_id": MODEL, "version": "3.2.1", "incident_id": "1", "execution_id": "1"},
    {"model_id": MODEL, "version": "3.1.5", "incident_id": "1", "execution_id": "1"},
    {"model_id": "churn_model", "version": "1.0", "incident_id": "1", "execution_id": "1"},
]

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


def fleet(grace: Grace, clock: FakeClock) -> FastAPI:
    """An open app whose database holds real things for the generated paths to hit.

    fraud_detector_v3: 3.1.5 was replaced by 3.2.1, whose degradation opened incident 1 and
    ran playbook 1 (rolling back to 3.1.5); churn_model 1.0 is healthy in production.
    """
    registry = grace.registry
    register(registry, MODEL, "3.1.5", production=True)
    register(registry, MODEL, "3.2.1", production=True, owner="risk-team", tags=["fraud"])
    registry.configure_model(MODEL, auto_remediate=True)
    register(registry, "churn_model", "1.0", production=True)

    async def observe() -> None:
        await registry.record_performance_snapshot(
            snapshot(MODEL, "3.2.1", at=clock.now(), base=DEGRADED)
        )
        await registry.record_performance_snapshot(
            snapshot("churn_model", "1.0", at=clock.now(), base=HEALTHY)
        )

    asyncio.run(observe())
    return create_app(grace, allow_open=True)


def load(app: FastAPI) -> Any:
    """The app's schema; no generated Authorization headers (the token is this suite's choice)."""
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@pytest.fixture
def open_schema(grace: Grace, clock: FakeClock) -> Any:
    return load(fleet(grace, clock))


@pytest.fixture
def admin_schema(grace: Grace, clock: FakeClock) -> tuple[Any, str, str]:
    """(schema, admin secret, id of a token the run may revoke)."""
    app = fleet(grace, clock)
    _, admin = grace.tokens.create("fuzzer", ["admin"])
    victim, _ = grace.tokens.create("victim", ["read"])
    return load(app), admin, victim.token_id


def snapshots(model_id: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Snapshot bodies the core accepts (the schema documents the ranges only in prose)."""
    rate = st.floats(0, 1)
    latencies = st.lists(st.floats(0, 100_000), min_size=3, max_size=3).map(sorted)
    return st.builds(
        lambda version, lat, rps, error, ood, drift, accuracy, model: {
            "version": version,
            "latency_p50_ms": lat[0],
            "latency_p95_ms": lat[1],
            "latency_p99_ms": lat[2],
            "requests_per_second": rps,
            "error_rate": error,
            "ood_rate": ood,
            **({"input_drift_score": drift} if drift is not None else {}),
            **({"accuracy": accuracy} if accuracy is not None else {}),
            **({"model_id": model} if model is not None else {}),
        },
        st.sampled_from(["3.1.5", "3.2.1", "1.0"]),
        latencies,
        st.floats(0, 10_000),
        rate,
        rate,
        st.none() | st.floats(0, 10),
        st.none() | rate,
        model_id if model_id is not None else st.none(),
    )


def with_body(strategy: st.SearchStrategy[Any], body: st.SearchStrategy[Any]) -> Any:
    def put(pair: tuple[Any, Any]) -> Any:
        case, value = pair
        case.body = value
        return case

    return st.tuples(strategy, body).map(put)


# Bodies that pass the core's rules, for operations whose schema cannot say what those are.
VALID_BODIES: dict[Operation, st.SearchStrategy[Any]] = {
    ("POST", f"{API}/models/{{model_id}}/performance"): snapshots(),
    ("POST", f"{API}/performance/batch"): st.fixed_dictionaries(
        {
            "snapshots": st.lists(
                snapshots(st.sampled_from([MODEL, "churn_model"])), min_size=1, max_size=5
            )
        }
    ),
}


def cases(operation: Any, existing: list[dict[str, str]]) -> st.SearchStrategy[Any]:
    """Valid and invalid requests, plus valid ones whose path names something that exists."""
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    names = [parameter.name for parameter in operation.path_parameters]
    for values in existing if names else [{}]:
        fixed = {name: values[name] for name in names}
        real = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed)
        body = VALID_BODIES.get((operation.method.upper(), operation.path))
        strategies.append(real if body is None else with_body(real, body))
    return st.one_of(strategies)


def check(case: Any, response: Any) -> None:
    """Not a server error, the documented schema, and problem+json for every error."""
    checks = [not_a_server_error, response_schema_conformance]
    if response.status_code < 400:
        checks.append(content_type_conformance)
    case.validate_response(response, checks=checks)
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type == PROBLEM_JSON, (case.as_curl_command(), content_type)
        body = response.json()
        assert {"type", "title", "status", "detail"} <= body.keys(), body
        assert body["status"] == response.status_code


def fuzz(operation: Any, existing: list[dict[str, str]], headers: dict[str, str]) -> None:
    @FUZZ
    @given(case=cases(operation, existing))
    def run(case: Any) -> None:
        check(case, case.call(headers=headers))

    run()


def ids(operations: list[Operation]) -> list[str]:
    return [f"{method} {path}" for method, path in operations]


def test_every_operation_but_the_stream_is_fuzzed(open_schema: Any) -> None:
    """The lists below are exactly the operations /openapi.json documents, less the stream."""
    documented = {
        (operation.method.upper(), operation.path)
        for result in open_schema.get_all_operations()
        for operation in [result.ok()]
    }
    assert documented - {STREAM} == set(OPEN_OPERATIONS) | set(TOKEN_OPERATIONS)
    assert len(OPEN_OPERATIONS) == len(set(OPEN_OPERATIONS))


@pytest.mark.parametrize(("method", "path"), OPEN_OPERATIONS, ids=ids(OPEN_OPERATIONS))
def test_open_operation_conforms_to_its_schema(open_schema: Any, method: str, path: str) -> None:
    """Generated requests never get a 500, and answers match the documented schema and type."""
    fuzz(open_schema[path][method], EXISTING, {})


@pytest.mark.parametrize(("method", "path"), TOKEN_OPERATIONS, ids=ids(TOKEN_OPERATIONS))
def test_token_operation_conforms_to_its_schema(
    admin_schema: tuple[Any, str, str], method: str, path: str
) -> None:
    """Token management, called as an admin, holds to the same checks."""
    schema, admin, victim = admin_schema
    existing = [{"token_id": victim}]
    fuzz(schema[path][method], existing, {"Authorization": f"Bearer {admin}"})


def unbounded_integers(operation: Any) -> list[tuple[str, str]]:
    """(location, name) of each path or query parameter documented as an integer with no maximum."""
    found = []
    for location, parameters in (("path", operation.path_parameters), ("query", operation.query)):
        for parameter in parameters:
            schema = parameter.definition.get("schema", {})
            options = [schema, *schema.get("anyOf", [])]
            if any(o.get("type") == "integer" and "maximum" not in o for o in options):
                found.append((location, parameter.name))
    return found


def test_integers_beyond_64_bits_are_not_a_server_error(open_schema: Any) -> None:
    """Every unbounded integer parameter the schema documents, set to 2**64, is not a 500."""
    failures = []
    for result in open_schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) == STREAM:
            continue
        for location, name in unbounded_integers(operation):
            path_parameters: dict[str, Any] = {
                p.name: EXISTING[0].get(p.name, "1") for p in operation.path_parameters
            }
            query: dict[str, Any] = {}
            (path_parameters if location == "path" else query)[name] = 2**64
            body: dict[str, Any] = {}
            if operation.path.endswith("/notes"):  # the body is checked before the id is used
                body = {"body": {"message": "note"}, "media_type": "application/json"}
            case = operation.Case(path_parameters=path_parameters, query=query, **body)
            try:
                check(case, case.call())
            except (Exception, FailureGroup) as exc:  # noqa: BLE001 - each one is reported
                failures.append(f"{operation.label} {location} {name}: {type(exc).__name__}")
    assert failures == []


# -- the document itself ------------------------------------------------------------------------


def operations_of(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def names_a_model(schema: dict[str, Any]) -> bool:
    """A $ref to a component, a list of them, or an optional one (anyOf [$ref, null])."""
    options = [schema, schema.get("items", {}), *schema.get("anyOf", [])]
    return any("$ref" in option for option in options)


def test_every_operation_documents_its_success_and_request_models(open_schema: Any) -> None:
    """Each success answer and each request body is a named, described model."""
    spec = open_schema.raw_schema
    missing = []
    for method, path, operation in operations_of(spec):
        success = [r for status, r in operation["responses"].items() if status.startswith("2")]
        if (method, path) == STREAM:
            assert "text/event-stream" in success[0]["content"]
            continue
        if not names_a_model(success[0]["content"]["application/json"]["schema"]):
            missing.append(f"{method} {path}: the success answer has no named model")
        body = operation.get("requestBody")
        if body and not names_a_model(body["content"]["application/json"]["schema"]):
            missing.append(f"{method} {path}: the request body has no named model")
    assert missing == []
    assert "ProblemOut" in spec["components"]["schemas"]


def test_errors_are_documented_as_problem_json(open_schema: Any) -> None:
    """Every documented error answer (4xx/5xx) has the media type the service sends."""
    wrong = [
        f"{method} {path} {status}: {sorted(response.get('content', {}))}"
        for method, path, operation in operations_of(open_schema.raw_schema)
        for status, response in operation["responses"].items()
        if status[0] in "45"
        and (method, path, status) != ("GET", "/readyz", "503")  # a health answer, not an error
        and PROBLEM_JSON not in response.get("content", {})
    ]
    assert wrong == []


def test_the_error_statuses_an_operation_answers_with_are_documented(open_schema: Any) -> None:
    """Operations with path parameters document 404; operations with a body document 413."""
    undocumented = []
    for method, path, operation in operations_of(open_schema.raw_schema):
        statuses = set(operation["responses"])
        if "{" in path and "404" not in statuses:
            undocumented.append(f"{method} {path}: 404")
        if "requestBody" in operation and "413" not in statuses:
            undocumented.append(f"{method} {path}: 413")
    assert undocumented == []


def test_the_timeline_documents_how_to_page_it(open_schema: Any) -> None:
    """The timeline's documented answer names the key its next page is reached with."""
    operation = open_schema.raw_schema["paths"][f"{API}/models/{{model_id}}/timeline"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    model = open_schema.raw_schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "next_before" in model["properties"]


def test_builtin_conformance_checks_pass_unmodified(open_schema: Any) -> None:
    """Schemathesis' stock status-code and content-type checks pass on GET /models/{model_id}."""
    operation = open_schema[f"{API}/models/{{model_id}}"]["GET"]

    @FUZZ
    @given(case=cases(operation, []))
    def run(case: Any) -> None:
        case.call_and_validate(
            checks=[not_a_server_error, status_code_conformance, content_type_conformance]
        )

    run()
