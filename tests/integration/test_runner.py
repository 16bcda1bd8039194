"""The Runner: blocking database work from async code, in a worker thread or, for small calls
on SQLite with the lock free, right on the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

from grace.bootstrap import Grace
from tests.helpers import behind_a_held_lock, register

MODEL = "fraud_detector_v3"


def _register_from(grace: Grace, version: str, threads: list[int]) -> str:
    threads.append(threading.get_ident())
    register(grace.registry, MODEL, version)
    return version


def test_a_call_runs_in_a_worker_thread(any_grace: Grace) -> None:
    threads: list[int] = []

    async def main() -> None:
        assert await any_grace.run(_register_from, any_grace, "1.0", threads) == "1.0"

    asyncio.run(main())
    assert threads != [threading.get_ident()]
    assert any_grace.registry.get_model(MODEL, "1.0").version == "1.0"


def test_a_small_call_runs_on_the_loop_where_the_store_can_write_without_waiting(
    any_grace: Grace,
) -> None:
    """SQLite with the lock free: on the calling thread (the loop's); PostgreSQL: in a worker
    thread, since every statement there is a network round trip."""
    threads: list[int] = []

    async def main() -> None:
        assert await any_grace.run.small(_register_from, any_grace, "1.0", threads) == "1.0"

    asyncio.run(main())
    on_loop = threads == [threading.get_ident()]
    assert on_loop is any_grace.store.writes_without_waiting
    assert any_grace.registry.get_model(MODEL, "1.0").version == "1.0"


def test_behind_a_held_lock_a_small_call_moves_to_a_thread_runs_once_and_the_loop_runs_on(
    any_grace: Grace,
) -> None:
    """The call's first write finds the lock held: it is refused before changing anything and
    runs again in a worker thread, which waits for the lock; meanwhile a ticker on the loop
    never stalls."""
    threads: list[int] = []
    stall = behind_a_held_lock(
        any_grace, 0.8, lambda: any_grace.run.small(_register_from, any_grace, "1.0", threads)
    )
    if any_grace.store.writes_without_waiting:
        assert stall.waited > 0.4  # it did wait for the holder ...
        assert len(threads) == 2  # tried on the loop, refused, then run in a thread
        assert threads[0] == threading.get_ident() != threads[1]
    assert stall.longest_gap < 0.25, stall  # ... but not on the loop
    history = any_grace.registry.get_stage_history(MODEL)
    assert [(c.version, c.reason) for c in history] == [("1.0", "registered")]


def test_a_small_call_never_waits_for_a_pooled_connection(grace: Grace) -> None:
    """Worker threads waiting for the write lock may hold many SQLite connections; a call on
    the loop still gets one at once (the pool has no upper bound there)."""
    register(grace.registry, MODEL, "1.0")
    engine = grace.store.engine  # type: ignore[attr-defined]
    held = [engine.connect() for _ in range(40)]
    try:

        async def main() -> str:
            entry = await asyncio.wait_for(
                grace.run.small(grace.registry.get_model, MODEL, "1.0"), timeout=5
            )
            return entry.version

        assert asyncio.run(main()) == "1.0"
    finally:
        for conn in held:
            conn.close()


def test_a_token_check_does_not_wait_for_the_write_lock_to_note_its_use(grace: Grace) -> None:
    """Verifying a token notes its last use, a write; with another writer holding the lock
    the check on the loop skips the note instead of waiting (it is tried again later)."""
    token, secret = grace.tokens.create("reader", ["read"])
    stall = behind_a_held_lock(grace, 0.8, lambda: grace.run.small(grace.tokens.verify, secret))
    assert stall.longest_gap < 0.25, stall
    assert stall.waited < 0.4, stall  # answered without waiting for the holder
    assert grace.tokens.verify(secret) == token


def test_no_commit_pays_for_a_wal_checkpoint_yet_the_log_is_checkpointed(grace: Grace) -> None:
    """SQLite's checkpoint-on-commit is off for every connection of the store (a commit made
    on the event loop must not do a checkpoint's I/O); the store's checkpointer thread does
    them instead, for every kind of write, so the write-ahead log does not grow unbounded."""
    engine = grace.store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    for i in range(300):  # plain write sessions, no snapshot
        register(grace.registry, f"m{i:03d}", "1.0")
    checkpointer = grace.store.checkpointer  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpointer.checkpoints >= 1
