"""The FastAPI application: routers, problem+json errors, body limit.

``create_app(grace, allow_open=...)`` serves an already wired Grace (tests and
single-process serving); ``app_factory()`` builds one from GRACE_* settings,
which is what each uvicorn worker runs when ``grace serve --workers N``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from grace import __version__
from grace.api import openapi, problems, protocol
from grace.api.access_log import AccessLog
from grace.api.asgi import WHOLE_BODY, replay
from grace.api.deps import ApiContext
from grace.api.fastpath import SnapshotFastPath
from grace.api.routes import (
    delivery,
    events,
    incidents,
    models,
    monitoring,
    playbooks,
    remediation,
    service,
    tokens,
)
from grace.bootstrap import Grace, build
from grace.errors import GraceError
from grace.settings import Settings, load_settings

__all__ = ["app_factory", "create_app", "is_loopback"]

log = logging.getLogger(__name__)

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


class BodyGuard:
    """Every request body is read whole, before the app sees it, within two limits: at most
    ``max_bytes`` (else 413) and within ``timeout`` seconds (else 408, and the connection is
    closed), whether its length is declared or it is streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(413, "Payload too large", self._too_large(), scope, receive, send)
            return
        if declared in (None, b"0") and b"transfer-encoding" not in headers:
            await self.app({**scope, WHOLE_BODY: b""}, receive, send)  # no body to wait for
            return
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._read(receive)
        except TimeoutError:
            detail = f"the request body did not arrive within {self.timeout:g}s"
            await self._refuse(408, "Request Timeout", detail, scope, receive, send)
            return
        if body is None:
            await self._refuse(413, "Payload too large", self._too_large(), scope, receive, send)
            return
        await self.app({**scope, WHOLE_BODY: body}, replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"

    @staticmethod
    async def _refuse(
        status: int, title: str, detail: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = problems.problem_response(status, title, detail)
        if status == 408:
            response.headers["connection"] = "close"
        await response(scope, receive, send)


async def _housekeeping(grace: Grace) -> None:
    """Every so often: mark playbook runs orphaned by a dead process abandoned; deny the
    approval requests past their time to live; act on what ended maintenance windows held;
    resolve the degradation incidents of models healthy again."""
    every = grace.settings.guardrail_sweep_seconds
    orphans_every = min(60.0, grace.settings.playbook_stale_seconds / 2)
    loop = asyncio.get_running_loop()
    orphans_due = loop.time() + orphans_every
    drill_every = grace.settings.drill_every_hours * 3600
    drill_due = loop.time() + drill_every
    while True:
        await asyncio.sleep(min(every, max(0.0, orphans_due - loop.time())))
        try:
            if loop.time() >= orphans_due:
                orphans_due = loop.time() + orphans_every
                await grace.run(grace.engine.abandon_orphans)
            await grace.approvals.expire()
            await grace.windows.release_ended()
            await grace.recovery.resolve_recovered()
            await grace.paging.refresh()
            await grace.verification.verify_due()
            await grace.trust.credit_healthy()
            if drill_every and loop.time() >= drill_due:
                drill_due = loop.time() + drill_every
                await grace.drills.run(open_incidents=True)
        except GraceError:
            log.exception("housekeeping failed; trying again shortly")


def create_app(
    grace: Grace,
    *,
    allow_open: bool,
    started_at: datetime | None = None,
    close_on_shutdown: bool = False,
) -> FastAPI:
    """The app serving ``grace``; ``started_at`` (default now) starts the open-mode rule."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(_housekeeping(grace))
        grace.follower.start()
        if grace.settings.delivery_mode == "inline":
            grace.delivery.start()
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await grace.delivery.stop()
            await grace.follower.stop()
            if close_on_shutdown:
                grace.close()

    app = FastAPI(
        title="Grace model registry",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Served by grace.api.openapi, which picks the open or guarded document per request.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # An id spelled with %2F must not be redirected elsewhere: it names nothing (404).
        redirect_slashes=False,
    )
    api = ApiContext(grace=grace, allow_open=allow_open, started_at=started_at or grace.clock.now())
    app.state.api = api
    problems.install(app)
    # Added first, so it runs inside BodyGuard: it sees the body whole and within limits.
    app.add_middleware(SnapshotFastPath, api=api)
    app.add_middleware(
        BodyGuard,
        max_bytes=grace.settings.max_body_bytes,
        timeout=grace.settings.body_timeout_seconds,
    )
    app.add_middleware(AccessLog)  # outermost: it sees every answer, the guard's too
    routers = (service, monitoring, models, incidents, playbooks, remediation, events, tokens)
    for module in (*routers, delivery):
        app.include_router(module.router)

    openapi.install(app, api)
    return app


def configure_logging(settings: Settings) -> None:
    """Grace's loggers at ``GRACE_LOG_LEVEL`` (the access log is INFO: on by default), one
    line each on stderr."""
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("grace").setLevel(settings.log_level)
    logging.getLogger("grace.access").setLevel(
        settings.log_level if settings.access_log else logging.WARNING
    )


def app_factory() -> FastAPI:
    """Build the app from GRACE_* settings (one per uvicorn worker)."""
    settings = load_settings()
    configure_logging(settings)
    protocol.configure(header_timeout=settings.header_timeout_seconds)
    grace = build(settings)
    allow_open = is_loopback(settings.host) or settings.insecure
    return create_app(
        grace,
        allow_open=allow_open,
        started_at=settings.service_started_at,
        close_on_shutdown=True,
    )
