"""The snapshot POST's fast path answers exactly as the route does, and only when it may."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from grace.api.app import create_app
from grace.api.asgi import WHOLE_BODY
from grace.api.deps import ApiContext
from grace.api.fastpath import SnapshotFastPath
from grace.bootstrap import Grace, build
from grace.clock import FakeClock
from grace.domain.tokens import Scope as TokenScope
from tests.api.support import API, GATES_PASSED, client_for, degraded_body, snapshot_body
from tests.conftest import make_settings
from tests.helpers import register

JSON = "application/json"


@dataclass
class Service:
    grace: Grace
    app: FastAPI
    tokens: dict[str, str]


def _service(path: Path, clock: FakeClock, *, fast: bool) -> Service:
    grace = build(make_settings(f"sqlite:///{path}"), clock=clock)
    tokens = {
        "ingest": grace.tokens.create("ingest", [TokenScope.INGEST])[1],
        "read": grace.tokens.create("read", [TokenScope.READ])[1],
        "admin": grace.tokens.create("admin", [TokenScope.ADMIN])[1],
    }
    app = create_app(grace, allow_open=False)
    if not fast:  # the stack is built at the first request, from this list
        app.user_middleware = [
            m
            for m in app.user_middleware
            if m.cls is not SnapshotFastPath  # type: ignore[comparison-overlap]
        ]
    return Service(grace, app, tokens)


@pytest.fixture
def services(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Service, Service]]:
    """Two identical guarded services, one with the fast path and one without."""
    pair = (
        _service(tmp_path / "fast.db", clock, fast=True),
        _service(tmp_path / "route.db", clock, fast=False),
    )
    yield pair
    for service in pair:
        service.grace.close()


async def _setup(service: Service) -> None:
    async with client_for(service.app, service.tokens["admin"]) as admin:
        for version, stage in (("1.0", "production"), ("2.0", "staging")):
            body = {"model_id": "fraud", "version": version, "stage": stage, **GATES_PASSED}
            assert (await admin.post(f"{API}/models", json=body)).status_code == 201
        settings = {"auto_remediate": False}
        assert (await admin.patch(f"{API}/models/fraud/settings", json=settings)).status_code == 200


def _cases(clock: FakeClock) -> list[tuple[str, str, str | None, str | bytes]]:
    """(token, model id in the path, content type, body) of requests ordinary and not."""
    future = (clock.now() + timedelta(hours=1)).isoformat()
    healthy = json.dumps(snapshot_body("1.0"))
    return [
        ("ingest", "fraud", JSON, healthy),
        ("ingest", "fraud", "application/json; charset=utf-8", json.dumps(snapshot_body("2.0"))),
        ("ingest", "fraud", JSON, json.dumps(degraded_body("1.0"))),
        ("ingest", "fraud", JSON, json.dumps(degraded_body("1.0"))),  # the same incident again
        ("ingest", "fraud", "text/plain", healthy),
        ("ingest", "fraud", None, healthy),
        ("ingest", "fraud", JSON, healthy[:-3]),
        ("ingest", "fraud", JSON, b""),
        ("ingest", "fraud", JSON, healthy.replace("0.01", "NaN", 1)),
        ("ingest", "fraud", JSON, healthy.replace("0.01", "1e400", 1)),
        ("ingest", "fraud", JSON, healthy.replace("0.01", "true", 1)),
        ("ingest", "fraud", JSON, healthy[:-1] + ', "version": "2.0"}'),  # a repeated key
        ("ingest", "fraud", JSON, healthy.encode() + b"\xff"),
        ("ingest", "fraud", JSON, healthy.encode("utf-16")),
        ("ingest", "fraud", JSON, '{"version":' + "[" * 100_000 + "]" * 100_000 + "}"),
        (
            "ingest",
            "fraud",
            JSON,
            '{"version":"1.0","x":' + '{"a":' * 100_000 + "1" + "}" * 100_000 + "}",
        ),
        ("ingest", "fraud", JSON, json.dumps(snapshot_body("1.0", error_rate=2))),
        ("ingest", "fraud", JSON, json.dumps(snapshot_body("1.0", latency_p50_ms=900.0))),
        ("ingest", "fraud", JSON, json.dumps({**snapshot_body("1.0"), "model_id": "other"})),
        ("ingest", "fraud", JSON, json.dumps(snapshot_body("1.0", timestamp=future))),
        ("ingest", "fraud", JSON, json.dumps(snapshot_body("9.9"))),
        ("ingest", "ghost", JSON, healthy),
        ("ingest", "%20fraud", JSON, healthy),
        ("ingest", "fr%2Fau", JSON, healthy),
        ("read", "fraud", JSON, healthy),
        ("none", "fraud", JSON, healthy),
        ("bogus", "fraud", JSON, healthy),
    ]


async def _ask(service: Service, token: str, model_id: str, kind: str | None, body: Any) -> Any:
    headers = {} if kind is None else {"content-type": kind}
    secret = {"none": None, "bogus": "grc_nope_nope"}.get(token, service.tokens.get(token))
    async with client_for(service.app, secret) as client:
        response = await client.post(
            f"{API}/models/{model_id}/performance", content=body, headers=headers
        )
    answer = response.json()
    return response.status_code, response.headers["content-type"], answer


async def test_the_fast_path_answers_every_request_as_the_route_does(
    services: tuple[Service, Service], clock: FakeClock
) -> None:
    """Valid, invalid, refused by the core, unauthorized: the same status, type and body."""
    fast, route = services
    for service in services:
        await _setup(service)
    for case in _cases(clock):
        assert await _ask(fast, *case) == await _ask(route, *case), case
    incidents = [s.grace.incidents.list_incidents(resource_id="fraud") for s in services]
    summaries = [[(i.id, i.occurrences, i.status) for i in found] for found in incidents]
    assert summaries[0] == summaries[1]
    assert len(summaries[0]) == 1  # the degraded snapshots opened one incident in each


class _Inner:
    """The app behind the fast path: records what reaches it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, _scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        self.bodies.append(message.get("body", b""))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def _through(
    path: SnapshotFastPath, route: str, body: bytes, content_type: bytes = b"application/json"
) -> int:
    scope = {
        "type": "http",
        "method": "POST",
        "path": route,
        "headers": [(b"content-type", content_type)],
        WHOLE_BODY: body,  # as BodyGuard, outside the fast path, leaves it
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await path(scope, receive, send)
    status: int = sent[0]["status"]
    return status


async def test_only_ordinary_requests_skip_the_app_and_the_rest_reach_it_whole(
    grace: Grace,
) -> None:
    """A valid snapshot is answered without the app; anything unusual reaches the app with
    its body intact."""
    register(grace.registry, "fraud", "1.0", production=True)
    inner = _Inner()
    path = SnapshotFastPath(inner, ApiContext(grace, allow_open=True, started_at=grace.clock.now()))
    good = json.dumps(snapshot_body("1.0")).encode()
    route = f"{API}/models/fraud/performance"

    assert await _through(path, route, good) == 201
    assert await _through(path, f"{API}/models/ghost/performance", good) == 404  # the core's
    assert inner.bodies == []
    unusual = [
        (route, b"{not json", b"application/json"),
        (route, good, b"text/plain"),
        (route, b"[]", b"application/json"),
        (f"{API}/models/fr/au/performance", good, b"application/json"),
        (f"{API}/models/fraud/performances", good, b"application/json"),
        (f"{API}/models/fraud/versions/1.0/performance", good, b"application/json"),
    ]
    for where, body, kind in unusual:
        assert await _through(path, where, body, kind) == 299
    assert inner.bodies == [body for _, body, _ in unusual]
