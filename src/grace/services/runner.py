"""Running blocking database work from async code, without holding up the event loop.

:class:`Runner` has two ways in:

- ``await run(fn, ...)`` runs ``fn`` in a worker thread: the default for any call that may
  take long (a page of a listing, a batch, a remediation) or wait for a lock.
- ``await run.small(fn, ...)`` is for a point read or a call that does one short write
  transaction (registering a version, a stage change).  Where the store can write without
  waiting (SQLite), it runs right there on the event loop inside
  :meth:`Store.without_waiting`: a read there never waits (WAL), and if another writer holds
  the lock the write raises :class:`StoreBusy` as it begins, before anything changed, and the
  call runs again in a worker thread.  So the loop is held for the call's own work, a
  millisecond or so, and never behind another writer; what is saved is the hop to a thread
  and back, which costs about as much as such a call itself.  Elsewhere (PostgreSQL: every
  statement is a network round trip) it runs in a worker thread.

A call given to ``small`` must not have done anything lasting before its first write
transaction (reads are fine), so that running it again is safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from grace.adapters.store import Store, StoreBusy

__all__ = ["Runner"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Runner:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._inline = store.writes_without_waiting

    async def __call__(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``fn(*args, **kwargs)`` in a worker thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def small(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``fn(*args, **kwargs)`` on the event loop if it can run there without waiting,
        else in a worker thread (see the module's docstring for which calls qualify)."""
        if self._inline:
            try:
                with self._store.without_waiting():
                    return fn(*args, **kwargs)
            except StoreBusy:
                pass  # nothing was changed: run it where waiting is harmless
        return await asyncio.to_thread(fn, *args, **kwargs)
