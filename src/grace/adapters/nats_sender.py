"""NATS JetStream deliveries: each event published to ``grace.events.<event_type>`` on the
stream ``GRACE_EVENTS`` (created when missing), with ``Nats-Msg-Id`` set to the event's id
so that JetStream drops a retried duplicate.  An event counts as delivered only once
JetStream acknowledged it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from grace.domain.delivery import Outcome, Subscription, cloud_event, encode
from grace.domain.events import Event

__all__ = ["STREAM", "SUBJECT_PREFIX", "NatsSender", "subject_of"]

log = logging.getLogger("grace.delivery.nats")

STREAM = "GRACE_EVENTS"
SUBJECT_PREFIX = "grace.events"


def subject_of(event: Event) -> str:
    return f"{SUBJECT_PREFIX}.{event.event_type}"


class NatsSender:
    def __init__(self, *, timeout: float = 10.0, source_prefix: str = "/grace") -> None:
        self._timeout = timeout
        self._source = source_prefix
        self._connections: dict[str, tuple[Client, JetStreamContext]] = {}
        self._lock = asyncio.Lock()

    async def send(self, subscription: Subscription, event: Event) -> Outcome:
        started = time.perf_counter()
        body = encode(cloud_event(event, self._source))
        try:
            async with asyncio.timeout(self._timeout):
                js = await self._stream(subscription.url)
                await js.publish(
                    subject_of(event),
                    body,
                    headers={"Nats-Msg-Id": event.event_id},
                    timeout=self._timeout,
                )
        except TimeoutError:
            error = f"timed out after {self._timeout:g}s"
        except (NatsError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            return Outcome(acknowledged=True, duration_ms=(time.perf_counter() - started) * 1000)
        await self._forget(subscription.url)
        return Outcome(error=error, duration_ms=(time.perf_counter() - started) * 1000)

    async def _stream(self, url: str) -> JetStreamContext:
        async with self._lock:
            found = self._connections.get(url)
            if found is not None and found[0].is_connected:
                return found[1]
            if found is not None:
                await self._close(found[0])
            client = await nats.connect(
                url,
                connect_timeout=max(1, int(self._timeout)),
                allow_reconnect=False,
                max_reconnect_attempts=0,
                name="grace-delivery",
            )
            js = client.jetstream(timeout=self._timeout)
            try:
                await js.stream_info(STREAM)
            except NotFoundError:
                await js.add_stream(name=STREAM, subjects=[f"{SUBJECT_PREFIX}.>"])
            self._connections[url] = (client, js)
            return js

    async def _forget(self, url: str) -> None:
        async with self._lock:
            found = self._connections.pop(url, None)
        if found is not None:
            await self._close(found[0])

    @staticmethod
    async def _close(client: Client) -> None:
        with contextlib.suppress(Exception):
            await client.close()

    async def close(self) -> None:
        connections, self._connections = self._connections, {}
        for client, _ in connections.values():
            await self._close(client)
