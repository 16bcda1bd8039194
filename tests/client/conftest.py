"""The ``backend`` fixture: each test using it runs in-process and over real HTTP, on one Grace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from grace.api.app import create_app
from grace.bootstrap import Grace
from grace.client import RegistryClient
from tests.client.support import Backend, LiveServer


@pytest.fixture(params=["local", "remote"])
async def backend(request: pytest.FixtureRequest, grace: Grace) -> AsyncIterator[Backend]:
    """local: the wired services themselves; remote: a RegistryClient over uvicorn serving them."""
    if request.param == "local":
        yield Backend("local", grace.registry, grace.incidents, grace.engine)
        return
    with LiveServer(create_app(grace, allow_open=True)) as server:
        async with RegistryClient(server.url) as client:
            yield Backend("remote", client, client.incidents, client.engine)
