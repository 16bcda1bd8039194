"""The event log's follower: the one way committed events reach the bus and the monitoring
callback, in seq order, from any thread and from other processes on the same database."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from grace.bootstrap import Grace, build
from grace.clarity import Event, EventRecorder
from grace.clock import FakeClock
from tests.conftest import make_settings
from tests.helpers import HEALTHY, register, snapshot

MODEL = "fraud_detector_v3"


async def _until(condition: Any, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def test_changes_made_in_worker_threads_reach_the_bus_in_seq_order(grace: Grace) -> None:
    """Plain methods called from several threads at once (as routes do on PostgreSQL): every
    event reaches the subscriber on its own loop, once, in the log's order."""
    recorder = EventRecorder()
    grace.bus.subscribe(recorder)
    grace.follower.start()

    def work(worker: int) -> None:
        for n in range(10):
            register(grace.registry, f"{MODEL}-{worker}", str(n))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        await asyncio.to_thread(t.join)
    stored = grace.events.list_events(limit=1000)
    await _until(lambda: len(recorder.events) >= len(stored))
    seqs = [e.seq for e in recorder.events]
    assert seqs == [e.seq for e in stored]
    assert len(stored) == 40


async def test_events_another_process_writes_reach_this_ones_bus(
    sqlite_url: str, clock: FakeClock
) -> None:
    """Two instances over one database (two workers): the second hears the first's events."""
    writer = build(make_settings(sqlite_url), clock=clock)
    listener = build(make_settings(sqlite_url), clock=clock)
    try:
        recorder = EventRecorder()
        listener.bus.subscribe(recorder)
        listener.follower.start()
        register(writer.registry, MODEL, "1", production=True)
        await _until(lambda: len(recorder.events) == 2)
        assert [e.event_type for e in recorder.events] == [
            "model.registered",
            "model.stage_changed",
        ]
    finally:
        writer.close()
        listener.close()


async def test_a_handler_that_changes_something_does_not_wait_for_itself(
    grace: Grace, clock: FakeClock
) -> None:
    """A subscriber that records a snapshot when it hears of a registration: its own change
    is handed on after it returns, and nothing waits for the other."""
    register(grace.registry, MODEL, "1", production=True)
    recorder = EventRecorder()

    async def on_registered(event: Event) -> None:
        await recorder(event)
        if event.event_type == "model.registered" and event.resource_id == "second":
            await grace.registry.record_performance_snapshot(
                snapshot(MODEL, "1", at=clock.now(), base=HEALTHY)
            )

    grace.bus.subscribe(on_registered)
    register(grace.registry, "second", "1")
    await _until(lambda: len(recorder.of_type("model.performance_snapshot")) == 1, 3.0)
    assert [e.seq for e in recorder.events] == sorted(e.seq or 0 for e in recorder.events)


async def test_an_awaited_change_is_handed_on_before_the_call_returns(
    grace: Grace, clock: FakeClock
) -> None:
    """The guide's monitoring callback has heard a snapshot when recording it returns."""
    register(grace.registry, MODEL, "1", production=True)
    heard: list[dict[str, Any]] = []

    async def monitoring(**kwargs: Any) -> None:
        heard.append(kwargs)

    grace.registry.set_monitoring_callback(monitoring)
    result = await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "1", at=clock.now(), base=HEALTHY)
    )
    assert [h["event_type"] for h in heard] == ["model.performance_snapshot"]
    assert result.snapshot_id == grace.events.latest_seq()


async def test_what_commits_while_nobody_listens_is_never_handed_on(grace: Grace) -> None:
    """A listener hears what commits from when it starts listening, not the backlog."""
    register(grace.registry, MODEL, "1")
    recorder = EventRecorder()
    grace.bus.subscribe(recorder)
    register(grace.registry, MODEL, "2")
    await _until(lambda: len(recorder.events) == 1)
    await asyncio.sleep(0.1)
    assert [(e.event_type, e.data["version"]) for e in recorder.events] == [
        ("model.registered", "2")
    ]


async def test_closing_stops_the_follower(grace: Grace) -> None:
    """Close ends the follower's task at its next turn, from a thread or on the loop."""
    grace.bus.subscribe(EventRecorder())
    grace.follower.start()
    task = grace.follower._task
    assert task is not None
    await asyncio.to_thread(grace.close)
    await _until(task.done, 2.0)
