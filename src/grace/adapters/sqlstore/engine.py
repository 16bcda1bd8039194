"""Engines for the two supported databases, chosen by URL scheme.

SQLite runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so that two writers queue on the database lock instead of
deadlocking when both try to upgrade a read lock.  PostgreSQL uses psycopg 3.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from grace.adapters.store import StoreBusy
from grace.errors import InvalidInput, StorageError

__all__ = [
    "NO_WAIT_OPTION",
    "WRITE_OPTION",
    "make_engine",
    "normalise_url",
    "storage_error",
    "translated",
]

# Execution option that marks a connection's transaction as a write ...
WRITE_OPTION = "grace_write"
# ... and one whose BEGIN must not wait for the database lock (SQLite): StoreBusy instead.
NO_WAIT_OPTION = "grace_no_wait"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def storage_error(exc: BaseException) -> StorageError:
    """The StorageError for a database failure (SQLAlchemy's or the driver's own): its detail
    in general words, the database's in ``internal`` (which whoever reports the error logs
    or shows its operator)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    internal = str(orig).strip() or type(orig).__name__
    return StorageError(
        "the database is unavailable or failed; the server's log has the details",
        internal=internal,
    )


@contextmanager
def translated() -> Iterator[None]:
    """Database failures inside become :func:`storage_error`."""
    try:
        yield
    except DBAPIError as exc:
        raise storage_error(exc) from exc


def normalise_url(url: str) -> URL:
    """Parse ``url``; ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidInput("database_url", f"is not a database URL: {exc}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise InvalidInput(
            "database_url",
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql",
        )
    return parsed


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    return create_engine(
        parsed,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"application_name": "grace"},
    )


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    in_memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {
        "echo": echo,
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    }
    if in_memory:
        # One shared connection, or every checkout would see a different empty database.
        kwargs["poolclass"] = StaticPool
    else:
        # A checkout never waits for a free connection: calls run on the event loop
        # (Runner.small) while worker threads may hold many, waiting for the write lock.  A
        # SQLite connection is a file handle; the threads that can hold one are bounded.
        kwargs.update(pool_size=5, max_overflow=-1)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if not options.get(WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN")
        elif options.get(NO_WAIT_OPTION, False):
            _begin_without_waiting(connection.connection.driver_connection)
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _begin_without_waiting(dbapi_connection: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE`` if the write lock is free now; StoreBusy (nothing begun) if not."""
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        dbapi_connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise StoreBusy("another writer holds the database lock") from exc
        raise storage_error(exc) from exc
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
