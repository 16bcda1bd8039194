"""API tokens and scopes: every route is guarded, open mode is loopback-only and token-less,
secrets are shown once and stored only as a hash.

The route walk introspects the app instead of listing routes by hand, so a route added without
its ``Authorizer`` fails here.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import select

from grace.adapters.sqlstore.schema import api_tokens
from grace.api.app import create_app
from grace.api.deps import ApiContext, Authorizer
from grace.bootstrap import Grace
from grace.clock import FakeClock
from grace.domain.tokens import Scope
from grace.server import RefusedToStart, startup_verdict
from tests.api.conftest import BuildApi
from tests.api.support import (
    API,
    MODEL,
    PROBLEM_JSON,
    client_for,
    degraded_body,
    ok,
    problem,
    record,
    register_version,
    serving,
    snapshot_body,
)

# Routes that answer without a token: the probes an orchestrator calls, and the documentation.
UNGUARDED_API_ROUTES = {("GET", "/healthz"), ("GET", "/readyz")}
DOCUMENTATION = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

# The scope each route needs, as the scopes are documented (grace.domain.tokens.Scope); a
# tuple where any of several will do (rollback-check: a dry run reads, remediating operates).
EXPECTED_SCOPES: dict[tuple[str, str], Scope | tuple[Scope, ...]] = {
    ("GET", f"{API}/monitor/production"): Scope.READ,
    ("GET", f"{API}/models/{{model_id}}/health"): Scope.READ,
    ("POST", f"{API}/models/{{model_id}}/performance"): Scope.INGEST,
    ("POST", f"{API}/performance/batch"): Scope.INGEST,
    ("GET", f"{API}/models/{{model_id}}/rollback-check"): (Scope.READ, Scope.OPERATE),
    ("POST", f"{API}/models/{{model_id}}/rollback-check"): (Scope.READ, Scope.OPERATE),
    ("POST", f"{API}/models/{{model_id}}/rollback"): Scope.OPERATE,
    ("POST", f"{API}/models"): Scope.WRITE,
    ("GET", f"{API}/models"): Scope.READ,
    ("GET", f"{API}/models/{{model_id}}"): Scope.READ,
    ("GET", f"{API}/models/{{model_id}}/production"): Scope.READ,
    ("GET", f"{API}/models/{{model_id}}/versions/{{version}}"): Scope.READ,
    ("PATCH", f"{API}/models/{{model_id}}/versions/{{version}}"): Scope.WRITE,
    ("POST", f"{API}/models/{{model_id}}/versions/{{version}}/stage"): Scope.WRITE,
    ("POST", f"{API}/models/{{model_id}}/stage"): Scope.WRITE,
    ("GET", f"{API}/models/{{model_id}}/history"): Scope.READ,
    ("GET", f"{API}/models/{{model_id}}/settings"): Scope.READ,
    ("PATCH", f"{API}/models/{{model_id}}/settings"): Scope.WRITE,
    ("GET", f"{API}/models/{{model_id}}/timeline"): Scope.READ,
    ("GET", f"{API}/incidents"): Scope.READ,
    ("GET", f"{API}/incidents/stats"): Scope.READ,
    ("GET", f"{API}/incidents/{{incident_id}}"): Scope.READ,
    ("POST", f"{API}/incidents/{{incident_id}}/acknowledge"): Scope.OPERATE,
    ("POST", f"{API}/incidents/{{incident_id}}/resolve"): Scope.OPERATE,
    ("POST", f"{API}/incidents/{{incident_id}}/notes"): Scope.OPERATE,
    ("GET", f"{API}/playbooks"): Scope.READ,
    ("GET", f"{API}/executions"): Scope.READ,
    ("GET", f"{API}/executions/{{execution_id}}"): Scope.READ,
    ("GET", f"{API}/events"): Scope.READ,
    ("GET", f"{API}/events/stream"): Scope.READ,
    ("GET", f"{API}/tokens"): Scope.ADMIN,
    ("POST", f"{API}/tokens"): Scope.ADMIN,
    ("DELETE", f"{API}/tokens/{{token_id}}"): Scope.ADMIN,
    ("POST", f"{API}/subscriptions"): Scope.ADMIN,
    ("GET", f"{API}/subscriptions"): Scope.ADMIN,
    ("GET", f"{API}/subscriptions/{{subscription_id}}"): Scope.ADMIN,
    ("DELETE", f"{API}/subscriptions/{{subscription_id}}"): Scope.ADMIN,
    ("POST", f"{API}/subscriptions/{{subscription_id}}/replay"): Scope.ADMIN,
    ("POST", f"{API}/subscriptions/{{subscription_id}}/secret"): Scope.ADMIN,
    ("DELETE", f"{API}/subscriptions/{{subscription_id}}/secret/previous"): Scope.ADMIN,
    ("GET", f"{API}/deliveries"): Scope.ADMIN,
    ("GET", f"{API}/deliveries/{{delivery_id}}"): Scope.ADMIN,
    ("POST", f"{API}/deliveries/{{delivery_id}}/replay"): Scope.ADMIN,
    ("POST", f"{API}/models/{{model_id}}/dependents"): Scope.ADMIN,
    ("GET", f"{API}/models/{{model_id}}/dependents"): Scope.ADMIN,
    ("DELETE", f"{API}/models/{{model_id}}/dependents/{{name}}"): Scope.ADMIN,
    ("GET", f"{API}/models/{{model_id}}/remediation"): Scope.READ,
    ("PATCH", f"{API}/models/{{model_id}}/remediation"): Scope.WRITE,
    ("POST", f"{API}/models/{{model_id}}/remediation/breaker/close"): Scope.OPERATE,
    ("POST", f"{API}/executions/{{execution_id}}/approve"): Scope.OPERATE,
    ("POST", f"{API}/executions/{{execution_id}}/deny"): Scope.OPERATE,
    ("POST", f"{API}/drills"): Scope.OPERATE,
    ("POST", f"{API}/maintenance-windows"): Scope.OPERATE,
    ("GET", f"{API}/maintenance-windows"): Scope.READ,
    ("GET", f"{API}/maintenance-windows/{{window_id}}"): Scope.READ,
    ("DELETE", f"{API}/maintenance-windows/{{window_id}}"): Scope.OPERATE,
}

# A minimal valid body for each route that takes one, so nothing but the token decides.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", f"{API}/models/{{model_id}}/performance"): snapshot_body("3.2.1"),
    ("POST", f"{API}/performance/batch"): {"snapshots": []},
    ("POST", f"{API}/models"): {"model_id": "walked_model", "version": "1"},
    ("PATCH", f"{API}/models/{{model_id}}/versions/{{version}}"): {"description": "walked"},
    ("POST", f"{API}/models/{{model_id}}/versions/{{version}}/stage"): {"stage": "archived"},
    ("POST", f"{API}/models/{{model_id}}/stage"): {"stage": "archived"},
    ("PATCH", f"{API}/models/{{model_id}}/settings"): {"window_minutes": 15},
    ("POST", f"{API}/incidents/{{incident_id}}/acknowledge"): {"note": "walked"},
    ("POST", f"{API}/incidents/{{incident_id}}/resolve"): {"note": "walked"},
    ("POST", f"{API}/incidents/{{incident_id}}/notes"): {"message": "walked"},
    ("POST", f"{API}/tokens"): {"name": "walked", "scopes": ["read"]},
    ("POST", f"{API}/subscriptions"): {"kind": "nats", "url": "nats://127.0.0.1:4222"},
    ("POST", f"{API}/subscriptions/{{subscription_id}}/replay"): {"from_seq": 1},
    ("POST", f"{API}/subscriptions/{{subscription_id}}/secret"): {},
    ("POST", f"{API}/models/{{model_id}}/dependents"): {
        "name": "walked",
        "url": "https://93.184.215.14/hook",
    },
    ("PATCH", f"{API}/models/{{model_id}}/remediation"): {"dry_run": False},
    ("POST", f"{API}/drills"): {"open_incidents": False},
    ("POST", f"{API}/maintenance-windows"): {
        "model_id": None,
        "starts_at": "2030-01-01T00:00:00Z",
        "ends_at": "2030-01-01T01:00:00Z",
        "reason": "walked",
    },
}
STREAM = ("GET", f"{API}/events/stream")
# Required query parameters.
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("POST", f"{API}/models/{{model_id}}/rollback"): {"reason": "manual_intervention"},
}


@dataclass(frozen=True)
class Endpoint:
    """One method of one route, as the app serves it."""

    method: str
    path: str
    authorizers: tuple[Authorizer, ...]
    takes_body: bool
    required_query: frozenset[str]

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def scope(self) -> Scope:
        (authorizer,) = self.authorizers
        return authorizer.scope

    @property
    def scopes(self) -> tuple[Scope, ...]:
        """Every scope that lets a token through this route's guard."""
        (authorizer,) = self.authorizers
        return authorizer.scopes

    def url(self, path_values: dict[str, str]) -> str:
        return self.path.format(**path_values)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def find_authorizers(dependant: Dependant) -> list[Authorizer]:
    """Every Authorizer among the dependencies of ``dependant``, however deeply nested."""
    found = [dependant.call] if isinstance(dependant.call, Authorizer) else []
    for sub in dependant.dependencies:
        found.extend(find_authorizers(sub))
    return found


@dataclass
class RouteMap:
    endpoints: list[Endpoint] = field(default_factory=list)
    other_paths: set[str] = field(default_factory=set)


def walk_routes(app: FastAPI) -> RouteMap:
    """Every route of ``app``, with included routers flattened (FastAPI nests them lazily)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    items: Iterable[Any] = iterate(app.routes) if iterate is not None else app.routes
    found = RouteMap()
    for item in items:
        route = getattr(item, "original_route", item)
        if not isinstance(route, APIRoute):
            found.other_paths.add(str(item.path))
            continue
        dependant: Dependant = item.dependant
        required = frozenset(p.alias for p in dependant.query_params if p.field_info.is_required())
        for method in sorted(item.methods):
            found.endpoints.append(
                Endpoint(
                    method,
                    str(item.path),
                    tuple(find_authorizers(dependant)),
                    bool(dependant.body_params) or "requestBody" in (route.openapi_extra or {}),
                    required,
                )
            )
    return found


@dataclass
class Tokens:
    """Secrets by purpose; ``all_but[s]`` holds every scope except ``s`` (and never admin)."""

    admin: str
    only: dict[Scope, str]
    all_but: dict[Scope, str]
    victim_id: str


def make_tokens(grace: Grace) -> Tokens:
    only = {s: grace.tokens.create(f"only_{s.value}", [s])[1] for s in Scope}
    all_but = {
        s: grace.tokens.create(f"all_but_{s.value}", set(Scope) - {s, Scope.ADMIN})[1]
        for s in Scope
    }
    victim, _ = grace.tokens.create("victim", [Scope.READ])
    return Tokens(grace.tokens.create("root", [Scope.ADMIN])[1], only, all_but, victim.token_id)


@dataclass
class Secured:
    """A service on loopback that has tokens, with a model, an incident and a playbook run."""

    grace: Grace
    app: FastAPI
    tokens: Tokens
    routes: RouteMap

    @property
    def path_values(self) -> dict[str, str]:
        return {
            "model_id": MODEL,
            "version": "3.2.1",
            "incident_id": "1",
            "execution_id": "1",
            "token_id": self.tokens.victim_id,
            "subscription_id": "1",
            "delivery_id": "1",
            "name": "walked",
            "window_id": "1",
        }

    def guarded(self) -> list[Endpoint]:
        return [e for e in self.routes.endpoints if e.key not in UNGUARDED_API_ROUTES]

    async def call(self, endpoint: Endpoint, token: str | None) -> httpx.Response:
        async with client_for(self.app, token) as client:
            return await self.send(client, endpoint)

    async def send(self, client: httpx.AsyncClient, endpoint: Endpoint) -> httpx.Response:
        url = endpoint.url(self.path_values)
        params = QUERIES.get(endpoint.key, {})
        body = BODIES.get(endpoint.key)
        return await client.request(endpoint.method, url, params=params, json=body)


@pytest.fixture
async def secured(build_api: BuildApi) -> Secured:
    grace, app = build_api(token_cache_seconds=0)
    async with client_for(app) as anonymous:
        await register_version(anonymous, MODEL, "3.1.5", production=True)
        await register_version(anonymous, MODEL, "3.2.1", production=True)
        ok(await anonymous.patch(f"{API}/models/{MODEL}/settings", json={"auto_remediate": True}))
        await record(anonymous, MODEL, degraded_body("3.2.1"))
    tokens = make_tokens(grace)  # from here on the service needs tokens
    return Secured(grace, app, tokens, walk_routes(app))


def test_every_route_but_probes_and_docs_has_exactly_one_authorizer(secured: Secured) -> None:
    """Each API route carries one Authorizer; only /healthz, /readyz and the docs have none."""
    problems = [
        f"{e}: {len(e.authorizers)} Authorizers"
        for e in secured.routes.endpoints
        if len(e.authorizers) != (0 if e.key in UNGUARDED_API_ROUTES else 1)
    ]
    assert problems == []
    assert secured.routes.other_paths == DOCUMENTATION
    assert {e.key for e in secured.routes.endpoints} >= UNGUARDED_API_ROUTES


def test_every_route_needs_the_documented_scope(secured: Secured) -> None:
    """The scope each Authorizer asks for is the one the scope table documents."""
    found = {e.key: e.scopes[0] if len(e.scopes) == 1 else e.scopes for e in secured.guarded()}
    assert found == EXPECTED_SCOPES


def test_every_route_taking_input_has_a_valid_example_here(secured: Secured) -> None:
    """The walk sends a valid body and every required query parameter, so only auth decides."""
    for endpoint in secured.guarded():
        assert endpoint.takes_body == (endpoint.key in BODIES), endpoint
        assert endpoint.required_query == frozenset(QUERIES.get(endpoint.key, {})), endpoint


async def test_every_route_refuses_a_request_without_a_token(secured: Secured) -> None:
    """No Authorization header: 401 problem with a Bearer challenge, on every guarded route."""
    failures = []
    for endpoint in secured.guarded():
        response = await secured.call(endpoint, None)
        if (
            response.status_code != 401
            or response.headers.get("www-authenticate") != 'Bearer realm="grace"'
            or response.headers.get("content-type") != PROBLEM_JSON
        ):
            failures.append(f"{endpoint}: {response.status_code} {response.headers}")
    assert failures == []


@pytest.mark.parametrize(
    "wrong",
    [
        "grc_000000000000_not-the-secret",
        "not-a-grace-token",
        "grc__",
        "grc_{victim}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
async def test_every_route_refuses_a_wrong_token(secured: Secured, wrong: str) -> None:
    """A token that is not one the service issued (or a real id with a wrong secret) is 401."""
    token = wrong.format(victim=secured.tokens.victim_id)
    failures = []
    for endpoint in secured.guarded():
        response = await secured.call(endpoint, token)
        if response.status_code != 401 or "www-authenticate" not in response.headers:
            failures.append(f"{endpoint}: {response.status_code}")
    assert failures == []


async def test_every_route_refuses_a_token_without_its_scope(secured: Secured) -> None:
    """A token holding every other scope (but not admin) is 403 on each route."""
    failures = []
    for endpoint in secured.guarded():
        others = set(Scope) - {*endpoint.scopes, Scope.ADMIN}
        _, token = secured.grace.tokens.create("lacking", others)
        response = await secured.call(endpoint, token)
        if response.status_code != 403 or response.headers.get("content-type") != PROBLEM_JSON:
            failures.append(f"{endpoint}: {response.status_code} {response.text}")
        elif not all(repr(s.value) in response.json()["detail"] for s in endpoint.scopes):
            failures.append(f"{endpoint}: the 403 does not name {endpoint.scopes}")
    assert failures == []


@pytest.mark.parametrize("holder", ["exact", "admin"])
async def test_every_route_lets_its_scope_through(secured: Secured, holder: str) -> None:
    """The token with exactly the route's scope, and an admin token, pass the guard."""
    failures = []
    for endpoint in secured.guarded():
        if endpoint.key == STREAM:
            continue  # never ends in-process; test_event_stream_admits_a_read_token covers it
        for scope in endpoint.scopes:
            token = secured.tokens.admin if holder == "admin" else secured.tokens.only[scope]
            response = await secured.call(endpoint, token)
            if response.status_code in {401, 403} or response.status_code >= 500:
                failures.append(f"{endpoint} ({scope.value}): {response.status_code}")
    assert failures == []


async def test_an_anonymous_request_with_an_invalid_body_is_refused_before_validation(
    secured: Secured,
) -> None:
    """The token is checked before the body's fields: a wrong body without a token is 401."""
    async with client_for(secured.app) as anonymous:
        response = await anonymous.post(f"{API}/models", json={"unexpected": True})
    problem(response, 401)


async def test_auto_remediation_through_rollback_check_needs_operate(secured: Secured) -> None:
    """rollback-check is a read, but auto_remediate=true acts and needs the operate scope."""
    url = f"{API}/models/{MODEL}/rollback-check"
    async with client_for(secured.app, secured.tokens.only[Scope.READ]) as reader:
        dry = await reader.get(url, params={"auto_remediate": "false"})
        refused = await reader.post(url, params={"auto_remediate": "true"})
    async with client_for(secured.app, secured.tokens.only[Scope.OPERATE]) as operator:
        operator_dry = await operator.get(url, params={"auto_remediate": "false"})
        acted = await operator.post(url, params={"auto_remediate": "true"})

    assert ok(dry)["auto_remediate"] is False
    assert "operate" in problem(refused, 403)["detail"]
    assert ok(operator_dry)["auto_remediate"] is False
    assert ok(acted)["auto_remediate"] is True


async def test_actions_are_recorded_under_the_tokens_name(secured: Secured) -> None:
    """Who acknowledged an incident is the name of the token that did it."""
    async with client_for(secured.app, secured.tokens.only[Scope.OPERATE]) as operator:
        incident = ok(await operator.post(f"{API}/incidents/1/acknowledge"))
    assert incident["acknowledged_by"] == "only_operate"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc"])
async def test_a_malformed_authorization_header_is_401(secured: Secured, header: str) -> None:
    """Anything but `Bearer <token>` counts as no token."""
    async with client_for(secured.app) as client:
        response = await client.get(f"{API}/models", headers={"Authorization": header})
    problem(response, 401)


async def test_probes_and_docs_answer_without_a_token(secured: Secured) -> None:
    """/healthz, /readyz, /docs and /openapi.json stay reachable when tokens are required."""
    async with client_for(secured.app) as anonymous:
        for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
            assert (await anonymous.get(path)).status_code == 200, path


def test_event_stream_admits_a_read_token_and_refuses_anonymous(secured: Secured) -> None:
    """Over real HTTP the live stream needs a token with read: anonymous 401, reader connected."""
    url = f"{API}/events/stream"
    with serving(secured.app) as base, httpx.Client(base_url=base, timeout=5) as http:
        anonymous = http.get(url)
        auth = {"Authorization": f"Bearer {secured.tokens.only[Scope.READ]}"}
        with http.stream("GET", url, headers=auth) as stream:
            status = stream.status_code
            first = next(stream.iter_lines())

    assert problem(anonymous, 401)
    assert (status, first) == (200, ": connected")


# -- open mode -------------------------------------------------------------------------------------


async def test_open_mode_serves_anonymous_requests_with_every_scope(
    client: httpx.AsyncClient,
) -> None:
    """On loopback with no token, anonymous requests pass every scope and act as `anonymous`."""
    await register_version(client, MODEL, "3.2.1", production=True)
    ok(await client.get(f"{API}/models"))
    ok(await client.get(f"{API}/tokens"))
    history = ok(await client.get(f"{API}/models/{MODEL}/history"))
    assert history[-1]["actor"] == "anonymous"


async def test_the_first_token_ends_open_mode(client: httpx.AsyncClient) -> None:
    """Creating a token over the open API closes it: anonymous is refused, the new token works."""
    created = ok(
        await client.post(f"{API}/tokens", json={"name": "first_admin", "scopes": ["admin"]}), 201
    )
    secret = created["token"]
    assert re.fullmatch(r"grc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", secret)

    problem(await client.get(f"{API}/models"), 401)
    listed = ok(await client.get(f"{API}/tokens", headers={"Authorization": f"Bearer {secret}"}))
    assert [t["name"] for t in listed] == ["first_admin"]
    assert "token" not in listed[0]


async def test_revoking_every_token_leaves_a_guarded_service_guarded(
    build_api: BuildApi, clock: FakeClock
) -> None:
    """A service that started with tokens never turns open while it runs, whatever is revoked."""
    grace, _ = build_api(token_cache_seconds=0)
    token, secret = grace.tokens.create("only", [Scope.ADMIN])
    app = create_app(grace, allow_open=True)
    async with client_for(app, secret) as admin:
        ok(await admin.delete(f"{API}/tokens/{token.token_id}"))
    async with client_for(app) as anonymous:
        problem(await anonymous.get(f"{API}/models"), 401)
        grab = await anonymous.post(f"{API}/tokens", json={"name": "x", "scopes": ["admin"]})
    problem(grab, 401)
    clock.advance(timedelta(seconds=1))
    async with client_for(create_app(grace, allow_open=True)) as after_restart:
        ok(await after_restart.get(f"{API}/models"))  # a restart with no token is open again


async def test_a_revoked_token_is_refused(build_api: BuildApi) -> None:
    """After revocation (through the API or the core) the token is 401 at once (cache 0 s)."""
    grace, app = build_api(token_cache_seconds=0)
    _, admin = grace.tokens.create("admin", ["admin"])
    doomed, doomed_secret = grace.tokens.create("doomed", ["read"])
    other, other_secret = grace.tokens.create("other", ["read"])

    async with client_for(app, doomed_secret) as doomed_client:
        ok(await doomed_client.get(f"{API}/models"))
        async with client_for(app, admin) as admin_client:
            revoked = ok(await admin_client.delete(f"{API}/tokens/{doomed.token_id}"))
        refused = await doomed_client.get(f"{API}/models")
    grace.tokens.revoke(other.token_id)
    async with client_for(app, other_secret) as other_client:
        also_refused = await other_client.get(f"{API}/models")

    assert (revoked["active"], revoked["revoked_at"]) == (False, "2025-11-13T15:30:00Z")
    assert "revoked" in problem(refused, 401)["detail"]
    problem(also_refused, 401)


async def test_revocation_through_the_service_is_immediate_despite_the_cache(
    build_api: BuildApi,
) -> None:
    """With the default 2 s verification cache, revoking here still refuses the next request."""
    grace, app = build_api()
    assert grace.settings.token_cache_seconds == 2
    token, secret = grace.tokens.create("cached", ["read"])
    async with client_for(app, secret) as client:
        ok(await client.get(f"{API}/models"))  # now in the cache
        grace.tokens.revoke(token.token_id)
        refused = await client.get(f"{API}/models")
    problem(refused, 401)


async def test_without_allow_open_every_route_refuses_anonymous_even_with_no_token(
    build_api: BuildApi,
) -> None:
    """allow_open=False (not loopback, not --insecure) and no token at all: everything is 401."""
    grace, app = build_api(allow_open=False)
    assert not grace.tokens.any_active()
    routes = walk_routes(app)
    failures = []
    async with client_for(app) as anonymous:
        for endpoint in routes.endpoints:
            if endpoint.key in UNGUARDED_API_ROUTES or endpoint.path.endswith("/stream"):
                continue
            response = await anonymous.request(
                endpoint.method,
                endpoint.url(
                    {
                        "model_id": MODEL,
                        "version": "1",
                        "incident_id": "1",
                        "execution_id": "1",
                        "token_id": "x",
                        "subscription_id": "1",
                        "delivery_id": "1",
                        "name": "x",
                        "window_id": "1",
                    }
                ),
                params=QUERIES.get(endpoint.key, {}),
                json=BODIES.get(endpoint.key),
            )
            if response.status_code != 401:
                failures.append(f"{endpoint}: {response.status_code}")
        assert (await anonymous.get("/healthz")).status_code == 200
    assert failures == []


# -- startup verdict -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1"])
def test_loopback_without_tokens_starts_open_and_says_so(host: str) -> None:
    """With no token, a loopback address may serve anonymously, and the operator is told."""
    allow_open, message = startup_verdict(host, insecure=False, tokens_exist=False)
    assert allow_open is True
    assert "OPEN" in message
    assert host in message


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "grace.example.com"])  # noqa: S104
def test_a_public_address_without_tokens_refuses_to_start(host: str) -> None:
    """With no token, any non-loopback address is refused unless --insecure is given."""
    with pytest.raises(RefusedToStart, match="grace tokens create"):
        startup_verdict(host, insecure=False, tokens_exist=False)


def test_insecure_allows_a_public_address_without_tokens_and_warns() -> None:
    """--insecure lets a public address serve open, with a warning that says so."""
    allow_open, message = startup_verdict("0.0.0.0", insecure=True, tokens_exist=False)  # noqa: S104
    assert allow_open is True
    assert "--insecure" in message
    assert "anyone" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])  # noqa: S104
@pytest.mark.parametrize("insecure", [False, True])
def test_once_tokens_exist_nothing_is_open(host: str, insecure: bool) -> None:
    """Tokens exist: every request needs one, whatever the address or --insecure."""
    allow_open, message = startup_verdict(host, insecure=insecure, tokens_exist=True)
    assert allow_open is False
    assert "bearer token" in message


# -- the secret -----------------------------------------------------------------------------------


async def test_the_secret_never_reaches_the_logs(
    client: httpx.AsyncClient, grace: Grace, caplog: pytest.LogCaptureFixture
) -> None:
    """Creating, using, misusing and revoking tokens logs nothing containing a secret."""
    caplog.set_level(logging.DEBUG)
    created = ok(await client.post(f"{API}/tokens", json={"name": "ops", "scopes": ["admin"]}), 201)
    api_secret = created["token"]
    core_token, core_secret = grace.tokens.create("core", ["read"])
    auth = {"Authorization": f"Bearer {api_secret}"}
    ok(await client.get(f"{API}/tokens", headers=auth))
    ok(await client.get(f"{API}/models", headers={"Authorization": f"Bearer {core_secret}"}))
    forbidden = await client.post(
        f"{API}/models",
        json={"model_id": "m", "version": "1"},
        headers={"Authorization": f"Bearer {core_secret}"},
    )
    wrong = await client.get(f"{API}/models", headers={"Authorization": f"Bearer {api_secret}x"})
    ok(await client.delete(f"{API}/tokens/{core_token.token_id}", headers=auth))

    for secret in (api_secret, core_secret):
        hidden = secret.split("_", 2)[2]
        assert hidden not in caplog.text
        assert all(hidden not in str(r.args) for r in caplog.records)
        assert hidden not in forbidden.text
        assert hidden not in wrong.text


async def test_only_a_hash_of_the_secret_is_stored(
    client: httpx.AsyncClient, grace: Grace, sqlite_url: str
) -> None:
    """The api_tokens row holds the SHA-256 of the secret; the secret is nowhere in the file."""
    created = ok(await client.post(f"{API}/tokens", json={"name": "ops", "scopes": ["read"]}), 201)
    secret = created["token"]
    _, token_id, hidden = secret.split("_", 2)

    with grace.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(api_tokens)).mappings().all()

    (row,) = rows
    assert row["token_id"] == token_id == created["token_id"]
    assert row["secret_hash"] == hashlib.sha256(hidden.encode()).hexdigest()
    assert all(hidden not in str(value) for value in row.values())
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            assert hidden.encode() not in path.read_bytes()


async def test_the_secret_is_shown_once(client: httpx.AsyncClient) -> None:
    """Only the creating answer carries the secret; listings never do."""
    created = ok(await client.post(f"{API}/tokens", json={"name": "ops", "scopes": ["admin"]}), 201)
    auth = {"Authorization": f"Bearer {created['token']}"}

    listed = ok(await client.get(f"{API}/tokens", params={"include_revoked": True}, headers=auth))

    assert created["token"] not in str(listed)
    assert all("token" not in t and "secret_hash" not in t for t in listed)
    assert listed[0]["scopes"] == ["admin"]


async def test_token_checks_that_need_the_database_leave_the_event_loop_where_it_would_wait(
    any_grace: Grace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token not verified lately, and the open-mode check, read the database through the
    Runner: on the loop only where that never waits (SQLite with the lock free), in a worker
    thread on PostgreSQL; a token verified within the cache time needs no database at all."""
    loop_thread = threading.get_ident()
    seen: dict[str, list[bool]] = {"verify": [], "open": []}
    tokens = any_grace.tokens
    verify, is_open = tokens.verify, ApiContext.is_open

    def watched_verify(presented: str) -> object:
        seen["verify"].append(threading.get_ident() == loop_thread)
        return verify(presented)

    def watched_is_open(self: ApiContext) -> bool:
        seen["open"].append(threading.get_ident() == loop_thread)
        return is_open(self)

    monkeypatch.setattr(tokens, "verify", watched_verify)
    monkeypatch.setattr(ApiContext, "is_open", watched_is_open)
    app = create_app(any_grace, allow_open=True)
    async with client_for(app) as anonymous:
        ok(await anonymous.get(f"{API}/models"))
    _, secret = tokens.create("reader", [Scope.READ])
    async with client_for(app, secret) as reader:
        ok(await reader.get(f"{API}/models"))
        ok(await reader.get(f"{API}/models"))  # verified a moment ago: no database read
    inline = any_grace.store.writes_without_waiting
    assert seen == {"open": [inline], "verify": [inline]}
