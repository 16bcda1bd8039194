"""Schemathesis with every check on, against the app in-process: what /openapi.json allows is
what the server accepts, and what the server answers is what the document says.

Each run drives schemathesis' own engine (the one ``st run`` drives) through its phases:
examples, coverage (each documented length, range, pattern and enum at and past its
boundary), fuzzing (valid and invalid data) and stateful (call sequences along the links
schemathesis infers), with every check of ``schemathesis.checks`` enabled, among them
positive_data_acceptance, negative_data_rejection, status_code_conformance, ignored_auth,
missing_required_header, unsupported_method, use_after_free and ensure_resource_availability:

- guarded: a service that requires tokens, called as an admin; its document declares bearer
  auth, and the auth checks send requests without the token and with a wrong one;
- open: a loopback service before any token exists; its document declares no security.

JSON Schema cannot compare one value with another, with the server's clock or with what the
server handed out, so those few rules are stated in prose; a valid request breaking one is
answered 422 naming the field, and only those refusals are excused (``PROSE_RULES``), as is
the 404 of a model with nothing in production (``NO_PRODUCTION_VERSION``).

Two economies keep both runs within a minute on two cores.  The document's identifier pattern
lists every printable code point, and Hypothesis builds a strategy from it one code point at a
time (about a second, dozens of times), and draws text from all of Unicode slowly; so the runs
draw ASCII text and judge with the same pattern restricted to ASCII, which agrees with the
document's on every ASCII string (``test_openapi_shapes`` proves the whole pattern against the
core over all of Unicode, and sends non-ASCII identifiers over HTTP).  And the coverage phase
(about fifty boundary cases per operation) runs in the guarded run only: the two documents
differ in security alone, which the examples, fuzzing and stateful phases of both runs try.

Runs are seeded and deterministic; a failure is reported with its curl command.
``schemathesis.pytest.from_fixture`` cannot be used with pytest 9 (it reads the removed
``Node._nodeid``); the engine needs no plugin.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.core.failures import Failure
from schemathesis.engine import events, from_schema
from schemathesis.errors import FailureGroup
from schemathesis.openapi.checks import EnsureResourceAvailability, RejectedPositiveData
from schemathesis.schemas import BaseSchema

from grace.api.shapes import identifier_pattern
from grace.bootstrap import Grace
from grace.clock import FakeClock
from tests.api.conftest import BuildApi
from tests.api.support import API, MODEL, PROBLEM_JSON
from tests.helpers import DEGRADED, HEALTHY, register, snapshot

Operation = tuple[str, str]

SEED = 20261202
# Cases per operation in the fuzzing phase, and scenarios of at most STEPS calls in the stateful.
EXAMPLES = 10
STEPS = 6
# The batch limit of the services under test: small, so the coverage phase sends one past it.
BATCH_LIMIT = 5

# Not fuzzed: it never ends (test_rest_surface reads it over a real socket).
STREAM: Operation = ("GET", f"{API}/events/stream")
# Creating a token ends open mode, so the open run leaves it to the guarded one.
CREATE_TOKEN: Operation = ("POST", f"{API}/tokens")

# A subscription's URL must suit its kind and reach no refused address; its secret must hold
# a key of a sensible length.
_TARGET_RULES = {
    ("url", "subscription needs a"),
    ("url", "resolves to"),
    ("url", "does not resolve"),
    ("url", "is not a valid URL"),
    ("url", "names no host"),
    ("url", "port 0"),
    ("url", "#fragment"),
    ("secret", "must hold"),
    ("secret", "must be whsec_"),
}

# The rules the document states in prose only: (field, words of the refusal) by operation.
PROSE_RULES: dict[Operation, set[tuple[str, str]]] = {
    ("POST", f"{API}/models/{{model_id}}/performance"): {
        ("model_id", "does not match the path"),
        ("latency_p50_ms", "must not exceed latency_p95_ms"),
        ("latency_p95_ms", "must not exceed latency_p99_ms"),
        ("timestamp", "is in the future"),
        ("timestamp", "is out of the representable range"),
    },
    ("GET", f"{API}/models"): {("cursor", "is not a cursor this service handed out")},
    ("PATCH", f"{API}/models/{{model_id}}/settings"): {
        ("error_rate_warning", "must not exceed error_rate_critical")
    },
    ("POST", f"{API}/subscriptions"): {
        *_TARGET_RULES,
        ("secret", "only webhooks are signed"),
        ("secret", "must be whsec_"),
        ("secret", "must hold"),
        ("secret", "routing key"),
        ("event_types", "cannot take"),
    },
    ("POST", f"{API}/subscriptions/{{subscription_id}}/secret"): {
        ("secret", "must hold"),
        ("secret", "must be whsec_"),
        ("secret", "only webhooks are signed"),
    },
    ("POST", f"{API}/models/{{model_id}}/dependents"): {
        *_TARGET_RULES,
        ("name", "already has a dependent"),
    },
    ("POST", f"{API}/maintenance-windows"): {
        ("ends_at", "must be after starts_at"),
        ("ends_at", "is in the past"),
        ("ends_at", "lasts at most 31 days"),
        ("starts_at", "is out of the representable range"),
        ("ends_at", "is out of the representable range"),
        ("reason", "must be a non-empty string"),
    },
    ("PATCH", f"{API}/models/{{model_id}}/remediation"): {
        ("runbook_url", "must be an http or https URL"),
        ("playbook", "is not a registered playbook"),
    },
}

# A registered model is not in production until promoted: /production, /health and the rollback
# check answer 404 with this type, a state of the model rather than a missing resource, which
# the stateful phase's ensure_resource_availability cannot tell from one.
NO_PRODUCTION_VERSION = "urn:grace:problem:no-production-version"
# The components whose pattern lists every printable code point.
IDENTIFIERS = ("Identifier", "Tag", "EntryKind")


def fleet(grace: Grace, clock: FakeClock) -> None:
    """Real things for generated requests to reach: fraud_detector_v3 3.1.5 was replaced by
    3.2.1, whose degradation opened incident 1 and ran playbook 1 (rolling back to 3.1.5);
    churn_model 1.0 is healthy in production.  The document's examples name them."""
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


def document(app: FastAPI) -> dict[str, Any]:
    """The app's /openapi.json as a client gets it."""
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    spec: dict[str, Any] = copy.deepcopy(loaded.raw_schema)
    return spec


def operations_of(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def config(*, headers: dict[str, str], coverage: bool, parameters: dict[str, Any]) -> Any:
    """Every check and phase (coverage if asked), ASCII data, seeded and deterministic."""
    phases: dict[str, Any] = {
        "examples": {"enabled": True},
        "coverage": {"enabled": coverage},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": True, "max-steps": STEPS},
    }
    batch_rejections = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]
    operations: list[dict[str, Any]] = [
        # One item past the batch limit is refused as too large, as documented (413).
        {
            "include-path": f"{API}/performance/batch",
            "checks": {"negative_data_rejection": {"expected-statuses": batch_rejections}},
        }
    ]
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "headers": headers,
            "suppress-health-check": ["all"],
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
                "codec": "ascii",
            },
            "checks": {"enabled": True},
            "phases": phases,
            "parameters": parameters,
            "operations": operations,
        }
    )


def excused(failure: Failure, case: Any, response: Any) -> bool:
    """A valid request refused by a rule the document can state in prose only; or a model
    just registered, found with nothing in production yet (a state, not a missing thing)."""
    if isinstance(failure, EnsureResourceAvailability) and response.status_code == 404:
        return bool(json.loads(response.content).get("type") == NO_PRODUCTION_VERSION)
    rules = PROSE_RULES.get((case.operation.method.upper(), case.operation.path))
    if not rules or not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return False
    problem = json.loads(response.content)
    return any(
        problem.get("field") == name and words in problem.get("detail", "") for name, words in rules
    )


@dataclass
class Outcome:
    """What one run found: each failure or error as lines to read, the checks and operations."""

    failures: list[str] = field(default_factory=list)
    checks: set[str] = field(default_factory=set)
    operations: set[str] = field(default_factory=set)


def run(
    app: FastAPI,
    *,
    headers: dict[str, str],
    skip: set[Operation],
    coverage: bool,
    **parameters: Any,
) -> Outcome:
    """Run schemathesis over ``app``'s document, less the ``skip`` operations."""
    spec = document(app)
    for component in IDENTIFIERS:  # the same pattern, for ASCII text (see the module docstring)
        spec["components"]["schemas"][component]["pattern"] = identifier_pattern(below=128)
    settings = config(headers=headers, coverage=coverage, parameters=parameters)
    loaded = schemathesis.openapi.from_dict(spec, config=settings)
    loaded.app = app
    schema: BaseSchema = loaded
    for method, path in skip:
        schema = schema.exclude(method=method, path=path)

    @schema.hook
    def filter_failure(_: Any, failure: Failure, case: Any, response: Any) -> bool:
        return not excused(failure, case, response)

    outcome = Outcome()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            outcome.operations.add(event.recorder.label)
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    outcome.checks.add(node.name)
                    if node.failure_info is not None:
                        failure = node.failure_info.failure
                        outcome.failures.append(
                            f"{event.recorder.label} [{node.name}] {failure.title}: "
                            f"{failure.message}\n    {node.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            outcome.failures.append(f"error: {event!r}")
        elif isinstance(event, events.EngineFinished):
            outcome.failures.extend(
                f"after the run: {f.title}: {f.message}" for f in event.failures
            )
    return outcome


def labels(spec: dict[str, Any], less: set[Operation]) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, methods in spec["paths"].items()
        for method in methods
        if (method.upper(), path) not in less
    }


@pytest.mark.slow
def test_an_open_service_passes_every_check(build_api: BuildApi, clock: FakeClock) -> None:
    """Open mode: every phase, every check; the document asks for no token and needs none."""
    grace, app = build_api(allow_open=True, max_batch_snapshots=BATCH_LIMIT)
    fleet(grace, clock)

    outcome = run(app, headers={}, skip={STREAM, CREATE_TOKEN}, coverage=False)

    assert outcome.failures == [], "\n".join(outcome.failures)
    assert outcome.operations >= labels(document(app), {STREAM, CREATE_TOKEN})


@pytest.mark.slow
def test_a_guarded_service_passes_every_check_as_an_admin(
    build_api: BuildApi, clock: FakeClock
) -> None:
    """Tokens required: every phase and check, authenticated, the auth checks included."""
    grace, app = build_api(allow_open=False, max_batch_snapshots=BATCH_LIMIT)
    fleet(grace, clock)
    _, admin = grace.tokens.create("fuzzer", ["admin"])
    victim, _ = grace.tokens.create("victim", ["read"])  # the one token a run may revoke

    outcome = run(
        app,
        headers={"Authorization": f"Bearer {admin}"},
        skip={STREAM},
        coverage=True,
        **{"path.token_id": victim.token_id},
    )

    assert outcome.failures == [], "\n".join(outcome.failures)
    assert outcome.operations >= labels(document(app), {STREAM})
    assert outcome.checks >= {
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "positive_data_acceptance",
        "negative_data_rejection",
        "missing_required_header",
        "ignored_auth",
        "unsupported_method",
        "allow_header_conformance",
    }


# -- the document itself ------------------------------------------------------------------------


@pytest.fixture
def open_spec(build_api: BuildApi) -> dict[str, Any]:
    _, app = build_api(allow_open=True)
    return document(app)


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


def test_integers_beyond_64_bits_are_not_a_server_error(build_api: BuildApi) -> None:
    """Every unbounded integer parameter the schema documents, set to 2**64, is not a 500."""
    _, app = build_api(allow_open=True)
    schema: Any = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) == STREAM:
            continue
        for location, name in unbounded_integers(operation):
            path_parameters: dict[str, Any] = {
                p.name: {"model_id": MODEL, "version": "1"}.get(p.name, "1")
                for p in operation.path_parameters
            }
            query: dict[str, Any] = {}
            (path_parameters if location == "path" else query)[name] = 2**64
            body: dict[str, Any] = {}
            if operation.path.endswith("/notes"):  # the body is checked before the id is used
                body = {"body": {"message": "note"}, "media_type": "application/json"}
            case = operation.Case(path_parameters=path_parameters, query=query, **body)
            try:
                case.call_and_validate()
            except (Exception, FailureGroup) as exc:  # noqa: BLE001 - each one is reported
                failures.append(f"{operation.label} {location} {name}: {type(exc).__name__}")
    assert failures == []


def names_a_model(schema: dict[str, Any]) -> bool:
    """A $ref to a component, a list of them, or an optional one (anyOf [$ref, null])."""
    options = [schema, schema.get("items", {}), *schema.get("anyOf", [])]
    return any("$ref" in option for option in options)


def test_every_operation_documents_its_success_and_request_models(
    open_spec: dict[str, Any],
) -> None:
    """Each success answer and each request body is a named, described model."""
    missing = []
    for method, path, operation in operations_of(open_spec):
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
    assert "Problem" in open_spec["components"]["schemas"]


def test_errors_are_documented_as_problem_json(open_spec: dict[str, Any]) -> None:
    """Every documented error answer (4xx/5xx) has the media type the service sends."""
    wrong = [
        f"{method} {path} {status}: {sorted(response.get('content', {}))}"
        for method, path, operation in operations_of(open_spec)
        for status, response in operation["responses"].items()
        if status[0] in "45"
        and (method, path, status) != ("GET", "/readyz", "503")  # a health answer, not an error
        and PROBLEM_JSON not in response.get("content", {})
    ]
    assert wrong == []


def test_the_timeline_documents_how_to_page_it(open_spec: dict[str, Any]) -> None:
    """The timeline's documented answer names the key its next page is reached with."""
    operation = open_spec["paths"][f"{API}/models/{{model_id}}/timeline"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    model = open_spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "next_before" in model["properties"]
