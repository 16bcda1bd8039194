"""Recording snapshots from async code: inline when the database allows, else grouped.

:class:`SnapshotWriter` hands each snapshot to :meth:`Store.record_snapshots`:

- When the store can write without waiting (SQLite: the write lock is free), it writes
  right there on the event loop, at the end of the loop's current round: every snapshot
  that arrived in that round (up to ``MAX_INLINE_GROUP``) goes into one short transaction,
  committed before any of their callers hears of it.  ``wait=False`` guarantees it never
  waits for a lock, so the loop is never held behind another writer.  While snapshots come
  one at a time (``SOLO_AFTER`` groups in a row of one), a snapshot is written at once,
  without waiting for the round to end; every ``PROBE_EVERY``-th one takes the round again
  to see whether others now arrive beside it.
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
from grace.services.runner import Runner

__all__ = ["MAX_GROUP", "MAX_INLINE_GROUP", "PROBE_EVERY", "SOLO_AFTER", "SnapshotWriter"]

# At most this many snapshots share one transaction in a worker thread ...
MAX_GROUP = 512
# ... and on the event loop, where each costs some tens of microseconds of loop time.
MAX_INLINE_GROUP = 32
# After this many inline groups of one in a row, snapshots are written at once ...
SOLO_AFTER = 8
# ... except every this-many-th, which waits for the round's end to look for company.
PROBE_EVERY = 64

_Pending = tuple[SnapshotWrite, "asyncio.Future[RecordedSnapshot | GraceError]"]


class _Queue:
    """The pending writes of one event loop and the task draining them."""

    def __init__(self) -> None:
        self.pending: list[_Pending] = []
        self.drainer: asyncio.Task[None] | None = None
        self.flush_scheduled = False
        self.singles = 0  # inline groups of one in a row
        self.solo_writes = 0  # snapshots written at once since the last probe


class SnapshotWriter:
    def __init__(
        self, store: Store, window_start: WindowStart, *, inline: bool, run: Runner
    ) -> None:
        self._store = store
        self._run = run
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
        if self._inline and queue.singles >= SOLO_AFTER and self._idle(queue):
            queue.solo_writes += 1
            if queue.solo_writes < PROBE_EVERY:
                try:
                    (result,) = self._store.record_snapshots(
                        [write], self._window_start, wait=False
                    )
                except StoreBusy:
                    pass  # it queues below, for the drainer
                else:
                    return _unwrap(result)
            queue.solo_writes = 0
        future: asyncio.Future[RecordedSnapshot | GraceError] = loop.create_future()
        queue.pending.append((write, future))
        if queue.drainer is None:
            if self._inline:
                self._schedule_inline(queue, loop)
            else:
                self._start_drainer(queue, loop)
        return _unwrap(await future)

    @staticmethod
    def _idle(queue: _Queue) -> bool:
        return not queue.pending and queue.drainer is None and not queue.flush_scheduled

    def _schedule_inline(self, queue: _Queue, loop: asyncio.AbstractEventLoop) -> None:
        if not queue.flush_scheduled:
            queue.flush_scheduled = True
            loop.call_soon(self._flush_inline, queue, loop)

    def _start_drainer(self, queue: _Queue, loop: asyncio.AbstractEventLoop) -> None:
        queue.drainer = loop.create_task(self._drain(queue), name="grace-snapshot-writer")

    def _flush_inline(self, queue: _Queue, loop: asyncio.AbstractEventLoop) -> None:
        """Write what queued this round on the loop, or hand it to a worker thread."""
        queue.flush_scheduled = False
        if queue.drainer is not None or not queue.pending:
            return
        group = queue.pending[:MAX_INLINE_GROUP]
        queue.singles = queue.singles + 1 if len(group) == 1 else 0
        try:
            results = self._store.record_snapshots(
                [write for write, _ in group], self._window_start, wait=False
            )
        except StoreBusy:
            queue.singles = 0
            self._start_drainer(queue, loop)  # the group stays queued, first in line
            return
        except Exception as exc:  # noqa: BLE001 - each caller gets the group's failure
            del queue.pending[: len(group)]
            _settle(group, exc)
        else:
            del queue.pending[: len(group)]
            _settle(group, results)
        if queue.pending:
            self._schedule_inline(queue, loop)

    async def _drain(self, queue: _Queue) -> None:
        try:
            while queue.pending:
                group, queue.pending = queue.pending[:MAX_GROUP], queue.pending[MAX_GROUP:]
                writes = [write for write, _ in group]
                try:
                    results: Sequence[RecordedSnapshot | GraceError] = await self._run(
                        self._store.record_snapshots, writes, self._window_start
                    )
                except Exception as exc:  # noqa: BLE001 - each caller gets the group's failure
                    _settle(group, exc)
                    continue
                _settle(group, results)
        finally:
            queue.drainer = None


def _settle(
    group: Sequence[_Pending], outcome: Sequence[RecordedSnapshot | GraceError] | Exception
) -> None:
    """Answer each caller of ``group``: its own result, or the group's failure."""
    for index, (_, future) in enumerate(group):
        if future.done():  # a caller that went away still had its write
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[index])


def _unwrap(result: RecordedSnapshot | GraceError) -> RecordedSnapshot:
    if isinstance(result, GraceError):
        raise result
    return result
