"""Fixtures of the HTTP API tests: the FastAPI app over a wired Grace, and clients for it.

Requests go through ``httpx.ASGITransport`` straight into the app (no socket), except where a
test needs a real server (the SSE stream), which starts its own uvicorn (``support.serving``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI

from grace.api.app import create_app
from grace.bootstrap import Grace, build
from grace.clock import FakeClock
from tests.api.support import client_for
from tests.conftest import make_settings

BuildApi = Callable[..., tuple[Grace, FastAPI]]


@pytest.fixture
def build_api(sqlite_url: str, clock: FakeClock) -> Iterator[BuildApi]:
    """Build (Grace, app) on this test's SQLite file with settings overrides; closed at the end.

    ``build_api(allow_open=False, max_body_bytes=2048)`` is how a test gets a service configured
    differently from the shared ``grace`` fixture.
    """
    built: list[Grace] = []

    def make(*, allow_open: bool = True, **overrides: object) -> tuple[Grace, FastAPI]:
        instance = build(make_settings(sqlite_url, **overrides), clock=clock)
        built.append(instance)
        return instance, create_app(instance, allow_open=allow_open)

    yield make
    for instance in built:
        instance.close()


@pytest.fixture
def app(grace: Grace) -> FastAPI:
    """The app serving the shared ``grace`` fixture, open (loopback, no token yet)."""
    return create_app(grace, allow_open=True)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client of ``app``."""
    async with client_for(app) as instance:
        yield instance
