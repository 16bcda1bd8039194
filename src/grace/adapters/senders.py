"""How one delivery leaves the process: the :class:`Sender` interface and its in-memory fake.

A sender makes one attempt and reports what it saw as an
:class:`~grace.domain.delivery.Outcome`; it never raises and never takes longer than its
timeout.  What the outcome means (retry, dead letter, disable) is decided elsewhere
(:func:`grace.domain.delivery.verdict`).  The real senders: :mod:`grace.adapters.webhook`,
:mod:`grace.adapters.alert_senders` (both over :mod:`grace.adapters.http_post`) and
:mod:`grace.adapters.nats_sender`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from grace.domain.delivery import Outcome, Subscription
from grace.domain.events import Event

__all__ = ["FakeSender", "Sender"]


class Sender(Protocol):
    async def send(self, subscription: Subscription, event: Event) -> Outcome:
        """One attempt to deliver ``event``; never raises."""

    async def close(self) -> None: ...


@dataclass
class FakeSender:
    """Records what it is asked to send; ``answer`` decides each outcome (for tests)."""

    answer: Callable[[Subscription, Event], Outcome] = field(
        default=lambda _s, _e: Outcome(status_code=200)
    )
    sent: list[tuple[int, Event]] = field(default_factory=list)

    async def send(self, subscription: Subscription, event: Event) -> Outcome:
        self.sent.append((subscription.id, event))
        return self.answer(subscription, event)

    async def close(self) -> None:
        return None
