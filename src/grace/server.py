"""``grace serve``: decide whether it is safe to listen, then run uvicorn.

Secure by default: with no API token created, the service runs open only on a
loopback address (and says so); asked to listen anywhere else it refuses to
start unless ``--insecure`` is given.  Beside the HTTP workers it runs one delivery process
(grace.delivery_process), unless ``GRACE_DELIVERY_MODE`` says otherwise.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

import uvicorn

from grace.api import protocol
from grace.api.app import configure_logging, create_app, is_loopback
from grace.bootstrap import Grace, build
from grace.delivery_process import DeliveryProcess
from grace.errors import GraceError
from grace.settings import Settings

__all__ = ["RefusedToStart", "serve", "startup_verdict"]

log = logging.getLogger("grace.server")


class RefusedToStart(GraceError):
    title = "Refused to start"


def startup_verdict(host: str, insecure: bool, tokens_exist: bool) -> tuple[bool, str]:
    """(may requests run unauthenticated, what to tell the operator); raises if unsafe."""
    if tokens_exist:
        return False, "API tokens exist: every request needs a bearer token"
    if is_loopback(host):
        return True, (
            f"no API token exists: serving OPEN on {host} (loopback only); create one with "
            "`grace tokens create --name NAME --scope admin` to require tokens"
        )
    if insecure:
        return True, (
            f"no API token exists and --insecure was given: serving OPEN on {host}; anyone who "
            "can reach this address can change the registry"
        )
    raise RefusedToStart(
        f"refusing to listen on {host} with no API token: create one with "
        "`grace tokens create --name NAME --scope admin`, bind to 127.0.0.1, or pass --insecure"
    )


def serve(settings: Settings) -> None:
    configure_logging(settings)
    grace = build(settings)  # migrates (under a lock) before anything listens
    started_at = grace.clock.now()
    try:
        allow_open, message = startup_verdict(
            settings.host, settings.insecure, grace.tokens.any_active()
        )
    except GraceError:
        grace.close()
        raise
    print(f"grace: {message}", flush=True)  # noqa: T201 - the operator must see this
    print(  # noqa: T201
        f"grace: serving {settings.database_url.split('@')[-1]} on "
        f"http://{settings.host}:{settings.port} (docs at /docs)",
        flush=True,
    )
    delivery = DeliveryProcess(settings.database_url)
    if settings.delivery_mode == "process":
        delivery.start()
    try:
        _run(settings, grace, allow_open=allow_open, started_at=started_at)
    finally:
        delivery.stop()


def _run(settings: Settings, grace: Grace, *, allow_open: bool, started_at: datetime) -> None:
    if settings.workers == 1:
        app = create_app(
            grace, allow_open=allow_open, started_at=started_at, close_on_shutdown=True
        )
        protocol.configure(header_timeout=settings.header_timeout_seconds)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            http=protocol.GuardedHttpProtocol,
        )
        return
    grace.close()
    # Each worker builds its own Grace from the environment.
    os.environ.update(
        {
            "GRACE_DATABASE_URL": settings.database_url,
            "GRACE_HOST": settings.host,
            "GRACE_INSECURE": "true" if settings.insecure else "false",
            "GRACE_SERVICE_STARTED_AT": started_at.isoformat(),
        }
    )
    uvicorn.run(
        "grace.api.app:app_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level="warning",
        http="grace.api.protocol:GuardedHttpProtocol",
    )
