"""Dependencies shared by the routes: the wired Grace, and who is calling with which scopes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from grace.api.problems import Forbidden, Unauthorized
from grace.api.shapes import Identifier
from grace.bootstrap import Grace
from grace.domain.tokens import Scope, allows
from grace.services.clarity import EventBus
from grace.services.incident_registry import IncidentRegistry
from grace.services.model_registry import ModelRegistry
from grace.services.runner import Runner
from grace.services.self_healing import SelfHealingEngine

__all__ = [
    "MAX_ID",
    "Admin",
    "ApiContext",
    "Authorizer",
    "BusDep",
    "Caller",
    "Checker",
    "EngineDep",
    "GraceDep",
    "IncidentsDep",
    "Ingester",
    "ModelId",
    "Operator",
    "Reader",
    "RecordId",
    "RegistryDep",
    "Run",
    "Runner",
    "Version",
    "Writer",
    "require",
]

# Ids and log positions are 64-bit in the database; anything larger is refused as input.
MAX_ID = 2**63 - 1
RecordId = Annotated[int, Path(ge=1, le=MAX_ID, description="A record's id.", examples=[1])]
# Path identifiers, documented as the core checks them (grace.api.shapes.Identifier).
ModelId = Annotated[Identifier, Path(description="The model's id.", examples=["fraud_detector_v3"])]
Version = Annotated[Identifier, Path(description="The version.", examples=["3.2.1"])]

_bearer = HTTPBearer(auto_error=False, description="An API token: `grc_<id>_<secret>`.")


@dataclass
class ApiContext:
    """What the app is serving, kept on ``app.state.api``.

    Open mode has one rule in every worker: requests may go through without a token only
    while no token has been active at any moment since the service started.  So a service
    that started guarded stays guarded until restarted, even if every token is revoked, and
    the first token created while it runs open guards it at once.
    """

    grace: Grace
    #: May the service run open at all?  Only on loopback, or when started with --insecure.
    allow_open: bool
    #: When the service started (``grace serve`` hands its workers the same instant).
    started_at: datetime
    _guarded: bool = False

    @property
    def run(self) -> Runner:
        return self.grace.run

    def is_open(self) -> bool:
        """Whether an anonymous request may go through now (once guarded, always guarded)."""
        if not self.allow_open or self._guarded:
            return False
        if self.grace.tokens.active_since(self.started_at):
            self._guarded = True
            return False
        return True


@dataclass(frozen=True)
class Caller:
    """Who made the request: a token's name, or ``anonymous`` when the service runs open."""

    name: str
    scopes: frozenset[Scope]

    def may(self, scope: Scope) -> bool:
        return allows(self.scopes, scope)


def _api(request: Request) -> ApiContext:
    api: ApiContext = request.app.state.api
    return api


class Authorizer:
    """The dependency that guards one route (tests find it on every route).

    The route needs ``scope``, or any of ``alternatives`` when the route decides for itself
    what each may do (rollback-check: a dry run reads, remediation operates).
    """

    def __init__(self, scope: Scope, *alternatives: Scope) -> None:
        self.scope = scope
        self.scopes = (scope, *alternatives)

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> Caller:
        return await self.authorize(_api(request), credentials.credentials if credentials else None)

    async def authorize(self, api: ApiContext, token_text: str | None) -> Caller:
        """The caller presenting ``token_text`` (None: no bearer token), if allowed here;
        raises Unauthorized or Forbidden otherwise.  What needs the database (the open-mode
        check, a token not verified lately) goes through the Runner, off the event loop
        where the database cannot answer without waiting."""
        tokens = api.grace.tokens
        if token_text is None:
            if await api.run.small(api.is_open):
                return Caller("anonymous", frozenset(Scope))
            raise Unauthorized(
                "this service requires an API token: send `Authorization: Bearer <token>` "
                "(create one with `grace tokens create`)"
            )
        known, token = tokens.recall(token_text)
        if not known:
            token = await api.run.small(tokens.verify, token_text)
        if token is None:
            raise Unauthorized("the API token is not valid or has been revoked")
        if not any(allows(token.scopes, scope) for scope in self.scopes):
            held = ", ".join(sorted(s.value for s in token.scopes))
            needed = " or ".join(repr(s.value) for s in self.scopes)
            raise Forbidden(f"this needs the {needed} scope; the token has: {held}")
        return Caller(token.name, token.scopes)


def require(scope: Scope, *alternatives: Scope) -> Authorizer:
    return Authorizer(scope, *alternatives)


async def _run(request: Request) -> Runner:
    return _api(request).run


async def _grace(request: Request) -> Grace:
    return _api(request).grace


async def _registry(request: Request) -> ModelRegistry:
    return _api(request).grace.registry


async def _incidents(request: Request) -> IncidentRegistry:
    return _api(request).grace.incidents


async def _engine(request: Request) -> SelfHealingEngine:
    return _api(request).grace.engine


async def _bus(request: Request) -> EventBus:
    return _api(request).grace.bus


GraceDep = Annotated[Grace, Depends(_grace)]
Run = Annotated[Runner, Depends(_run)]
RegistryDep = Annotated[ModelRegistry, Depends(_registry)]
IncidentsDep = Annotated[IncidentRegistry, Depends(_incidents)]
EngineDep = Annotated[SelfHealingEngine, Depends(_engine)]
BusDep = Annotated[EventBus, Depends(_bus)]
Reader = Annotated[Caller, Depends(require(Scope.READ))]
Ingester = Annotated[Caller, Depends(require(Scope.INGEST))]
Writer = Annotated[Caller, Depends(require(Scope.WRITE))]
Operator = Annotated[Caller, Depends(require(Scope.OPERATE))]
#: rollback-check: a dry run needs read (or operate, which may do more); acting needs operate.
Checker = Annotated[Caller, Depends(require(Scope.READ, Scope.OPERATE))]
Admin = Annotated[Caller, Depends(require(Scope.ADMIN))]
