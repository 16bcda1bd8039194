"""The event log's follower: the one way committed events reach listeners in this process.

Every service writes its events in the transaction of the change they describe, then tells
the follower (:meth:`EventFollower.committed`); async code may instead wait until the
follower has handed them on (:meth:`EventFollower.announce`).  The follower is one task on
the event loop.  It reads the log after its cursor, in seq order, and hands each event to
the in-process bus, or, for the registry's own events while the guide's monitoring callback
is set, to that callback (which stands in for the bus: the guide's callback republishes what
it gets).  Events other processes write to the same database reach it within
``poll_seconds``.

Nothing here is kept: the log is.  While nobody listens the cursor just follows the log's
head, so a listener hears what commits from when it starts listening.  Outside transports
(webhooks, NATS) keep their own cursors over the same log (grace.services.delivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from contextvars import ContextVar

from grace.domain.events import REGISTRY_SOURCE, Event, EventType
from grace.services.callbacks import UserCallbacks
from grace.services.clarity import EventBus, EventLog
from grace.services.runner import Runner

__all__ = ["EventFollower"]

log = logging.getLogger("grace.follower")

# Set in the follower's task (and the handlers it runs): a listener that changes something
# must not wait for the follower to hand that change on, since the follower waits for it.
_following: ContextVar[bool] = ContextVar("grace_following", default=False)


class EventFollower:
    def __init__(
        self,
        events: EventLog,
        *,
        bus: EventBus,
        callbacks: UserCallbacks,
        run: Runner,
        poll_seconds: float = 0.5,
        batch: int = 500,
    ) -> None:
        self._events = events
        self._bus = bus
        self._callbacks = callbacks
        self._run = run
        self._poll = poll_seconds
        self._batch = batch
        #: The newest seq this process knows to be committed; the cursor, the last handed on.
        self._head = self._cursor = events.latest_seq()
        #: The newest seq committed here while nobody listened: never handed on.
        self._unheard = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._nudged = False
        self._closed = False
        self._listeners: list[Callable[[], None]] = []

    def listened(self) -> bool:
        """Whether anyone hears events: the monitoring callback or a bus subscriber."""
        return self._callbacks.monitoring is not None or bool(self._bus.subscriber_count)

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Also tell ``listener`` of every commit (it must be quick and thread-safe: the
        delivery worker's nudge)."""
        self._listeners.append(listener)

    def committed(self, events: Sequence[Event]) -> None:
        """Note that ``events`` are in the log; callable from any thread, never blocks."""
        for listener in self._listeners:
            listener()
        seq = max((e.seq or 0 for e in events), default=0)
        self._head = max(self._head, seq)
        if self.listened():
            self._nudge()
        else:  # nobody hears it: never handed on, and no turn of the follower for it
            self._unheard = max(self._unheard, seq)

    async def announce(self, events: Sequence[Event]) -> None:
        """:meth:`committed`, then wait until the follower has handed ``events`` on."""
        self.committed(events)
        seq = max((e.seq or 0 for e in events), default=0)
        if seq <= self._cursor or _following.get() or not self.listened():
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            return  # the follower runs on another loop: it hands them on there
        waiter = loop.create_future()
        self._waiters.append((seq, waiter))
        await waiter

    def start(self) -> None:
        """Run on the current event loop (done by the first :meth:`committed` on a loop)."""
        loop = asyncio.get_running_loop()
        if self._closed or (self._loop is loop and self._task is not None):
            return
        self._stop_waiters()
        self._loop = loop
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._follow(), name="grace-event-follower")

    async def stop(self) -> None:
        """Stop following (the service's shutdown; the next commit on a loop starts it
        again) once the turn in progress is done, so that no database call is cut off
        midway; waiters are released."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            closed, self._closed = self._closed, True
            self._poke()
            await asyncio.wait({task}, timeout=5.0)
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._closed = closed
        self._stop_waiters()

    def close(self) -> None:
        """Stop following, from any thread (``Grace.close``): the task ends at its next turn."""
        self._closed = True
        self._nudge()

    # -- the task ------------------------------------------------------------------------
    def _nudge(self) -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = self._loop
        if (
            running is not None
            and not self._closed
            and (loop is None or loop.is_closed() or self._task is None)
        ):
            self.start()
            loop = self._loop
        if loop is None or loop.is_closed():
            return
        if loop is running:
            self._poke()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        self._nudged = True
        self._wake.set()

    async def _follow(self) -> None:
        _following.set(True)
        while True:
            try:
                woken = await self._woken()
                if self._closed:
                    break
                if self.listened():
                    self._advance(self._unheard)
                    await self._hand_on()
                else:
                    head = self._head
                    if not woken:  # quiet here: has another process written?
                        head = max(head, await self._run.small(self._events.latest_seq))
                    self._advance(head)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the event follower could not read the event log")
                await asyncio.sleep(self._poll)
        self._stop_waiters()

    async def _woken(self) -> bool:
        """Wait for a nudge or the poll interval; whether nudged.  (A timer rather than
        ``asyncio.wait_for``, whose cancellation misbehaves on Python 3.11.)"""
        timer = asyncio.get_running_loop().call_later(self._poll, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()
            self._wake.clear()
        nudged, self._nudged = self._nudged, False
        return nudged

    async def _hand_on(self) -> None:
        while True:
            found = await self._run.small(
                self._events.list_events, after_seq=self._cursor, limit=self._batch
            )
            for event in found:
                await self._hear(event)
                self._advance(event.seq or self._cursor)
            if len(found) < self._batch:
                return

    async def _hear(self, event: Event) -> None:
        monitoring = self._callbacks.monitoring
        if (
            monitoring is not None
            and event.source == REGISTRY_SOURCE
            and event.event_type != EventType.CALLBACK_FAILED
        ):
            called = await self._callbacks.call(
                "monitoring",
                event.resource_id,
                monitoring,
                event_type=event.event_type,
                source=event.source,
                resource_id=event.resource_id,
                data=event.data,
            )
            if called.failure is not None:
                self.committed([called.failure])
        else:
            await self._bus.publish(event)

    def _advance(self, seq: int) -> None:
        if seq <= self._cursor:
            return
        self._cursor = seq
        if self._waiters:
            waiting = []
            for target, waiter in self._waiters:
                if target <= seq:
                    if not waiter.done():
                        waiter.set_result(None)
                else:
                    waiting.append((target, waiter))
            self._waiters = waiting

    def _stop_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        for _, waiter in waiters:
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)
