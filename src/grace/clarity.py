"""The guide's import path ``backend.clarity``, as a thin facade.

It re-exports what the guide (and Grace's own client) name from
:mod:`grace.services.clarity`, and gives ``get_event_bus()``: the process-wide instance
built from the environment (see :func:`grace.bootstrap.default`).
"""

from __future__ import annotations

from grace.bootstrap import default
from grace.services.clarity import (
    Event,
    EventBus,
    EventLog,
    EventRecorder,
    EventType,
    Handler,
    Subscription,
)

__all__ = [
    "Event",
    "EventBus",
    "EventLog",
    "EventRecorder",
    "EventType",
    "Handler",
    "Subscription",
    "get_event_bus",
]


def get_event_bus() -> EventBus:
    """The process-wide bus, configured from settings."""
    return default().bus
