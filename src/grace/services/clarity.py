"""Clarity, the event bus: in-process fan-out of Grace's events to async handlers.

``await bus.publish(Event(...))`` calls every handler subscribed to that event
type; a handler that raises or exceeds its timeout is logged and skipped, and
the others still run.  The bus itself keeps nothing: durability lives in the
event log, which the core writes in the same database transaction as the
change an event describes (see ``ModelRegistry.get_timeline`` and
``grace.adapters.store.StoreSession.list_events``).  Outside transports
(webhooks, NATS) read that log, so a crash between commit and fan-out loses
no event.

A handler subscribed from inside a running event loop is always called on
that loop, even when the publisher runs in another thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from grace.adapters.store import Store
from grace.domain.events import Event, EventType
from grace.domain.validation import check_filter, check_identifier

__all__ = [
    "Event",
    "EventBus",
    "EventLog",
    "EventRecorder",
    "EventType",
    "Handler",
    "Subscription",
]

log = logging.getLogger(__name__)

Handler = Callable[[Event], Awaitable[None]]


@dataclass(eq=False)
class Subscription:
    handler: Handler
    event_types: frozenset[str] | None
    loop: asyncio.AbstractEventLoop | None
    bus: EventBus = field(repr=False)

    def matches(self, event: Event) -> bool:
        return self.event_types is None or event.event_type in self.event_types

    def cancel(self) -> None:
        self.bus.unsubscribe(self)


class EventBus:
    def __init__(self, *, handler_timeout: float = 10.0) -> None:
        self._subscriptions: tuple[Subscription, ...] = ()
        self._lock = threading.Lock()
        self._handler_timeout = handler_timeout

    def subscribe(self, handler: Handler, event_types: Iterable[str] | None = None) -> Subscription:
        """Call ``handler`` for every published event of ``event_types`` (all when None)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        types = frozenset(event_types) if event_types is not None else None
        subscription = Subscription(handler, types, loop, self)
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    async def publish(self, event: Event) -> int:
        """Deliver ``event``; returns how many handlers accepted it without error."""
        current = asyncio.get_running_loop()
        here: list[Subscription] = []
        for sub in self._subscriptions:
            if not sub.matches(event):
                continue
            if sub.loop is None or sub.loop is current:
                here.append(sub)
            elif not sub.loop.is_closed():
                # Never block on another loop: it may be waiting for us.
                future = asyncio.run_coroutine_threadsafe(self._call(sub, event), sub.loop)
                future.add_done_callback(lambda _f: None)
        if not here:
            return 0
        results = await asyncio.gather(*(self._call(sub, event) for sub in here))
        return sum(results)

    async def _call(self, sub: Subscription, event: Event) -> int:
        try:
            await asyncio.wait_for(sub.handler(event), self._handler_timeout)
        except TimeoutError:
            log.warning("event handler %r timed out on %s", sub.handler, event.event_type)
            return 0
        except Exception:
            log.exception("event handler %r failed on %s", sub.handler, event.event_type)
            return 0
        return 1


class EventLog:
    """The durable event log that the core writes with each change: read it, or append an
    event that belongs to no other change (in a transaction of its own)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def append(self, event: Event) -> Event:
        """``event`` stored at the next log position, as stored."""
        with self._store.write() as s:
            return s.append_event(event)

    def list_events(
        self,
        *,
        after_seq: int | None = None,
        before_seq: int | None = None,
        resource_id: str | None = None,
        event_types: Sequence[str] | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Ascending after ``after_seq``, or descending before ``before_seq``."""
        resource_id = check_filter("model_id", resource_id)
        if event_types is not None:
            event_types = [check_identifier("event_type", t) for t in event_types]
        with self._store.read() as s:
            return s.list_events(
                resource_id=resource_id,
                event_types=event_types,
                after_seq=after_seq,
                before_seq=before_seq,
                limit=limit,
            )

    def latest_seq(self) -> int:
        """The position of the newest event (0 when the log is empty)."""
        newest = self.list_events(before_seq=2**62, limit=1)
        return newest[0].seq or 0 if newest else 0


class EventRecorder:
    """A handler that keeps what it receives; for tests, including users' own."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.events if e.event_type == event_type]
