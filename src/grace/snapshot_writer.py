"""Recording snapshots from async code: inline when the database allows, else grouped.

:class:`SnapshotWriter` hands each snapshot to :meth:`Store.record_snapshots`:

- When the store can write without waiting (SQLite: the write lock is free) and nothing
  is queued, it writes right there on the event loop: one short transaction (about a
  tenth of a millisecond), committed before the caller hears of it.  ``wait=False``
  guarantees it never waits for a lock, so the loop is never held behind another writer.
- Otherwise (PostgreSQL, or SQLite while another writer holds the lock) the snapshot
  joins a queue that one task per event loop drains into a worker thread.  Everything
  that queued while the previous group was being written goes into the next transaction
  together (a group commit), so concurrent snapshots share one commit, and each caller
  is answered only once its group has committed.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence

from grace.adapters.store import RecordedSnapshot, SnapshotWrite, Store, StoreBusy, WindowStart
from grace.errors import GraceError

__all__ = ["MAX_GROUP", "SnapshotWriter"]

# At most this many snapshots share one transaction.
MAX_GROUP = 512

_Pending = tuple[SnapshotWrite, "asyncio.Future[RecordedSnapshot | GraceError]"]


class _Queue:
    """The pending writes of one event loop and the task draining them."""

    def __init__(self) -> None:
        self.pending: list[_Pending] = []
        self.drainer: asyncio.Task[None] | None = None


class SnapshotWriter:
    def __init__(self, store: Store, window_start: WindowStart, *, inline: bool) -> None:
        self._store = store
        self._window_start = window_start
        self._inline = inline
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def record(self, write: SnapshotWrite) -> RecordedSnapshot:
        """Record one snapshot; raises what the store raised for it (e.g. VersionNotFound)."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        if self._inline and queue.drainer is None:
            try:
                (result,) = self._store.record_snapshots([write], self._window_start, wait=False)
            except StoreBusy:
                pass
            else:
                return _unwrap(result)
        future: asyncio.Future[RecordedSnapshot | GraceError] = loop.create_future()
        queue.pending.append((write, future))
        if queue.drainer is None:
            queue.drainer = loop.create_task(self._drain(queue), name="grace-snapshot-writer")
        return _unwrap(await future)

    async def _drain(self, queue: _Queue) -> None:
        try:
            while queue.pending:
                group, queue.pending = queue.pending[:MAX_GROUP], queue.pending[MAX_GROUP:]
                writes = [write for write, _ in group]
                try:
                    results: Sequence[RecordedSnapshot | GraceError] = await asyncio.to_thread(
                        self._store.record_snapshots, writes, self._window_start
                    )
                except Exception as exc:  # noqa: BLE001 - each caller gets the group's failure
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(group, results, strict=True):
                    if not future.done():  # a caller that went away still had its write
                        future.set_result(result)
        finally:
            queue.drainer = None


def _unwrap(result: RecordedSnapshot | GraceError) -> RecordedSnapshot:
    if isinstance(result, GraceError):
        raise result
    return result
