"""The hot paths in driver SQL: :meth:`SqlStore.record_snapshots` and the open-mode check.

Recording a snapshot is the one operation that runs thousands of times a second, and
SQLAlchemy's statement execution costs more than the database's own work on it.  So
this path compiles its four statements once, from the same table definitions, and runs
them on one connection it keeps, with the column types' own bind processors: the SQL,
the parameters and the stored values are exactly what the session path would produce.

On SQLite the connection does not checkpoint the write-ahead log itself (a checkpoint
flushes the database file, milliseconds that would land on one unlucky snapshot); a
:class:`Checkpointer` thread does it beside the writers, passively, never blocking them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, event, exists, func, insert, or_, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from grace.adapters.sqlstore.engine import SQLITE_BUSY_TIMEOUT_MS, storage_error
from grace.adapters.sqlstore.schema import (
    SETTING_COLUMNS,
    api_tokens,
    events,
    model_versions,
    models,
    snapshots,
)
from grace.adapters.store import (
    RecordedSnapshot,
    SnapshotTarget,
    SnapshotWrite,
    StoreBusy,
    WindowStart,
)
from grace.domain.events import Event
from grace.domain.records import StoredSettings
from grace.domain.snapshots import WindowStats
from grace.domain.stages import DeploymentStage
from grace.errors import GraceError, ModelNotFound, VersionNotFound

__all__ = [
    "EVENT_LOG_LOCK",
    "Q_LOG_HEAD",
    "Q_MODEL_PK",
    "Q_SNAPSHOT_TARGET",
    "Q_TOKEN_ACTIVE_SINCE",
    "Q_WINDOW",
    "SETTINGS_COLUMNS",
    "WINDOW_AGGREGATES",
    "Checkpointer",
    "ReadPath",
    "SnapshotPath",
    "event_params",
    "settings_of",
    "snapshot_params",
]

log = logging.getLogger(__name__)

_m, _v = models, model_versions
SETTINGS_COLUMNS = (_m.c.auto_remediate, *(_m.c[name] for name in SETTING_COLUMNS))
Q_SNAPSHOT_TARGET = (
    select(_v.c.id, _v.c.stage, _v.c.expected_latency_p95_ms, *SETTINGS_COLUMNS)
    .join_from(_v, _m, _v.c.model_pk == _m.c.id)
    .where(_m.c.model_id == bindparam("model_id"), _v.c.version == bindparam("version"))
)
Q_MODEL_PK = select(_m.c.id).where(_m.c.model_id == bindparam("model_id"))
WINDOW_AGGREGATES = (
    func.count(snapshots.c.version_pk).label("n"),
    func.avg(snapshots.c.error_rate).label("err"),
    func.avg(snapshots.c.latency_p95_ms).label("p95"),
    func.avg(snapshots.c.ood_rate).label("ood"),
    func.avg(snapshots.c.input_drift_score).label("drift"),
    func.avg(snapshots.c.accuracy).label("acc"),
)
Q_WINDOW = select(*WINDOW_AGGREGATES).where(
    snapshots.c.version_pk == bindparam("version_pk"), snapshots.c.ts >= bindparam("since")
)
Q_TOKEN_ACTIVE_SINCE = select(
    exists().where(
        or_(api_tokens.c.revoked_at.is_(None), api_tokens.c.revoked_at >= bindparam("at"))
    )
)
# The newest position of the event log, which events and snapshot rows share.
Q_LOG_HEAD = select(
    select(func.max(events.c.seq)).scalar_subquery(),
    select(func.max(snapshots.c.id)).scalar_subquery(),
)
# The first target of a transaction, read with the log's head: one statement, not two.
_Q_TARGET_AND_HEAD = Q_SNAPSHOT_TARGET.add_columns(*Q_LOG_HEAD.selected_columns)
_INSERT_SNAPSHOT = insert(snapshots).values({c.name: bindparam(c.name) for c in snapshots.c})
_EVENT_LOG_LOCK_SQL = "SELECT pg_advisory_xact_lock(%(key)s)"

# Passive checkpoints run after this many commits, and at most a second after the last.
CHECKPOINT_EVERY_COMMITS = 256


def settings_of(auto_remediate: Any, overrides: Sequence[Any]) -> StoredSettings:
    """StoredSettings from the auto-remediate column and the SETTING_COLUMNS, in order."""
    explicit = {n: v for n, v in zip(SETTING_COLUMNS, overrides, strict=True) if v is not None}
    return StoredSettings(auto_remediate=bool(auto_remediate), overrides=explicit)


class _Prepared:
    """A statement compiled once for a dialect, with its parameters' bind processors."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):  # pragma: no cover - statements compile so
            raise TypeError(f"not a SQL statement: {statement!r}")
        self.sql = str(compiled)
        self.names = list(compiled.positiontup or compiled.binds)
        self.positional = compiled.positiontup is not None
        self._binders: tuple[tuple[str, Callable[[Any], Any] | None], ...] = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in self.names
        )

    def params(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters (a tuple or a dict, as its paramstyle wants)."""
        bound = [values[n] if p is None else p(values[n]) for n, p in self._binders]
        return tuple(bound) if self.positional else dict(zip(self.names, bound, strict=True))


class SnapshotPath:
    """Runs :meth:`record_snapshots` on one kept connection, one call at a time."""

    def __init__(self, engine: Engine, checkpointer: Checkpointer | None) -> None:
        self._engine = engine
        dialect = engine.dialect
        self._postgres = dialect.name == "postgresql"
        self._target = _Prepared(Q_SNAPSHOT_TARGET, dialect)
        self._model = _Prepared(Q_MODEL_PK, dialect)
        self._window = _Prepared(Q_WINDOW, dialect)
        self._insert_snapshot = _Prepared(_INSERT_SNAPSHOT, dialect)
        self._target_and_head = _Prepared(_Q_TARGET_AND_HEAD, dialect)
        self._lock = threading.Lock()
        self._conn: PoolProxiedConnection | None = None
        self._busy_timeout_ms: int | None = None
        self._checkpointer = checkpointer  # the store's (it closes it)
        self._closed = False
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    # -- the connection ------------------------------------------------------------------
    def _connection(self) -> PoolProxiedConnection:
        if self._conn is None:
            if self._closed:
                raise RuntimeError("the store is closed")
            conn = self._engine.raw_connection()
            self._conn, self._busy_timeout_ms = conn, None
        return self._conn

    def _set_busy_timeout(self, cursor: Any, milliseconds: int) -> None:
        if self._busy_timeout_ms != milliseconds:
            cursor.execute(f"PRAGMA busy_timeout={int(milliseconds)}")
            self._busy_timeout_ms = milliseconds

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
            except Exception:  # a broken connection may fail to close too
                log.debug("could not invalidate the snapshot connection", exc_info=True)

    # -- the work ------------------------------------------------------------------------
    def record(
        self, writes: Sequence[SnapshotWrite], window_start: WindowStart, *, wait: bool
    ) -> list[RecordedSnapshot | GraceError]:
        if not writes:
            return []
        if not wait and self._postgres:
            raise StoreBusy("PostgreSQL is always across a network round trip")
        if not self._lock.acquire(blocking=wait):
            raise StoreBusy("another call holds the snapshot connection")
        try:
            return self._record(writes, window_start, wait=wait)
        finally:
            self._lock.release()

    def _record(
        self, writes: Sequence[SnapshotWrite], window_start: WindowStart, *, wait: bool
    ) -> list[RecordedSnapshot | GraceError]:
        conn = self._connection()
        cursor = conn.cursor()
        try:
            if self._postgres:
                out = self._in_transaction(cursor, writes, window_start)
                conn.commit()
            else:
                self._set_busy_timeout(cursor, SQLITE_BUSY_TIMEOUT_MS if wait else 0)
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if not wait and "locked" in str(exc):
                        raise StoreBusy("another writer holds the database lock") from exc
                    raise
                try:
                    out = self._in_transaction(cursor, writes, window_start)
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                if self._checkpointer is not None:
                    self._checkpointer.committed()
        except StoreBusy:
            raise
        except self._dbapi_error as exc:
            self._rollback_quietly(conn)
            self._discard()
            raise storage_error(exc) from exc
        except BaseException:
            self._rollback_quietly(conn)
            raise
        finally:
            _close_quietly(cursor)
        return out

    def _rollback_quietly(self, conn: PoolProxiedConnection) -> None:
        if self._postgres:
            try:
                conn.rollback()
            except Exception:  # the connection is discarded anyway
                log.debug("rollback of the snapshot connection failed", exc_info=True)

    def _in_transaction(
        self, cursor: Any, writes: Sequence[SnapshotWrite], window_start: WindowStart
    ) -> list[RecordedSnapshot | GraceError]:
        if self._postgres:  # see SqlSession.log_positions
            cursor.execute(_EVENT_LOG_LOCK_SQL, {"key": EVENT_LOG_LOCK})
        seq: int | None = None  # the log's head, read with the first target found
        out: list[RecordedSnapshot | GraceError] = []
        for write in writes:
            snapshot = write.snapshot
            lookup = self._target if seq is not None else self._target_and_head
            cursor.execute(
                lookup.sql,
                lookup.params({"model_id": snapshot.model_id, "version": snapshot.version}),
            )
            row = cursor.fetchone()
            if row is None:
                cursor.execute(self._model.sql, self._model.params({"model_id": snapshot.model_id}))
                found = cursor.fetchone() is not None
                out.append(
                    VersionNotFound(snapshot.model_id, snapshot.version)
                    if found
                    else ModelNotFound(snapshot.model_id)
                )
                continue
            if seq is None:
                *row, last_event, last_snapshot = row
                seq = max(last_event or 0, last_snapshot or 0)
            version_pk, stage, expected_p95, auto_remediate, *overrides = row
            target = SnapshotTarget(
                DeploymentStage(stage), expected_p95, settings_of(auto_remediate, overrides)
            )
            seq += 1
            values = snapshot_params(write, version_pk, seq)
            cursor.execute(self._insert_snapshot.sql, self._insert_snapshot.params(values))
            stats = None
            since = window_start(target, write.recorded_at)
            if since is not None:
                window = self._window.params({"version_pk": version_pk, "since": since})
                cursor.execute(self._window.sql, window)
                count, *averages = cursor.fetchone()
                stats = WindowStats(int(count or 0), *averages)
            out.append(RecordedSnapshot(seq, target, stats, write))
        return out

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()


class ReadPath:
    """Small reads asked on every request, on one kept connection in autocommit (each read
    sees what is committed when it runs), one at a time."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._token_active_since = _Prepared(Q_TOKEN_ACTIVE_SINCE, engine.dialect)
        self._lock = threading.Lock()
        self._conn: PoolProxiedConnection | None = None
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    def token_active_since(self, at: datetime) -> bool:
        row = self._one(self._token_active_since, {"at": at})
        return bool(row[0])

    def _one(self, statement: _Prepared, values: Mapping[str, Any]) -> Any:
        with self._lock:
            if self._conn is None:
                conn = self._engine.raw_connection()
                if self._postgres:
                    conn.rollback()
                    conn.driver_connection.autocommit = True  # type: ignore[union-attr]
                self._conn = conn
            cursor = self._conn.cursor()
            try:
                cursor.execute(statement.sql, statement.params(values))
                return cursor.fetchone()
            except self._dbapi_error as exc:
                conn, self._conn = self._conn, None
                conn.invalidate()
                raise storage_error(exc) from exc
            finally:
                _close_quietly(cursor)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                if self._postgres:
                    conn.driver_connection.autocommit = False  # type: ignore[union-attr]
                conn.close()


# Orders commits of event-writing transactions on PostgreSQL (see SqlSession._lock_event_log).
EVENT_LOG_LOCK = 0x67726365  # "grce"


def snapshot_params(write: SnapshotWrite, version_pk: int, seq: int) -> dict[str, Any]:
    """The snapshots row of ``write`` at log position ``seq``, by column name."""
    snapshot = write.snapshot
    return {
        "id": seq,
        "version_pk": version_pk,
        "ts": snapshot.timestamp,
        "recorded_at": write.recorded_at,
        "latency_p50_ms": snapshot.latency_p50_ms,
        "latency_p95_ms": snapshot.latency_p95_ms,
        "latency_p99_ms": snapshot.latency_p99_ms,
        "requests_per_second": snapshot.requests_per_second,
        "error_rate": snapshot.error_rate,
        "ood_rate": snapshot.ood_rate,
        "input_drift_score": snapshot.input_drift_score,
        "accuracy": snapshot.accuracy,
        "event_id": write.event_id,
    }


def event_params(event: Event, seq: int) -> dict[str, Any]:
    """The events row of ``event`` at log position ``seq``, by column name."""
    return {
        "seq": seq,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "source": event.source,
        "resource_id": event.resource_id,
        "occurred_at": event.timestamp,
        "payload": dict(event.payload),
    }


class Checkpointer:
    """Checkpoints an SQLite write-ahead log in its own thread, passively (never waiting
    for, or blocking, a writer or a reader), after a run of commits or a second after one.

    ``for_engine`` starts one for a file database in WAL mode and turns SQLite's own
    checkpoint-on-commit off for the engine's connections, so that no commit (one made on
    the event loop included) pays for a checkpoint; every committer reports ``committed``.
    """

    @classmethod
    def for_engine(cls, engine: Engine) -> Checkpointer | None:
        if engine.dialect.name != "sqlite":
            return None
        with engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        if str(journal).lower() != "wal":
            return None

        @event.listens_for(engine, "connect")
        def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

        engine.dispose()  # connections opened before keep their automatic checkpoints
        return cls(engine)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._wake = threading.Event()
        self._stop = False
        self._pending = 0
        self.checkpoints = 0  # done so far (for tests and diagnostics)
        self._thread = threading.Thread(target=self._run, name="grace-wal-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        self._pending += 1
        if self._pending >= CHECKPOINT_EVERY_COMMITS:
            self._wake.set()

    def _run(self) -> None:
        conn: PoolProxiedConnection | None = None
        try:
            while not self._stop:
                self._wake.wait(1.0)
                self._wake.clear()
                if self._pending == 0:
                    continue
                self._pending = 0
                try:
                    if conn is None:
                        conn = self._engine.raw_connection()
                    with _cursor(conn) as cursor:
                        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    self.checkpoints += 1
                except (sqlite3.Error, DBAPIError):
                    log.warning("a WAL checkpoint failed; the next will retry", exc_info=True)
                    if conn is not None:
                        conn.invalidate()
                        conn = None
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        self._stop = True
        self._pending += 1  # one last checkpoint on the way out
        self._wake.set()
        self._thread.join(timeout=10)


class _cursor:  # noqa: N801 - used as a context manager, like contextlib's
    def __init__(self, conn: PoolProxiedConnection) -> None:
        self._cursor = conn.cursor()

    def __enter__(self) -> Any:
        return self._cursor

    def __exit__(self, *_: object) -> None:
        _close_quietly(self._cursor)


def _close_quietly(cursor: Any) -> None:
    try:
        cursor.close()
    except Exception:  # a broken connection's cursor may fail to close
        log.debug("could not close a cursor", exc_info=True)
