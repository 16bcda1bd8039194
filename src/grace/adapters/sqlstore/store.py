"""The SQLAlchemy implementation of :mod:`grace.adapters.store` for SQLite and PostgreSQL.

:class:`SqlStore` opens sessions; :class:`SqlSession` is one transaction, assembled from
one part per capability: catalog (models, versions, stages, settings), monitoring
(snapshots, the event log), operations (incidents, playbook runs) and tokens, over shared
lookups (session) and queries and row converters (rows).  Rows become the records of
:mod:`grace.domain.records` before they leave the package.  Database errors are translated
here, once: unique-index violations become the package's Conflict types (in the parts),
anything else a StorageError.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import datetime

from sqlalchemy import (
    Engine,
)
from sqlalchemy.exc import DBAPIError

from grace.adapters.sqlstore.catalog import CatalogSession
from grace.adapters.sqlstore.delivery import DeliverySession
from grace.adapters.sqlstore.engine import NO_WAIT_OPTION, WRITE_OPTION, storage_error
from grace.adapters.sqlstore.guardrails import GuardrailSession
from grace.adapters.sqlstore.hotpath import (
    Checkpointer,
    ReadPath,
    SnapshotPath,
)
from grace.adapters.sqlstore.monitoring import MonitoringSession
from grace.adapters.sqlstore.operations import OperationsSession
from grace.adapters.sqlstore.tokens import TokenSession
from grace.adapters.store import (
    RecordedSnapshot,
    SnapshotWrite,
    WindowStart,
)
from grace.errors import (
    GraceError,
)

__all__ = ["SqlSession", "SqlStore"]


class _NoWaitScope:
    """An open ``without_waiting()`` block: has its first write transaction begun yet?"""

    __slots__ = ("begun",)

    def __init__(self) -> None:
        self.begun = False


_NO_WAIT: ContextVar[_NoWaitScope | None] = ContextVar("grace_store_no_wait", default=None)


class SqlStore:
    """A :class:`~grace.adapters.store.Store` over one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._checkpointer = Checkpointer.for_engine(engine)
        self._snapshots = SnapshotPath(engine, self._checkpointer)
        self._reads = ReadPath(engine)
        self._sqlite = engine.dialect.name == "sqlite"

    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        token = _NO_WAIT.set(_NoWaitScope() if self._sqlite else None)
        try:
            yield
        finally:
            _NO_WAIT.reset(token)

    def _first_write_without_waiting(self) -> bool:
        scope = _NO_WAIT.get()
        if scope is None or scope.begun:
            return False
        scope.begun = True
        return True

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[SqlSession]:
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(
                        **{WRITE_OPTION: True, NO_WAIT_OPTION: self._first_write_without_waiting()}
                    )
                    with conn.begin():
                        yield SqlSession(conn)
                    if self._checkpointer is not None:
                        self._checkpointer.committed()
                else:
                    # A read never persists anything: the transaction is always rolled back.
                    transaction = conn.begin()
                    try:
                        yield SqlSession(conn)
                    finally:
                        transaction.rollback()
        except GraceError:
            raise
        except DBAPIError as exc:
            raise storage_error(exc) from exc

    def write(self) -> AbstractContextManager[SqlSession]:
        return self._session(write=True)

    def read(self) -> AbstractContextManager[SqlSession]:
        return self._session(write=False)

    @property
    def writes_without_waiting(self) -> bool:
        """Whether ``record_snapshots(wait=False)`` can succeed (SQLite; not PostgreSQL)."""
        return self._sqlite

    def record_snapshots(
        self, writes: Sequence[SnapshotWrite], window_start: WindowStart, *, wait: bool = True
    ) -> list[RecordedSnapshot | GraceError]:
        return self._snapshots.record(writes, window_start, wait=wait)

    def token_active_since(self, at: datetime) -> bool:
        return self._reads.token_active_since(at)

    @property
    def checkpointer(self) -> Checkpointer | None:
        """The thread that checkpoints SQLite's write-ahead log (None elsewhere)."""
        return self._checkpointer

    def close(self) -> None:
        self._snapshots.close()
        self._reads.close()
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.engine.dispose()


class SqlSession(
    CatalogSession,
    MonitoringSession,
    OperationsSession,
    GuardrailSession,
    TokenSession,
    DeliverySession,
):
    """One transaction; see :class:`grace.adapters.store.StoreSession` for the contract.
    Its parts live in modules of their own (catalog, monitoring, operations, guardrails,
    tokens, delivery)."""
