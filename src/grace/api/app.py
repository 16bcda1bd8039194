"""The FastAPI application: routers, problem+json errors, body limit.

``create_app(grace, allow_open=...)`` serves an already wired Grace (tests and
single-process serving); ``app_factory()`` builds one from GRACE_* settings,
which is what each uvicorn worker runs when ``grace serve --workers N``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grace import __version__
from grace.api import problems
from grace.api.deps import ApiContext
from grace.api.routes import events, incidents, models, monitoring, playbooks, service, tokens
from grace.api.schemas import ProblemOut
from grace.bootstrap import Grace, build
from grace.settings import load_settings

__all__ = ["app_factory", "create_app", "is_loopback"]

DESCRIPTION = """
Grace's model registry: versions and deployment stages, performance snapshots,
rollback triggers, incidents and self-healing rollback.

Every error is an RFC 9457 `application/problem+json` body.  Unless the service
runs open (loopback with no API token created), send `Authorization: Bearer
<token>`; each operation names the scope it needs (read, ingest, write,
operate, admin; admin implies all).
"""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BodyLimit:
    """Refuse request bodies above ``max_bytes`` with 413, whether declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise problems.PayloadTooLarge(self._detail())
            return message

        await self.app(scope, counted, send)

    def _detail(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problems.problem_response(413, "Payload too large", self._detail())
        await response(scope, receive, send)


def create_app(grace: Grace, *, allow_open: bool, close_on_shutdown: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            grace.close()

    app = FastAPI(
        title="Grace model registry",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={
            401: {"model": ProblemOut, "description": "Missing or invalid token"},
            403: {"model": ProblemOut, "description": "The token lacks the scope"},
            422: {"model": ProblemOut, "description": "Invalid input"},
        },
    )
    app.state.api = ApiContext(grace=grace, allow_open=allow_open)
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=grace.settings.max_body_bytes)
    for module in (service, monitoring, models, incidents, playbooks, events, tokens):
        app.include_router(module.router)
    return app


def app_factory() -> FastAPI:
    """Build the app from GRACE_* settings (one per uvicorn worker)."""
    settings = load_settings()
    grace = build(settings)
    allow_open = is_loopback(settings.host) or settings.insecure
    return create_app(grace, allow_open=allow_open, close_on_shutdown=True)
