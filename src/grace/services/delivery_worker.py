"""The delivery worker: every event that matches a subscription delivered at least once.

One worker runs in each ``grace serve`` process.  Each round it:

1. leases the active subscriptions nobody else holds (a lease expires unless renewed, so
   a killed process's subscriptions pass to another, or to itself restarted);
2. derives work from the event log: the events after each subscription's cursor that
   match it become its deliveries, written with the new cursor in one transaction, so a
   crash at any moment loses nothing and duplicates nothing;
3. sends, per subscription and model, in seq order: a model's deliveries go one after
   another, different models' at once; a failed one stops its model's chain until its
   retry is due, and holds back no other model or subscription;
4. records every attempt, and what it leaves the delivery as (delivered, pending with the
   next attempt's time, or dead), in one transaction.

A crash between a send and its record sends that event again: consumers deduplicate by
the event id, which never changes (``webhook-id``, ``Nats-Msg-Id``, the CloudEvent's
``id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from grace.adapters.senders import Sender
from grace.adapters.store import AttemptResult, Store, StoreSession
from grace.clock import Clock
from grace.domain.delivery import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Outcome,
    RetryPolicy,
    Subscription,
    SubscriptionKind,
    Verdict,
    verdict,
)
from grace.domain.events import Event
from grace.errors import GraceError
from grace.services.clarity import EventLog
from grace.services.runner import Runner

__all__ = ["DeliveryWorker", "OutcomeHook", "judge"]

log = logging.getLogger("grace.delivery")

#: Called in the transaction that records a delivery's last attempt (delivered or dead):
#: where what became of a page is noted on its incident (grace.services.remediation.paging).
OutcomeHook = Callable[[StoreSession, Subscription, Event, AttemptResult], None]

# While events are coming, a subscription made by another process is found within this.
_NOTICE_NEW = timedelta(seconds=0.5)


def judge(
    delivery: Delivery,
    outcome: Outcome,
    policy: RetryPolicy,
    now: datetime,
    jitter: float,
) -> tuple[AttemptResult, Verdict]:
    """What an attempt leaves ``delivery`` as."""
    found = verdict(outcome)
    tries = delivery.tries + 1
    attempt = Attempt(now, outcome.duration_ms, outcome.status_code, outcome.error)
    if found is Verdict.DELIVERED:
        status, at = DeliveryStatus.DELIVERED, now
    elif found is Verdict.RETRY and tries < policy.max_tries:
        status, at = DeliveryStatus.PENDING, now + policy.delay(tries, outcome.retry_after, jitter)
    else:
        status, at = DeliveryStatus.DEAD, now
    return AttemptResult(delivery.id, attempt, status, tries, at), found


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        *,
        events: EventLog,
        clock: Clock,
        run: Runner,
        senders: Mapping[SubscriptionKind, Sender],
        policy: RetryPolicy | None = None,
        lease_seconds: float = 15.0,
        poll_seconds: float = 0.25,
        batch: int = 500,
        concurrency: int = 16,
        jitter: Callable[[], float] = random.random,
        on_outcome: OutcomeHook | None = None,
    ) -> None:
        self._on_outcome = on_outcome
        self._store = store
        self._events = events
        self._clock = clock
        self._run = run
        self._senders = senders
        self.policy = policy or RetryPolicy()
        self._lease = timedelta(seconds=lease_seconds)
        self._poll = poll_seconds
        self._batch = batch
        self._concurrency = concurrency
        self._jitter = jitter
        self.owner = _owner()
        self._held: list[Subscription] = []
        self._leased_at: datetime | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_due: datetime | None = None
        self._seen_head = -1
        self._stopping = False

    # -- running ---------------------------------------------------------------------------
    def start(self) -> None:
        """Run on the current event loop until :meth:`stop`."""
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = self._loop.create_task(self._forever(), name="grace-delivery-worker")

    async def stop(self) -> None:
        """Finish the round in progress (so no database call is cut off midway; a round
        stops sending after a third of the lease), then release the leases."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self.nudge()
            await asyncio.wait({task}, timeout=self._lease.total_seconds())
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._stopping = False
        with contextlib.suppress(GraceError):
            await self._run(self._release)
        for sender in self._senders.values():
            await sender.close()

    def refresh(self) -> None:
        """Subscriptions changed: re-read them on the next round, which starts now."""
        self._leased_at = None
        self.nudge()

    def nudge(self) -> None:
        """Something changed (an event committed, a subscription made); from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

    async def _forever(self) -> None:
        while not self._stopping:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery round failed; trying again shortly")
                busy = False
                await asyncio.sleep(1.0)
            if not busy and not self._stopping:
                await self._idle()

    async def _idle(self) -> None:
        timeout = self._poll
        if self._next_due is not None:
            until_due = (self._next_due - self._clock.now()).total_seconds()
            timeout = max(0.0, min(timeout, until_due))
        timer = asyncio.get_running_loop().call_later(timeout, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            timer.cancel()
            self._wake.clear()

    # -- one round -----------------------------------------------------------------------------
    async def run_once(self) -> bool:
        """One round over the held subscriptions; whether it did anything (so go again)."""
        head = await self._run.small(self._events.latest_seq)
        if head != self._seen_head:  # events are coming: look for new subscriptions soon
            self._seen_head = head
            await self._renew_lease(within=_NOTICE_NEW)
        else:
            await self._renew_lease()
        if not self._held:
            return False
        derived = False
        if head > min(s.cursor for s in self._held):
            derived = await self._run(self._derive, head)
        self._next_due = None
        sent = await self._deliver()
        return derived or sent > 0

    async def _renew_lease(self, within: timedelta | None = None) -> None:
        """Renew the leases (and find new subscriptions) every third of the lease, or
        ``within`` this long while events are coming."""
        now = self._clock.now()
        every = min(self._lease / 3, within) if within is not None else self._lease / 3
        if self._leased_at is not None and now - self._leased_at < every:
            return
        self._held = await self._run(self._lease_all, now, now + self._lease)
        self._leased_at = now

    def _lease_all(self, now: datetime, until: datetime) -> list[Subscription]:
        with self._store.write() as s:
            return s.lease_subscriptions(self.owner, now, until)

    def _release(self) -> None:
        with self._store.write() as s:
            s.release_leases(self.owner)

    def _derive(self, head: int) -> bool:
        """The held subscriptions' deliveries of the events up to ``head``."""
        start = min(s.cursor for s in self._held)
        found = False
        while start < head:
            page = self._events.list_events(after_seq=start, limit=self._batch)
            if not page:
                break
            end = min(page[-1].seq or start, head)
            page = [e for e in page if (e.seq or 0) <= end]
            behind = [sub for sub in self._held if sub.cursor < end]
            tagged = self._tagged(behind)
            matching = {
                sub.id: [
                    e
                    for e in page
                    if (e.seq or 0) > sub.cursor and sub.matches(e, tagged.get(sub.id))
                ]
                for sub in behind
            }
            with self._store.write() as s:
                elsewhere = s.derive_deliveries(
                    {sub.id: sub.cursor for sub in behind}, end, matching, self._clock.now()
                )
                # Moved by another worker (a replay, a lease taken over): read it again.
                fresh = {i: s.get_subscription(i) for i in elsewhere if i in matching}
            found = found or any(v for k, v in matching.items() if k not in elsewhere)
            self._held = [
                fresh.get(sub.id, replace(sub, cursor=end)) if sub.cursor < end else sub
                for sub in self._held
                if sub.id not in elsewhere or sub.id in fresh
            ]
            start = end
        return found

    def _tagged(self, subscriptions: Sequence[Subscription]) -> dict[int, frozenset[str]]:
        """The models bearing a tag of each subscription that routes by tags."""
        routed = [sub for sub in subscriptions if sub.tags is not None]
        if not routed:
            return {}
        with self._store.read() as s:
            return {sub.id: s.models_with_tags(sub.tags or ()) for sub in routed}

    async def _deliver(self) -> int:
        """One pass over the held subscriptions' ready deliveries: each (subscription,
        model) a chain sent in seq order, the chains at once; how many attempts."""
        held = {s.id: s for s in self._held if s.active and s.kind in self._senders}
        if not held:
            return 0
        pending, events, next_due = await self._run(self._pending, list(held), self._clock.now())
        self._next_due = next_due
        chains: dict[tuple[int, str], list[Delivery]] = defaultdict(list)
        for delivery in pending:
            chains[(delivery.subscription_id, delivery.model_id or "")].append(delivery)
        if not chains:
            return 0
        results: list[AttemptResult] = []
        finished: list[tuple[Subscription, Event, AttemptResult]] = []
        gone: set[int] = set()
        limit = asyncio.Semaphore(self._concurrency)
        deadline = asyncio.get_running_loop().time() + self._lease.total_seconds() / 3

        async def send_chain(subscription: Subscription, chain: Sequence[Delivery]) -> None:
            sender = self._senders[subscription.kind]
            async with limit:
                for delivery in chain:
                    if subscription.id in gone or asyncio.get_running_loop().time() > deadline:
                        return
                    event = events.get(delivery.seq)
                    if event is None:  # nothing left to send: a dead letter, not a block
                        now = self._clock.now()
                        missing = Attempt(now, 0.0, None, "the event is no longer in the log")
                        results.append(
                            AttemptResult(
                                delivery.id, missing, DeliveryStatus.DEAD, delivery.tries + 1, now
                            )
                        )
                        continue
                    outcome = await sender.send(subscription, event)
                    result, found = judge(
                        delivery, outcome, self.policy, self._clock.now(), self._jitter()
                    )
                    results.append(result)
                    if result.status is not DeliveryStatus.PENDING:
                        finished.append((subscription, event, result))
                    if found is Verdict.GONE:
                        gone.add(subscription.id)
                    if result.status is not DeliveryStatus.DELIVERED:
                        return  # later events of this model wait for this one

        await asyncio.gather(
            *(send_chain(held[sub_id], chain) for (sub_id, _), chain in chains.items())
        )
        await self._run(self._record, results, gone, finished)
        for sub_id in gone:
            log.warning("subscription %s answered 410 Gone: disabled", sub_id)
        if gone:
            self._leased_at = None  # re-read the held subscriptions next round
        return len(results)

    def _pending(
        self, subscription_ids: list[int], now: datetime
    ) -> tuple[list[Delivery], dict[int, Event], datetime | None]:
        with self._store.read() as s:
            pending, next_due = s.open_deliveries(subscription_ids, now, self._batch)
            return pending, s.events_at([d.seq for d in pending]), next_due

    def _record(
        self,
        results: Sequence[AttemptResult],
        gone: set[int],
        finished: Sequence[tuple[Subscription, Event, AttemptResult]],
    ) -> None:
        with self._store.write() as s:
            s.record_attempts(results)
            if self._on_outcome is not None:
                for subscription, event, result in finished:
                    self._on_outcome(s, subscription, event, result)
            for subscription_id in gone:
                s.disable_subscription(
                    subscription_id, "the receiver answered 410 Gone", self._clock.now()
                )
