"""The snapshot writer: inline when the database is free, grouped behind a busy one, and the
event loop never waiting on a lock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from grace.adapters.store import RecordedSnapshot, SnapshotWrite, Store, WindowStart
from grace.bootstrap import Grace
from grace.clock import FakeClock
from grace.domain.events import EventType
from grace.errors import GraceError, VersionNotFound
from grace.services.snapshot_writer import PROBE_EVERY, SOLO_AFTER, SnapshotWriter
from tests.helpers import behind_a_held_lock, hold_write_lock, register, snapshot

MODEL = "fraud_detector_v3"


class CountingStore:
    """The real store, counting the transactions of the snapshot path and their sizes."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.groups: list[tuple[int, bool]] = []  # (writes, wait)

    def record_snapshots(
        self, writes: Sequence[SnapshotWrite], window_start: WindowStart, *, wait: bool = True
    ) -> list[RecordedSnapshot | GraceError]:
        results = self._store.record_snapshots(writes, window_start, wait=wait)
        self.groups.append((len(writes), wait))
        return results

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def writer_for(grace: Grace) -> tuple[SnapshotWriter, CountingStore]:
    counting = CountingStore(grace.store)
    # The counting wrapper forwards everything else to the real store.
    writer = SnapshotWriter(
        counting,
        lambda _target, _at: None,
        inline=grace.store.writes_without_waiting,
        run=grace.run,
    )
    return writer, counting


def writes(grace: Grace, count: int, version: str = "3.1.5") -> list[SnapshotWrite]:
    now = grace.clock.now()
    out = []
    for _ in range(count):
        out.append(SnapshotWrite(snapshot(MODEL, version, at=now), now))
    return out


def test_concurrent_snapshots_behind_a_busy_database_share_one_commit(
    any_grace: Grace, clock: FakeClock
) -> None:
    """Twenty snapshots arriving while another transaction holds the lock are all answered,
    in far fewer transactions than twenty, and every one is stored."""
    register(any_grace.registry, MODEL, "3.1.5", production=True)
    writer, counting = writer_for(any_grace)
    group = writes(any_grace, 20)

    async def main() -> list[RecordedSnapshot]:
        thread, _ = hold_write_lock(any_grace, 0.5)
        results = await asyncio.gather(*(writer.record(w) for w in group))
        thread.join()
        return results

    results = asyncio.run(main())
    assert len({r.snapshot_id for r in results}) == 20
    assert all(r.event.seq is not None for r in results)
    committed = [n for n, wait in counting.groups if wait]
    assert len(committed) <= 3, counting.groups
    assert max(committed) >= 10
    with any_grace.store.read() as s:
        stored = s.list_events(event_types=[EventType.PERFORMANCE_SNAPSHOT], limit=100)
    assert len(stored) == 20


def test_a_free_sqlite_database_is_written_inline_one_snapshot_per_commit(grace: Grace) -> None:
    """Sequential snapshots on a free SQLite database never leave the event loop's thread."""
    register(grace.registry, MODEL, "3.1.5", production=True)
    writer, counting = writer_for(grace)

    async def main() -> None:
        for w in writes(grace, 5):
            await writer.record(w)

    asyncio.run(main())
    assert counting.groups == [(1, False)] * 5


def test_snapshots_arriving_together_on_a_free_sqlite_database_share_one_inline_commit(
    grace: Grace,
) -> None:
    """Snapshots that reach the writer in the same round of the loop commit together."""
    register(grace.registry, MODEL, "3.1.5", production=True)
    writer, counting = writer_for(grace)

    async def main() -> list[RecordedSnapshot]:
        return await asyncio.gather(*(writer.record(w) for w in writes(grace, 10)))

    results = asyncio.run(main())
    assert counting.groups == [(10, False)]
    assert len({r.event.seq for r in results}) == 10


def test_one_snapshot_at_a_time_is_written_at_once_and_company_is_noticed(grace: Grace) -> None:
    """After SOLO_AFTER groups of one, a sequential caller's snapshot is written without a
    round of the loop (nothing else runs meanwhile); when many then arrive together, the
    next probe sees them and they share commits again."""
    register(grace.registry, MODEL, "3.1.5", production=True)
    writer, counting = writer_for(grace)
    ran_between: list[bool] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for w in writes(grace, SOLO_AFTER + 3):
            other = loop.create_future()
            loop.call_soon(other.set_result, None)
            await writer.record(w)
            ran_between.append(other.done())
            await other
        await asyncio.gather(*(writer.record(w) for w in writes(grace, 3 * PROBE_EVERY)))

    asyncio.run(main())
    assert ran_between == [True] * SOLO_AFTER + [False] * 3
    burst = counting.groups[SOLO_AFTER + 3 :]
    assert sum(n for n, _ in burst) == 3 * PROBE_EVERY
    assert all(not wait for _, wait in burst)
    assert len(burst) < PROBE_EVERY + 8, burst  # solo until a probe, then grouped
    assert max(n for n, _ in burst) > 1


def test_the_event_loop_keeps_running_while_the_database_is_locked(grace: Grace) -> None:
    """A snapshot waiting for a lock another transaction holds for a second waits in a
    worker thread: a ticker on the loop never stalls for more than a fraction of that."""
    register(grace.registry, MODEL, "3.1.5", production=True)
    writer, _ = writer_for(grace)
    stall = behind_a_held_lock(grace, 1.0, lambda: writer.record(writes(grace, 1)[0]))
    assert stall.waited > 0.5  # it did wait for the lock ...
    assert stall.longest_gap < 0.25, stall  # ... but not on the loop


def test_an_unknown_version_is_its_callers_error_alone(any_grace: Grace) -> None:
    """In a shared group, the write for a missing version raises for its caller only."""
    register(any_grace.registry, MODEL, "3.1.5", production=True)
    writer, _ = writer_for(any_grace)
    good, bad = writes(any_grace, 1)[0], writes(any_grace, 1, version="9.9.9")[0]

    async def main() -> tuple[Any, ...]:
        thread, _ = hold_write_lock(any_grace, 0.3)
        results = await asyncio.gather(
            writer.record(good), writer.record(bad), return_exceptions=True
        )
        thread.join()
        return tuple(results)

    first, second = asyncio.run(main())
    assert isinstance(first, RecordedSnapshot)
    assert isinstance(second, VersionNotFound)
