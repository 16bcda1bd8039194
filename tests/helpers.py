"""Small builders shared by tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from grace.domain.events import Event, EventType
from grace.domain.snapshots import ModelPerformanceSnapshot
from grace.domain.stages import DeploymentStage
from grace.model_registry import ModelRegistry

if TYPE_CHECKING:
    from grace.bootstrap import Grace
    from grace.clock import Clock

HEALTHY: dict[str, Any] = {
    "latency_p50_ms": 100.0,
    "latency_p95_ms": 200.0,
    "latency_p99_ms": 300.0,
    "requests_per_second": 250.0,
    "error_rate": 0.01,
    "ood_rate": 0.05,
    "input_drift_score": 0.1,
    "accuracy": 0.93,
}

# The guide's degraded snapshot.
DEGRADED: dict[str, Any] = {
    "latency_p50_ms": 120.5,
    "latency_p95_ms": 245.3,
    "latency_p99_ms": 350.1,
    "requests_per_second": 250.0,
    "error_rate": 0.085,
    "ood_rate": 0.22,
    "input_drift_score": 0.35,
    "accuracy": 0.89,
}


def snapshot(
    model_id: str, version: str, *, at: datetime, base: dict[str, Any] | None = None, **values: Any
) -> ModelPerformanceSnapshot:
    fields = {**(base or HEALTHY), **values}
    return ModelPerformanceSnapshot(model_id=model_id, version=version, timestamp=at, **fields)


def register(
    registry: ModelRegistry,
    model_id: str,
    version: str,
    *,
    production: bool = False,
    expected_latency_p95_ms: float = 245.3,
    **kwargs: Any,
) -> None:
    """Register a version that passes every governance gate, optionally promoting it."""
    registry.register_model(
        model_id,
        version,
        expected_latency_p95_ms=expected_latency_p95_ms,
        constitutional_compliance=True,
        bias_check_passed=True,
        **kwargs,
    )
    if production:
        registry.update_deployment_status(model_id, DeploymentStage.PRODUCTION, version)


def hold_write_lock(grace: Grace, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """A thread that holds the database's write lock (SQLite) or the event log's (PostgreSQL)
    for ``seconds``; the event is set once it holds it."""
    holding = threading.Event()

    def hold() -> None:
        with grace.store.write() as s:
            s.ensure_model("lock-holder", grace.clock.now())
            # Any event takes PostgreSQL's event-log lock, which the snapshot path needs too.
            s.append_event(
                Event.of(EventType.MODEL_UPDATED, "test", "lock-holder", {}, grace.clock.now())
            )
            holding.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert holding.wait(5)
    return thread, holding


def behind_a_held_lock(
    grace: Grace, seconds: float, call: Callable[[], Awaitable[object]]
) -> Stall:
    """With another thread holding the write lock for ``seconds``, await ``call()`` on a
    fresh event loop beside a ticker that sleeps 10 ms at a time."""
    gaps: list[float] = []

    async def tick(stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def main() -> float:
        stop = asyncio.Event()
        ticking = asyncio.create_task(tick(stop))
        holder, _ = hold_write_lock(grace, seconds)
        started = time.monotonic()
        await call()
        waited = time.monotonic() - started
        stop.set()
        await ticking
        holder.join()
        return waited

    waited = asyncio.run(main())
    return Stall(waited, max(gaps, default=0.0))


@dataclass(frozen=True)
class Stall:
    #: How long the call took ...
    waited: float
    #: ... and the longest the loop went without running the ticker meanwhile.
    longest_gap: float


async def degrade(grace: Grace, clock: Clock, model_id: str) -> dict[str, Any]:
    """Record a degraded snapshot of ``model_id``'s production version now; its check."""
    production = grace.registry.get_production_version(model_id)
    assert production is not None
    recorded = await grace.registry.record_performance_snapshot(
        snapshot(model_id, production.version, at=clock.now(), base=DEGRADED)
    )
    assert recorded.check is not None
    return dict(recorded.check)
