"""The client's side of the wire: problems back to exceptions, records back to records, transports.

Error mapping is proven against ``httpx.MockTransport`` answers written the way
``grace.api.problems`` writes them; record rebuilding against the very Grace the
in-process registry reads, served through ``httpx.ASGITransport``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from grace.api.app import create_app
from grace.api.problems import grace_error_response
from grace.bootstrap import Grace
from grace.client import (
    AuthenticationError,
    AuthorizationError,
    RegistryClient,
    RemoteError,
    Unreachable,
)
from grace.clock import FakeClock
from grace.domain.stages import DeploymentStage
from grace.errors import (
    GovernanceRefused,
    GraceError,
    InvalidInput,
    NotFound,
    error_types,
)
from tests.client.support import GATES
from tests.helpers import DEGRADED, snapshot

FRAUD = "fraud_detector_v3"
CORE_ERRORS = sorted(
    (kind for kind in error_types().values() if not issubclass(kind, RemoteError)),
    key=lambda kind: kind.code(),
)

Handler = Callable[[httpx.Request], httpx.Response]


def answering(status: int, body: object, content_type: str = "application/problem+json") -> Handler:
    def handle(_: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers={"content-type": content_type})

    return handle


def mock_client(handler: Handler, token: str | None = None) -> RegistryClient:
    return RegistryClient("http://grace.test", token, transport=httpx.MockTransport(handler))


def a_raised(kind: type[GraceError]) -> GraceError:
    """An instance of ``kind`` as the core raises it (constructor arguments vary by type)."""
    samples: dict[str, tuple[Any, ...]] = {
        "invalid-input": ("error_rate", "must be at most 1, got 1.5"),
        "model-not-found": (FRAUD,),
        "no-production-version": (FRAUD,),
        "version-not-found": (FRAUD, "9.9"),
        "version-exists": (FRAUD, "3.2.1"),
        "incident-not-found": (7,),
        "execution-not-found": (7,),
        "playbook-not-found": ("heal", ["model_rollback"]),
        "token-not-found": ("abc",),
        "subscription-not-found": (7,),
        "delivery-not-found": (7,),
        "dependent-not-found": (FRAUD, "billing"),
        "invalid-transition": (FRAUD, "3.2.1", "production", "staging"),
        "governance-refused": (FRAUD, "3.2.1", ["bias check has not passed"]),
        "playbook-plugin-failed": ("heal = acme:heal", "could not be imported"),
    }
    return kind(*samples.get(kind.code(), ("it went wrong",)))


@pytest.mark.parametrize("kind", CORE_ERRORS, ids=lambda kind: kind.code())
def test_every_core_error_comes_back_as_its_own_type(kind: type[GraceError]) -> None:
    """A problem answer becomes the exact exception class the service raised, with its detail."""
    raised = a_raised(kind)
    answer = grace_error_response(raised)

    body = json.loads(bytes(answer.body))
    with mock_client(answering(answer.status_code, body)) as c, pytest.raises(GraceError) as caught:
        c.get_model(FRAUD, "9.9")

    assert type(caught.value) is kind
    assert caught.value.detail == raised.detail
    if isinstance(raised, InvalidInput):
        assert isinstance(caught.value, InvalidInput)
        assert (caught.value.field, caught.value.problem) == (raised.field, raised.problem)
    if isinstance(raised, GovernanceRefused):
        assert isinstance(caught.value, GovernanceRefused)
        assert caught.value.failed_gates == raised.failed_gates


def test_a_not_found_names_what_the_call_asked_for() -> None:
    """The problem names no value, so the client fills in the model and version it asked for."""
    answer = grace_error_response(a_raised(error_types()["version-not-found"]))

    body = json.loads(bytes(answer.body))
    with mock_client(answering(404, body)) as client, pytest.raises(NotFound) as caught:
        client.get_model(FRAUD, "9.9")

    assert vars(caught.value) == {
        "detail": "model 'fraud_detector_v3' has no version '9.9'",
        "model_id": FRAUD,
        "version": "9.9",
    }


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"type": "urn:grace:problem:unauthorized", "detail": "no"}, AuthenticationError),
        (403, {"type": "urn:grace:problem:forbidden", "detail": "no"}, AuthorizationError),
        (413, {"type": "urn:grace:problem:payload-too-large", "detail": "big"}, RemoteError),
        (500, {"type": "urn:grace:problem:internal-server-error", "detail": "x"}, RemoteError),
        (400, {"type": "about:blank", "detail": "x"}, RemoteError),
        (400, {"type": "urn:grace:problem:remote-error", "detail": "x"}, RemoteError),
        (502, b"<html>Bad gateway</html>", RemoteError),
        (401, b"", AuthenticationError),
    ],
)
def test_problems_the_core_never_raises_are_remote_errors_with_the_status(
    status: int, body: object, expected: type[RemoteError]
) -> None:
    """401, 403 and anything not in the core's hierarchy (or not problem+json) is a RemoteError."""
    with mock_client(answering(status, body)) as client, pytest.raises(RemoteError) as caught:
        client.list_models()

    assert type(caught.value) is expected
    assert caught.value.status == status


def test_a_success_that_is_not_json_is_a_remote_error() -> None:
    """A proxy's 200 page instead of the API's JSON does not pass for an answer."""
    proxy_page = answering(200, b"<html>login</html>", "text/html")
    with mock_client(proxy_page) as client, pytest.raises(RemoteError, match="not JSON"):
        client.list_models()


async def test_no_answer_is_unreachable_for_plain_methods_and_coroutines() -> None:
    """A refused connection raises Unreachable (a GraceError), from the httpx error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before the client connects

    async with RegistryClient(f"http://127.0.0.1:{port}", timeout=2.0) as client:
        with pytest.raises(Unreachable) as plain:
            client.get_model(FRAUD)
        with pytest.raises(Unreachable):
            await client.monitor_production_models()

    assert isinstance(plain.value.__cause__, httpx.ConnectError)


async def test_requests_carry_the_token_and_act_only_by_post() -> None:
    """The bearer token is sent; a dry-run check is a GET, an acting check a POST."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"model_id": FRAUD})

    async with mock_client(handle, token="grc_id_secret") as client:
        await client.check_rollback_triggers(FRAUD)
        await client.check_rollback_triggers(FRAUD, window_minutes=30, auto_remediate=True)
        client.get_model_health_summary(FRAUD)

    assert [(r.method, r.url.path, dict(r.url.params)) for r in seen] == [
        (
            "GET",
            "/api/model-registry/models/fraud_detector_v3/rollback-check",
            {"window_minutes": "10", "auto_remediate": "false"},
        ),
        (
            "POST",
            "/api/model-registry/models/fraud_detector_v3/rollback-check",
            {"window_minutes": "30", "auto_remediate": "true"},
        ),
        ("GET", "/api/model-registry/models/fraud_detector_v3/health", {}),
    ]
    assert {r.headers["authorization"] for r in seen} == {"Bearer grc_id_secret"}


class CountingTransport(httpx.MockTransport):
    def __init__(self, handler: Handler) -> None:
        super().__init__(handler)
        self.closed = 0
        self.aclosed = 0

    def close(self) -> None:
        self.closed += 1

    async def aclose(self) -> None:
        self.aclosed += 1


async def test_the_context_managers_release_the_connections() -> None:
    """`with` closes the plain client; `async with` closes both; a closed client opens anew."""
    transport = CountingTransport(answering(200, {"items": [], "next_cursor": None}))
    with RegistryClient("http://grace.test", transport=transport) as client:
        client.list_models()
    assert (transport.closed, transport.aclosed) == (1, 0)

    async with client:
        client.list_models()
        await client.monitor_production_models()
    assert (transport.closed, transport.aclosed) == (2, 1)


def test_coroutines_from_another_event_loop_need_aclose_first() -> None:
    """The coroutines' pool belongs to one loop; a second loop is refused until aclose()."""
    client = mock_client(answering(200, {"total_models": 0}))

    async def monitor(close: bool) -> None:
        await client.monitor_production_models()
        if close:
            await client.aclose()

    asyncio.run(monitor(close=True))
    asyncio.run(monitor(close=False))
    with pytest.raises(RuntimeError, match="another event loop"):
        asyncio.run(monitor(close=True))


class SyncOnly(httpx.BaseTransport):
    """A transport with no async side (as WSGITransport), to prove the coroutines still work."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._handler(request)


async def test_a_sync_only_transport_serves_the_coroutines_too() -> None:
    """With a plain transport, coroutines run its requests in a worker thread."""
    fleet = {"total_models": 3, "issues": []}
    async with RegistryClient("http://grace.test", transport=SyncOnly(answering(200, fleet))) as c:
        assert await c.monitor_production_models() == fleet


@pytest.fixture
async def asgi_client(grace: Grace) -> AsyncIterator[RegistryClient]:
    """A client over the app of the test's Grace, in-process (no network)."""
    transport = httpx.ASGITransport(create_app(grace, allow_open=True))
    async with RegistryClient("http://grace.test", transport=transport) as client:
        yield client
    # Closing stopped the loop thread that served the plain methods.
    assert "grace-client-loop" not in {t.name for t in threading.enumerate()}


async def test_records_rebuilt_from_json_equal_the_in_process_ones(
    asgi_client: RegistryClient, grace: Grace, clock: FakeClock
) -> None:
    """Entries, history, settings, events, incidents and runs compare equal to the core's own."""
    client, local = asgi_client, grace.registry
    for version in ("3.1.5", "3.2.1"):
        client.register_model(FRAUD, version, tags=["fraud"], metadata={"k": [1, 2]}, **GATES)
        clock.advance(seconds=1.5)
        client.update_deployment_status(FRAUD, DeploymentStage.PRODUCTION)
    client.configure_model(FRAUD, auto_remediate=True, thresholds={"latency_factor": 2})
    result = await client.record_performance_snapshot(
        snapshot(FRAUD, "3.2.1", at=clock.now(), base=DEGRADED)
    )
    assert result.check is not None
    assert result.check["remediation"] is not None

    for version in ("3.1.5", "3.2.1"):
        assert client.get_model(FRAUD, version) == local.get_model(FRAUD, version)
    assert client.list_models() == local.list_models()
    assert client.get_production_version(FRAUD) == local.get_production_version(FRAUD)
    assert client.get_stage_history(FRAUD) == local.get_stage_history(FRAUD)
    assert client.get_model_settings(FRAUD) == local.get_model_settings(FRAUD)
    assert client.get_timeline(FRAUD) == local.get_timeline(FRAUD)
    incident_id = result.check["incident_id"]
    assert isinstance(incident_id, int)
    assert client.incidents.get_incident(incident_id) == grace.incidents.get_incident(incident_id)
    assert client.incidents.list_incidents() == grace.incidents.list_incidents()
    assert client.engine.list_executions() == grace.engine.list_executions()
    execution_id = result.check["remediation"]["execution_id"]
    assert client.engine.get_execution(execution_id) == grace.engine.get_execution(execution_id)


async def test_values_the_service_refuses_come_back_naming_the_field(
    asgi_client: RegistryClient, clock: FakeClock
) -> None:
    """A snapshot altered after construction is refused by the service: InvalidInput, its field."""
    asgi_client.register_model(FRAUD, "3.2.1", stage="production", **GATES)
    good = snapshot(FRAUD, "3.2.1", at=clock.now())

    for field, value in [("error_rate", 1.5), ("latency_p50_ms", 900.0), ("version", "")]:
        tampered = dataclasses.replace(good)
        object.__setattr__(tampered, field, value)  # what a careless caller could send
        with pytest.raises(InvalidInput) as refused:
            await asgi_client.record_performance_snapshot(tampered)
        assert refused.value.field == field

    assert asgi_client.get_model_health_summary(FRAUD)["metrics"]["snapshot_count"] == 0
