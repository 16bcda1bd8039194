"""The guide's user callbacks.

:class:`UserCallbacks` holds the three callbacks the guide sets on the registry (incident,
monitoring, self-healing) and calls one within a timeout: a callback that raises or hangs
is logged and recorded as a ``callback.failed`` event, and never breaks the caller's flow.
(The monitoring callback is called by the event log's follower, grace.services.follower.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from grace.clock import Clock
from grace.domain.events import REGISTRY_SOURCE, Event, EventType
from grace.errors import GraceError
from grace.services.clarity import EventLog
from grace.services.runner import Runner

__all__ = ["Callback", "Called", "UserCallbacks"]

log = logging.getLogger("grace.callbacks")

Callback = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Called:
    """How a callback went: ``failure`` is the stored ``callback.failed`` event, if it failed
    and that could be recorded (the caller hands it to the follower)."""

    ok: bool
    failure: Event | None = None


class UserCallbacks:
    def __init__(self, events: EventLog, *, clock: Clock, run: Runner, timeout: float) -> None:
        self._events = events
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
    ) -> Called:
        """Await ``callback(**kwargs)`` within the timeout."""
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
                return Called(ok=False, failure=await self._run(self._events.append, event))
            except GraceError:
                log.exception("could not record the failure of the %s callback", kind)
            return Called(ok=False)
        return Called(ok=True)
