"""The webhook sender's lanes: one client of one connection per attempt in flight, kept
per origin and reused, against a real keep-alive server on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from grace.adapters.http_post import HttpPoster, Lanes
from grace.adapters.webhook import WebhookSender
from grace.domain.delivery import Subscription, SubscriptionKind
from grace.domain.events import Event, EventType

_NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


class CountingServer:
    """Answers every request 204 over keep-alive connections and counts the connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.requests += 1
                await asyncio.sleep(0.005)  # long enough for attempts to overlap
                writer.write(_NO_CONTENT)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[CountingServer]:
    counting = CountingServer()
    await counting.start()
    yield counting
    await counting.stop()


def _sender() -> WebhookSender:
    return WebhookSender(
        HttpPoster(timeout=5, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    )


def _subscription(port: int) -> Subscription:
    url = f"http://127.0.0.1:{port}/hook"
    return Subscription(1, SubscriptionKind.WEBHOOK, url, None, None, datetime.now(UTC))


def _event(n: int) -> Event:
    return Event.of(EventType.MODEL_REGISTERED, "test", "m", {}, datetime.now(UTC)).stored(n)


async def test_attempts_one_after_another_share_one_connection(server: CountingServer) -> None:
    sender = _sender()
    try:
        for n in range(20):
            outcome = await sender.send(_subscription(server.port), _event(n + 1))
            assert outcome.status_code == 204
    finally:
        await sender.close()
    assert server.requests == 20
    assert server.connections == 1


async def test_attempts_at_once_each_have_a_connection_and_keep_it(
    server: CountingServer,
) -> None:
    sender = _sender()
    subscription = _subscription(server.port)
    try:
        for wave in range(3):
            outcomes = await asyncio.gather(
                *(sender.send(subscription, _event(wave * 8 + n + 1)) for n in range(8))
            )
            assert [o.status_code for o in outcomes] == [204] * 8
    finally:
        await sender.close()
    assert server.requests == 24
    assert server.connections <= 8  # the second and third waves reuse the first's


async def test_lanes_lend_each_client_to_one_attempt_and_keep_a_bounded_number() -> None:
    lanes = Lanes(timeout=1, keep=1)
    origin = ("http", "127.0.0.1:9")
    try:
        async with lanes.lend(origin) as first, lanes.lend(origin) as second:
            assert first is not second
        # keep=1: one of the two went back to the lane, the other was closed
        assert [first.is_closed, second.is_closed].count(True) == 1
        kept = second if first.is_closed else first
        async with lanes.lend(origin) as again:
            assert again is kept
        async with lanes.lend(("http", "127.0.0.1:10")) as other:
            assert other is not kept  # another origin, another lane
    finally:
        await lanes.close()
    assert kept.is_closed
    assert other.is_closed


async def test_a_client_whose_attempt_failed_is_not_lent_again() -> None:
    lanes = Lanes(timeout=1)
    origin = ("http", "127.0.0.1:9")
    with pytest.raises(RuntimeError):
        async with lanes.lend(origin) as failed:
            raise RuntimeError("the attempt broke off")
    assert failed.is_closed
    async with lanes.lend(origin) as fresh:
        assert fresh is not failed
    await lanes.close()
    assert fresh.is_closed
