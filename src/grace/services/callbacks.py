"""The guide's user callbacks and how committed events are announced in the process.

:class:`UserCallbacks` holds the three callbacks the guide sets on the registry (incident,
monitoring, self-healing) and calls one within a timeout: a callback that raises or hangs
is logged and recorded as a ``callback.failed`` event, and never breaks the caller's flow.

:class:`Announcer` hands committed events, in the order they were announced, to the
monitoring callback or else the in-process bus.  (Its in-memory queue is what the event
log's follower replaces: the delivery issue's first step.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from grace.clock import Clock
from grace.domain.events import REGISTRY_SOURCE, Event, EventType
from grace.errors import GraceError
from grace.services.clarity import EventBus, EventLog
from grace.services.runner import Runner

__all__ = ["Announcer", "Callback", "UserCallbacks"]

log = logging.getLogger("grace.callbacks")

Callback = Callable[..., Awaitable[Any]]


class UserCallbacks:
    def __init__(
        self, events: EventLog, *, bus: EventBus, clock: Clock, run: Runner, timeout: float
    ) -> None:
        self._events = events
        self._bus = bus
        self._clock = clock
        self._run = run
        self.timeout = timeout
        #: Called with source, resource_type, resource_id, severity, title, description, context.
        self.incident: Callback | None = None
        #: Called with event_type, source, resource_id and data for every registry event.
        self.monitoring: Callback | None = None
        #: Called as ``callback(resource_type=, resource_id=, playbook=, context=)``.
        self.self_healing: Callback | None = None

    async def call(
        self, kind: str, model_id: str | None, callback: Callback, **kwargs: Any
    ) -> bool:
        """Await ``callback(**kwargs)`` within the timeout; whether it succeeded."""
        try:
            await asyncio.wait_for(callback(**kwargs), self.timeout)
        except Exception as exc:  # noqa: BLE001 - a user's callback may fail in any way; none may break us
            problem = (
                f"timed out after {self.timeout:g}s"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}"
            )
            log.warning("%s callback failed for %s: %s", kind, model_id, problem)
            event = Event.of(
                EventType.CALLBACK_FAILED,
                REGISTRY_SOURCE,
                model_id,
                {"callback": kind, "error": problem},
                self._clock.now(),
            )
            try:
                stored = await self._run(self._events.append, event)
                await self._bus.publish(stored)
            except GraceError:
                log.exception("could not record the failure of the %s callback", kind)
            return False
        return True


class Announcer:
    def __init__(self, bus: EventBus, callbacks: UserCallbacks) -> None:
        self._bus = bus
        self._callbacks = callbacks
        # Committed events waiting to be announced; one queue keeps them in commit order.
        self._outbox: deque[Event] = deque()
        self._background: set[asyncio.Task[None]] = set()

    def listened(self) -> bool:
        """Whether anyone hears announced events (the monitoring callback or a subscriber)."""
        return self._callbacks.monitoring is not None or bool(self._bus.subscriber_count)

    async def announce(self, events: Iterable[Event]) -> None:
        """Hand committed events, in commit order, to the monitoring callback or else the bus."""
        self._outbox.extend(events)
        await self._drain()

    def announce_soon(self, events: Sequence[Event]) -> None:
        """Announce from a plain method: queued on the running loop if there is one, else now."""
        if not events or not self.listened():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.announce(events))
            return
        self._outbox.extend(events)
        task = loop.create_task(self._drain())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _drain(self) -> None:
        while self._outbox:
            try:
                event = self._outbox.popleft()
            except IndexError:  # another drainer took the last one
                return
            monitoring = self._callbacks.monitoring
            if monitoring is not None:
                await self._callbacks.call(
                    "monitoring",
                    event.resource_id,
                    monitoring,
                    event_type=event.event_type,
                    source=event.source,
                    resource_id=event.resource_id,
                    data=event.data,
                )
            else:
                await self._bus.publish(event)
