"""Builders and assertions shared by the HTTP API tests: bodies, problems, a real server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.helpers import DEGRADED, HEALTHY

API = "/api/model-registry"
MODEL = "fraud_detector_v3"
PROBLEM_JSON = "application/problem+json"

# The guide's request body for POST /api/model-registry/models/{model_id}/performance, verbatim.
GUIDE_SNAPSHOT: dict[str, Any] = {
    "model_id": "fraud_detector_v3",
    "version": "3.2.1",
    "latency_p50_ms": 120.5,
    "latency_p95_ms": 245.3,
    "latency_p99_ms": 350.1,
    "requests_per_second": 250.0,
    "error_rate": 0.085,
    "ood_rate": 0.22,
    "input_drift_score": 0.35,
    "accuracy": 0.89,
}

ERROR_REASON = "High error rate: 8.50%"
OOD_REASON = "High OOD rate: 22.00%"
DRIFT_REASON = "Input distribution drift: 0.350"

# A version that passes every governance gate (the guide's Example 3).
GATES_PASSED: dict[str, Any] = {
    "expected_latency_p95_ms": 245.3,
    "constitutional_compliance": True,
    "bias_check_passed": True,
}


def client_for(app: FastAPI, token: str | None = None) -> httpx.AsyncClient:
    """An async client talking to ``app`` in-process, with a bearer token when given.

    Unexpected exceptions come back as the 500 response a real server would send, so a test
    can assert on the status instead of catching the exception.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver",
        headers=headers,
        timeout=60,
    )


def snapshot_body(
    version: str, *, base: dict[str, Any] | None = None, **values: Any
) -> dict[str, Any]:
    """A snapshot request body (healthy numbers unless ``base`` or ``values`` say otherwise)."""
    return {**(base or HEALTHY), "version": version, **values}


def degraded_body(version: str, **values: Any) -> dict[str, Any]:
    return snapshot_body(version, base=DEGRADED, **values)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == status
    assert body["type"].startswith("urn:grace:problem:")
    assert body["title"]
    assert body["detail"]
    return body


def ok(response: httpx.Response, status: int = 200) -> Any:
    """Assert a successful JSON answer with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def register_version(
    client: httpx.AsyncClient,
    model_id: str,
    version: str,
    *,
    production: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """Register a version that passes the governance gates, optionally promoting it."""
    body = {"model_id": model_id, "version": version, **GATES_PASSED, **fields}
    entry: dict[str, Any] = ok(await client.post(f"{API}/models", json=body), 201)
    if production:
        entry = ok(
            await client.post(
                f"{API}/models/{model_id}/versions/{version}/stage", json={"stage": "production"}
            )
        )
    return entry


async def record(client: httpx.AsyncClient, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Post one snapshot; return the recorded result."""
    result: dict[str, Any] = ok(
        await client.post(f"{API}/models/{model_id}/performance", json=body), 201
    )
    return result


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        http="h11",
        ws="none",
        loop="asyncio",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop within 10 s"
