"""The SQLAlchemy implementation of :mod:`grace.adapters.store` for SQLite and PostgreSQL.

Rows are turned into the records of :mod:`grace.domain.records` before they
leave this module.  Database errors are translated here, once: unique-index
violations become the package's Conflict types, anything else a StorageError.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Row,
    Select,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError

from grace.adapters.sqlstore.engine import NO_WAIT_OPTION, WRITE_OPTION, storage_error
from grace.adapters.sqlstore.hotpath import (
    EVENT_LOG_LOCK,
    Q_LOG_HEAD,
    Q_MODEL_PK,
    Q_SNAPSHOT_TARGET,
    Q_TOKEN_ACTIVE_SINCE,
    Q_WINDOW,
    SETTINGS_COLUMNS,
    WINDOW_AGGREGATES,
    Checkpointer,
    ReadPath,
    SnapshotPath,
    event_params,
    settings_of,
    snapshot_params,
)
from grace.adapters.sqlstore.schema import (
    SETTING_COLUMNS,
    api_tokens,
    events,
    incident_timeline,
    incidents,
    model_versions,
    models,
    playbook_executions,
    snapshots,
    stage_changes,
    version_tags,
)
from grace.adapters.store import (
    MAX_PAGE_SIZE,
    FleetMember,
    NewIncident,
    NewVersion,
    RecordedSnapshot,
    RunningExecution,
    SnapshotTarget,
    SnapshotWrite,
    WindowStart,
)
from grace.domain.events import Event, EventType
from grace.domain.records import (
    DESCRIPTIVE_FIELDS,
    ChangeCause,
    ExecutionStatus,
    Incident,
    IncidentStatus,
    ModelEntry,
    PlaybookExecution,
    StageChange,
    StepRecord,
    StepStatus,
    StoredSettings,
    TimelineEntry,
)
from grace.domain.severity import Severity
from grace.domain.snapshots import ModelPerformanceSnapshot, WindowStats
from grace.domain.stages import DeploymentStage
from grace.domain.timeutil import ensure_utc
from grace.domain.tokens import ApiToken, Scope
from grace.errors import (
    ConcurrentChange,
    ExecutionNotFound,
    GraceError,
    IncidentNotFound,
    InvalidInput,
    ModelNotFound,
    StorageError,
    TokenNotFound,
    VersionExists,
    VersionNotFound,
)

__all__ = ["SqlSession", "SqlStore"]

_m, _v = models, model_versions

_ENTRY_COLUMNS = (_m.c.model_id, *(c for c in _v.c if c.name not in {"id", "model_pk"}))

# Statements of the snapshot path, built once: constructing a select costs more than running it.
_BY_NAME = (_m.c.model_id == bindparam("model_id"), _v.c.version == bindparam("version"))
_Q_VERSION_PK = select(_v.c.id).join_from(_v, _m, _v.c.model_pk == _m.c.id).where(*_BY_NAME)
_Q_ENTRY_AND_SETTINGS = (
    select(_v.c.id, *_ENTRY_COLUMNS, *SETTINGS_COLUMNS)
    .join_from(_v, _m, _v.c.model_pk == _m.c.id)
    .where(*_BY_NAME)
)
_Q_MODEL_PK_LOCKED = Q_MODEL_PK.with_for_update()
_Q_ENTRY_BY_NAME = (
    select(_v.c.id, *_ENTRY_COLUMNS).join_from(_v, _m, _v.c.model_pk == _m.c.id).where(*_BY_NAME)
)
_Q_ENTRY_BY_PK = (
    select(*_ENTRY_COLUMNS)
    .join_from(_v, _m, _v.c.model_pk == _m.c.id)
    .where(_v.c.id == bindparam("version_pk"))
)
_Q_LATEST = (
    select(*_ENTRY_COLUMNS)
    .join_from(_v, _m, _v.c.model_pk == _m.c.id)
    .where(_m.c.model_id == bindparam("model_id"))
    .order_by(_v.c.id.desc())
    .limit(1)
)
_Q_PRODUCTION = (
    select(*_ENTRY_COLUMNS)
    .join_from(_v, _m, _v.c.model_pk == _m.c.id)
    .where(_m.c.model_id == bindparam("model_id"), _v.c.stage == DeploymentStage.PRODUCTION.value)
)
_Q_SETTINGS = select(*SETTINGS_COLUMNS).where(_m.c.model_id == bindparam("model_id"))
_SET_STAGE = (
    update(_v)
    .where(_v.c.id == bindparam("pk"))
    .values(
        stage=bindparam("new_stage"), stage_changed_at=bindparam("at"), updated_at=bindparam("at")
    )
)
_SET_STAGE_DEPLOYED = _SET_STAGE.values(deployed_at=bindparam("at"))
_sc = stage_changes
_Q_HISTORY = (
    select(
        _sc.c.id,
        _m.c.model_id,
        _v.c.version,
        _sc.c.from_stage,
        _sc.c.to_stage,
        _sc.c.at,
        _sc.c.actor,
        _sc.c.reason,
        _sc.c.cause,
    )
    .join_from(_sc, _v, _sc.c.version_pk == _v.c.id)
    .join(_m, _sc.c.model_pk == _m.c.id)
    .where(_sc.c.model_pk == bindparam("model_pk"))
    .order_by(_sc.c.id)
    .limit(bindparam("limit"))
)
_Q_VERSION_HISTORY = _Q_HISTORY.where(_sc.c.version_pk == bindparam("version_pk"))
_INSERT_MODEL_SQLITE = sqlite_insert(_m).on_conflict_do_nothing(index_elements=["model_id"])
_INSERT_MODEL_PG = pg_insert(_m).on_conflict_do_nothing(index_elements=["model_id"])
# The same, saying the new row's id (none when the model existed), where RETURNING works.
_INSERT_MODEL_SQLITE_RETURNING = _INSERT_MODEL_SQLITE.returning(_m.c.id)
_INSERT_MODEL_PG_RETURNING = _INSERT_MODEL_PG.returning(_m.c.id)
_INSERT_VERSION = insert(_v)
_INSERT_STAGE_CHANGE = insert(stage_changes)
_INSERT_SNAPSHOT = insert(snapshots)
_CHUNK = 500  # keys per IN (...) list: well under every driver's parameter limit
_INSERT_EVENT = insert(events)

# What update_version may set: the descriptive fields, and the trust score the playbook keeps.
_VERSION_FIELDS = frozenset({*DESCRIPTIVE_FIELDS, "trust_score"})


AnyRow = Row[*tuple[Any, ...]]


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table has an autoincrement key
        raise StorageError("the database returned no key for an insert")
    return int(key[0])


def _page(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE_SIZE))


def _entry(row: AnyRow) -> ModelEntry:
    r = row._mapping
    return ModelEntry(
        model_id=r["model_id"],
        version=r["version"],
        status=DeploymentStage(r["stage"]),
        name=r["name"],
        description=r["description"],
        owner=r["owner"],
        tags=tuple(r["tags"] or ()),
        artifact_uri=r["artifact_uri"],
        expected_latency_p95_ms=r["expected_latency_p95_ms"],
        constitutional_compliance=bool(r["constitutional_compliance"]),
        bias_check_passed=bool(r["bias_check_passed"]),
        calibration_error=r["calibration_error"],
        trust_score=r["trust_score"],
        metadata=dict(r["metadata"] or {}),
        registered_at=r["registered_at"],
        updated_at=r["updated_at"],
        stage_changed_at=r["stage_changed_at"],
        deployed_at=r["deployed_at"],
    )


def _settings(row: AnyRow) -> StoredSettings:
    r = row._mapping
    return settings_of(r["auto_remediate"], [r[name] for name in SETTING_COLUMNS])


def _stats(count: int | None, *avgs: float | None) -> WindowStats:
    return WindowStats(int(count or 0), *avgs)


def _stage_change(row: AnyRow) -> StageChange:
    r = row._mapping
    return StageChange(
        id=r["id"],
        model_id=r["model_id"],
        version=r["version"],
        from_stage=DeploymentStage(r["from_stage"]) if r["from_stage"] else None,
        to_stage=DeploymentStage(r["to_stage"]),
        at=r["at"],
        actor=r["actor"],
        reason=r["reason"],
        cause=ChangeCause(r["cause"]),
    )


def _timeline(row: AnyRow) -> TimelineEntry:
    r = row._mapping
    return TimelineEntry(
        id=r["id"],
        at=r["at"],
        kind=r["kind"],
        message=r["message"],
        actor=r["actor"],
        data=dict(r["data"] or {}),
    )


def _incident(row: AnyRow, timeline: Sequence[TimelineEntry] = ()) -> Incident:
    r = row._mapping
    return Incident(
        id=r["id"],
        source=r["source"],
        resource_type=r["resource_type"],
        resource_id=r["resource_id"],
        severity=Severity(r["severity"]),
        title=r["title"],
        description=r["description"],
        context=dict(r["context"] or {}),
        status=IncidentStatus(r["status"]),
        dedup_key=r["dedup_key"],
        occurrences=r["occurrences"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        last_seen_at=r["last_seen_at"],
        acknowledged_at=r["acknowledged_at"],
        acknowledged_by=r["acknowledged_by"],
        resolved_at=r["resolved_at"],
        resolved_by=r["resolved_by"],
        timeline=tuple(timeline),
    )


def _step_to_json(step: StepRecord) -> dict[str, Any]:
    return {
        "name": step.name,
        "status": step.status.value,
        "started_at": ensure_utc(step.started_at).isoformat(),
        "finished_at": ensure_utc(step.finished_at).isoformat(),
        "duration_ms": step.duration_ms,
        "detail": dict(step.detail),
        "error": step.error,
    }


def _step_from_json(doc: Mapping[str, Any]) -> StepRecord:
    return StepRecord(
        name=doc["name"],
        status=StepStatus(doc["status"]),
        started_at=ensure_utc(datetime.fromisoformat(doc["started_at"])),
        finished_at=ensure_utc(datetime.fromisoformat(doc["finished_at"])),
        duration_ms=float(doc.get("duration_ms", 0.0)),
        detail=dict(doc.get("detail") or {}),
        error=doc.get("error"),
    )


def _execution(row: AnyRow) -> PlaybookExecution:
    r = row._mapping
    return PlaybookExecution(
        id=r["id"],
        playbook=r["playbook"],
        resource_type=r["resource_type"],
        resource_id=r["resource_id"],
        status=ExecutionStatus(r["status"]),
        context=dict(r["context"] or {}),
        steps=tuple(_step_from_json(s) for s in r["steps"] or ()),
        result=dict(r["result"] or {}),
        error=r["error"],
        started_at=r["started_at"],
        finished_at=r["finished_at"],
    )


def _token(row: AnyRow) -> ApiToken:
    r = row._mapping
    return ApiToken(
        token_id=r["token_id"],
        name=r["name"],
        scopes=frozenset(Scope(v) for v in r["scopes"] or ()),
        created_at=r["created_at"],
        revoked_at=r["revoked_at"],
        last_used_at=r["last_used_at"],
    )


def _event(row: AnyRow) -> Event:
    r = row._mapping
    return Event(
        event_type=r["event_type"],
        source=r["source"],
        payload=dict(r["payload"] or {}),
        timestamp=r["occurred_at"],
        event_id=r["event_id"],
        resource_id=r["resource_id"],
        seq=r["seq"],
    )


def _snapshot_event(row: AnyRow) -> Event:
    r = row._mapping
    snapshot = ModelPerformanceSnapshot(
        model_id=r["model_id"],
        version=r["version"],
        latency_p50_ms=r["latency_p50_ms"],
        latency_p95_ms=r["latency_p95_ms"],
        latency_p99_ms=r["latency_p99_ms"],
        requests_per_second=r["requests_per_second"],
        error_rate=r["error_rate"],
        ood_rate=r["ood_rate"],
        input_drift_score=r["input_drift_score"],
        accuracy=r["accuracy"],
        timestamp=r["ts"],
    )
    return snapshot.monitoring_event(r["recorded_at"], r["event_id"], r["id"])


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


class SqlSession:
    """One transaction; see :class:`grace.adapters.store.StoreSession` for the contract."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._postgres = conn.dialect.name == "postgresql"
        self._log_head: int | None = None
        self._model_pks: dict[str, int] = {}
        self._created_models: set[str] = set()  # inserted by this transaction
        self._version_pks: dict[tuple[str, str], int] = {}

    # -- lookups -----------------------------------------------------------------
    def _model_pk(self, model_id: str, *, for_update: bool = False) -> int:
        if not for_update and model_id in self._model_pks:
            return self._model_pks[model_id]
        query = _Q_MODEL_PK_LOCKED if for_update and self._postgres else Q_MODEL_PK
        pk = self._conn.execute(query, {"model_id": model_id}).scalar()
        if pk is None:
            raise ModelNotFound(model_id)
        self._model_pks[model_id] = pk
        return int(pk)

    def _version_pk(self, model_id: str, version: str) -> int:
        key = (model_id, version)
        if key in self._version_pks:
            return self._version_pks[key]
        pk = self._conn.execute(_Q_VERSION_PK, {"model_id": model_id, "version": version}).scalar()
        if pk is None:
            self._model_pk(model_id)
            raise VersionNotFound(model_id, version)
        self._version_pks[key] = pk
        return int(pk)

    def _entry_by_pk(self, version_pk: int) -> ModelEntry:
        return _entry(self._conn.execute(_Q_ENTRY_BY_PK, {"version_pk": version_pk}).one())

    # -- models and versions ---------------------------------------------------------
    def lock_model(self, model_id: str) -> None:
        self._model_pk(model_id, for_update=True)

    def ensure_model(self, model_id: str, at: datetime) -> None:
        values = {"model_id": model_id, "created_at": at, "updated_at": at, "auto_remediate": False}
        if not self._conn.dialect.insert_returning:  # SQLite before 3.35
            self._conn.execute(_INSERT_MODEL_SQLITE, values)
            return
        statement = _INSERT_MODEL_PG_RETURNING if self._postgres else _INSERT_MODEL_SQLITE_RETURNING
        pk = self._conn.execute(statement, values).scalar()
        if pk is not None:  # new: this transaction holds its row, and it has no version yet
            self._model_pks[model_id] = pk
            self._created_models.add(model_id)

    def insert_version(self, new: NewVersion, at: datetime) -> ModelEntry:
        # The model row is locked (PostgreSQL) or the database is (SQLite), so this check
        # cannot race another registration of the same version.
        at = ensure_utc(at)
        if new.model_id in self._created_models:  # its versions are the ones inserted here
            model_pk = self._model_pks[new.model_id]
            if (new.model_id, new.version) in self._version_pks:
                raise VersionExists(new.model_id, new.version)
        else:
            model_pk = self._model_pk(new.model_id, for_update=True)
            if self._conn.execute(
                _Q_VERSION_PK, {"model_id": new.model_id, "version": new.version}
            ).first():
                raise VersionExists(new.model_id, new.version)
        deployed = at if new.stage is DeploymentStage.PRODUCTION else None
        values = {
            "model_pk": model_pk,
            "version": new.version,
            "stage": new.stage.value,
            "name": new.name,
            "description": new.description,
            "owner": new.owner,
            "tags": list(new.tags),
            "artifact_uri": new.artifact_uri,
            "expected_latency_p95_ms": new.expected_latency_p95_ms,
            "constitutional_compliance": new.constitutional_compliance,
            "bias_check_passed": new.bias_check_passed,
            "calibration_error": new.calibration_error,
            "trust_score": new.trust_score,
            "metadata": dict(new.metadata),
            "registered_at": at,
            "updated_at": at,
            "stage_changed_at": at,
            "deployed_at": deployed,
        }
        try:
            # Only a version inserted straight into production can hit the one-production
            # index; keep the transaction usable if it does (a savepoint on PostgreSQL, as in
            # set_stage).
            with self._conn.begin_nested() if deployed and self._postgres else nullcontext():
                pk = _new_id(self._conn.execute(_INSERT_VERSION, values))
        except IntegrityError as exc:
            raise ConcurrentChange(
                f"model {new.model_id!r} already has a version in production"
            ) from exc
        self._version_pks[(new.model_id, new.version)] = pk
        self._set_tags(pk, new.tags, replace=False)
        return ModelEntry(
            model_id=new.model_id,
            version=new.version,
            status=new.stage,
            name=new.name,
            description=new.description,
            owner=new.owner,
            tags=tuple(new.tags),
            artifact_uri=new.artifact_uri,
            expected_latency_p95_ms=new.expected_latency_p95_ms,
            constitutional_compliance=new.constitutional_compliance,
            bias_check_passed=new.bias_check_passed,
            calibration_error=new.calibration_error,
            trust_score=new.trust_score,
            metadata=dict(new.metadata),
            registered_at=at,
            updated_at=at,
            stage_changed_at=at,
            deployed_at=deployed,
        )

    def get_version(self, model_id: str, version: str) -> ModelEntry:
        pk = self._version_pks.get((model_id, version))
        if pk is not None:
            return self._entry_by_pk(pk)
        return _entry(self._version_row(_Q_ENTRY_BY_NAME, model_id, version))

    def _version_row(self, query: Select[Any], model_id: str, version: str) -> Row[Any]:
        """The row ``query`` (which selects the version's id first) finds for the version,
        its id remembered; VersionNotFound (or ModelNotFound) if there is none."""
        row = self._conn.execute(query, {"model_id": model_id, "version": version}).first()
        if row is None:
            self._model_pk(model_id)
            raise VersionNotFound(model_id, version)
        self._version_pks[(model_id, version)] = row.id
        return row

    def get_version_with_settings(
        self, model_id: str, version: str
    ) -> tuple[ModelEntry, StoredSettings]:
        row = self._version_row(_Q_ENTRY_AND_SETTINGS, model_id, version)
        return _entry(row), _settings(row)

    def snapshot_target(self, model_id: str, version: str) -> SnapshotTarget:
        row = self._version_row(Q_SNAPSHOT_TARGET, model_id, version)
        return SnapshotTarget(
            DeploymentStage(row.stage), row.expected_latency_p95_ms, _settings(row)
        )

    def latest_version(self, model_id: str) -> ModelEntry:
        row = self._conn.execute(_Q_LATEST, {"model_id": model_id}).first()
        if row is None:
            raise ModelNotFound(model_id)
        return _entry(row)

    def production_version(self, model_id: str) -> ModelEntry | None:
        row = self._conn.execute(_Q_PRODUCTION, {"model_id": model_id}).first()
        if row is None:
            self._model_pk(model_id)  # raises ModelNotFound for an unknown model
            return None
        return _entry(row)

    def list_versions(
        self,
        *,
        model_id: str | None = None,
        stage: DeploymentStage | None = None,
        owner: str | None = None,
        tag: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> list[ModelEntry]:
        query = select(*_ENTRY_COLUMNS).join_from(_v, _m, _v.c.model_pk == _m.c.id)
        if model_id is not None:
            query = query.where(_m.c.model_id == model_id)
        if stage is not None:
            query = query.where(_v.c.stage == stage.value)
        if owner is not None:
            query = query.where(_v.c.owner == owner)
        if after is not None:
            after_model, after_version = after
            after_pk = (
                select(_v.c.id)
                .join_from(_v, _m, _v.c.model_pk == _m.c.id)
                .where(_m.c.model_id == after_model, _v.c.version == after_version)
                .scalar_subquery()
            )
            query = query.where(
                or_(
                    _m.c.model_id > after_model,
                    and_(_m.c.model_id == after_model, _v.c.id > func.coalesce(after_pk, 0)),
                )
            )
        query = query.order_by(_m.c.model_id, _v.c.id)
        page = _page(limit)
        if tag is not None:
            tagged = select(version_tags.c.version_pk).where(version_tags.c.tag == tag)
            query = query.where(_v.c.id.in_(tagged))
        return [_entry(r) for r in self._conn.execute(query.limit(page))]

    def _set_tags(self, version_pk: int, tags: Sequence[str], *, replace: bool) -> None:
        if replace:
            self._conn.execute(version_tags.delete().where(version_tags.c.version_pk == version_pk))
        rows = [{"tag": tag, "version_pk": version_pk} for tag in dict.fromkeys(tags)]
        if rows:
            self._conn.execute(insert(version_tags), rows)

    def update_version(
        self, model_id: str, version: str, changes: Mapping[str, Any], at: datetime
    ) -> ModelEntry:
        unknown = sorted(set(changes) - _VERSION_FIELDS)
        if unknown:
            raise InvalidInput(unknown[0], "is not a field of a model version")
        pk = self._version_pk(model_id, version)
        values = dict(changes)
        if "tags" in values:
            values["tags"] = list(values["tags"])
            self._set_tags(pk, values["tags"], replace=True)
        if "metadata" in values:
            values["metadata"] = dict(values["metadata"])
        self._conn.execute(update(_v).where(_v.c.id == pk).values(**values, updated_at=at))
        return self._entry_by_pk(pk)

    def set_stage(
        self, model_id: str, version: str, stage: DeploymentStage, at: datetime
    ) -> ModelEntry:
        pk = self._version_pk(model_id, version)
        params = {"pk": pk, "new_stage": stage.value, "at": at}
        if stage is DeploymentStage.PRODUCTION:
            # Only this move can break one-production-per-model.  The transaction stays usable
            # when it does: SQLite undoes just the failed statement; PostgreSQL would abort the
            # whole transaction, so there a savepoint contains it.
            try:
                with self._conn.begin_nested() if self._postgres else nullcontext():
                    self._conn.execute(_SET_STAGE_DEPLOYED, params)
            except IntegrityError as exc:
                raise ConcurrentChange(
                    f"model {model_id!r} got another production version concurrently; retry"
                ) from exc
        else:
            self._conn.execute(_SET_STAGE, params)
        return self._entry_by_pk(pk)

    def append_stage_change(
        self,
        model_id: str,
        version: str,
        from_stage: DeploymentStage | None,
        to_stage: DeploymentStage,
        at: datetime,
        *,
        actor: str | None,
        reason: str | None,
        cause: ChangeCause,
    ) -> StageChange:
        at = ensure_utc(at)
        model_pk = self._model_pk(model_id)
        version_pk = self._version_pk(model_id, version)
        change_id = _new_id(
            self._conn.execute(
                _INSERT_STAGE_CHANGE,
                {
                    "model_pk": model_pk,
                    "version_pk": version_pk,
                    "from_stage": from_stage.value if from_stage else None,
                    "to_stage": to_stage.value,
                    "at": at,
                    "actor": actor,
                    "reason": reason,
                    "cause": cause.value,
                },
            )
        )
        return StageChange(
            id=change_id,
            model_id=model_id,
            version=version,
            from_stage=from_stage,
            to_stage=to_stage,
            at=at,
            actor=actor,
            reason=reason,
            cause=cause,
        )

    def stage_history(
        self, model_id: str, limit: int = 10_000, *, version: str | None = None
    ) -> list[StageChange]:
        params: dict[str, Any] = {"model_pk": self._model_pk(model_id), "limit": max(1, limit)}
        query = _Q_HISTORY
        if version is not None:
            params["version_pk"] = self._version_pk(model_id, version)
            query = _Q_VERSION_HISTORY
        return [_stage_change(r) for r in self._conn.execute(query, params)]

    def get_settings(self, model_id: str) -> StoredSettings:
        row = self._conn.execute(_Q_SETTINGS, {"model_id": model_id}).first()
        if row is None:
            raise ModelNotFound(model_id)
        return _settings(row)

    def save_settings(
        self,
        model_id: str,
        *,
        auto_remediate: bool | None,
        overrides: Mapping[str, Any],
        at: datetime,
    ) -> StoredSettings:
        unknown = sorted(set(overrides) - set(SETTING_COLUMNS))
        if unknown:
            raise InvalidInput(unknown[0], "is not a model setting")
        pk = self._model_pk(model_id)
        values: dict[str, Any] = dict(overrides)
        if auto_remediate is not None:
            values["auto_remediate"] = auto_remediate
        self._conn.execute(update(_m).where(_m.c.id == pk).values(**values, updated_at=at))
        return self.get_settings(model_id)

    # -- snapshots -----------------------------------------------------------------------
    def snapshot_targets(
        self, pairs: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], SnapshotTarget]:
        found: dict[tuple[str, str], SnapshotTarget] = {}
        wanted = sorted(set(pairs))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = (
                select(
                    _m.c.model_id, _v.c.version, _v.c.id, _v.c.stage, _v.c.expected_latency_p95_ms
                )
                .add_columns(*SETTINGS_COLUMNS)
                .join_from(_v, _m, _v.c.model_pk == _m.c.id)
                .where(tuple_(_m.c.model_id, _v.c.version).in_(chunk))
            )
            for row in self._conn.execute(query):
                key = (row.model_id, row.version)
                self._version_pks[key] = row.id
                found[key] = SnapshotTarget(
                    DeploymentStage(row.stage), row.expected_latency_p95_ms, _settings(row)
                )
        return found

    def insert_snapshots(self, writes: Sequence[SnapshotWrite]) -> list[Event]:
        if not writes:
            return []
        pks = [self._version_pk(w.snapshot.model_id, w.snapshot.version) for w in writes]
        first = self.log_positions(len(writes))
        params = [
            snapshot_params(w, pk, first + i)
            for i, (w, pk) in enumerate(zip(writes, pks, strict=True))
        ]
        self._conn.execute(_INSERT_SNAPSHOT, params)
        return [w.event(first + i) for i, w in enumerate(writes)]

    def insert_snapshot(self, snapshot: ModelPerformanceSnapshot, recorded_at: datetime) -> int:
        (event,) = self.insert_snapshots([SnapshotWrite(snapshot, recorded_at)])
        return event.seq or 0

    def window_stats(self, model_id: str, version: str, since: datetime) -> WindowStats:
        row = self._conn.execute(
            Q_WINDOW, {"version_pk": self._version_pk(model_id, version), "since": since}
        ).one()
        return _stats(*row)

    def window_stats_many(
        self, pairs: Collection[tuple[str, str]], since: datetime
    ) -> dict[tuple[str, str], WindowStats]:
        by_pk = {self._version_pk(m, v): (m, v) for m, v in set(pairs)}
        stats = dict.fromkeys(by_pk.values(), WindowStats())
        keys = sorted(by_pk)
        s = snapshots
        for start in range(0, len(keys), _CHUNK):
            query = (
                select(s.c.version_pk, *WINDOW_AGGREGATES)
                .where(s.c.version_pk.in_(keys[start : start + _CHUNK]), s.c.ts >= since)
                .group_by(s.c.version_pk)
            )
            for row in self._conn.execute(query):
                stats[by_pk[row.version_pk]] = _stats(
                    row.n, row.err, row.p95, row.ood, row.drift, row.acc
                )
        return stats

    def fleet_stats(self, since: datetime) -> list[FleetMember]:
        s = snapshots
        query = (
            select(
                _m.c.model_id,
                _v.c.version,
                _v.c.expected_latency_p95_ms,
                *SETTINGS_COLUMNS,
                *WINDOW_AGGREGATES,
            )
            .select_from(_v)
            .join(_m, _v.c.model_pk == _m.c.id)
            .outerjoin(s, and_(s.c.version_pk == _v.c.id, s.c.ts >= since))
            .where(_v.c.stage == DeploymentStage.PRODUCTION.value)
            .group_by(_v.c.id, _m.c.id)
            .order_by(_m.c.model_id)
        )
        return [
            FleetMember(
                model_id=row.model_id,
                version=row.version,
                expected_latency_p95_ms=row.expected_latency_p95_ms,
                settings=_settings(row),
                stats=_stats(row.n, row.err, row.p95, row.ood, row.drift, row.acc),
            )
            for row in self._conn.execute(query)
        ]

    # -- events --------------------------------------------------------------------------
    def append_events(self, batch: Sequence[Event]) -> list[Event]:
        if not batch:
            return []
        first = self.log_positions(len(batch))
        self._conn.execute(_INSERT_EVENT, [event_params(e, first + i) for i, e in enumerate(batch)])
        return [event.stored(first + i) for i, event in enumerate(batch)]

    def log_positions(self, count: int) -> int:
        """Take the next ``count`` positions of the event log (which events and snapshot
        rows share) for this transaction; returns the first.

        Positions are handed out in commit order, so that a reader following the log by seq
        never skips one that commits late: SQLite has one writer at a time (writes begin
        IMMEDIATE), and PostgreSQL writers of the log take the event-log lock first and hold
        it to their commit.  Writers append to the log last to hold it briefly.
        """
        if self._log_head is None:
            if self._postgres:
                self._conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOG_LOCK}
                )
            self._log_head = max(value or 0 for value in self._conn.execute(Q_LOG_HEAD).one())
        first = self._log_head + 1
        self._log_head += count
        return first

    def append_event(self, event: Event) -> Event:
        (stored,) = self.append_events([event])
        return stored

    def list_events(
        self,
        *,
        resource_id: str | None = None,
        event_types: Sequence[str] | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Event]:
        descending = before_seq is not None
        bound = before_seq if before_seq is not None else (after_seq or 0)
        page = _page(limit)
        found = self._logged_events(resource_id, event_types, bound, descending, page)
        if event_types is None or EventType.PERFORMANCE_SNAPSHOT in event_types:
            found += self._snapshot_events(resource_id, bound, descending, page)
        found.sort(key=lambda e: e.seq or 0, reverse=descending)
        return found[:page]

    def _logged_events(
        self,
        resource_id: str | None,
        event_types: Sequence[str] | None,
        bound: int,
        descending: bool,
        page: int,
    ) -> list[Event]:
        e = events
        query = select(e)
        if resource_id is not None:
            query = query.where(e.c.resource_id == resource_id)
        if event_types:
            query = query.where(e.c.event_type.in_(list(event_types)))
        if descending:
            query = query.where(e.c.seq < bound).order_by(e.c.seq.desc())
        else:
            query = query.where(e.c.seq > bound).order_by(e.c.seq)
        return [_event(r) for r in self._conn.execute(query.limit(page))]

    def _snapshot_events(
        self, resource_id: str | None, bound: int, descending: bool, page: int
    ) -> list[Event]:
        """The log's snapshot rows (those stored with an event id) as their events."""
        s = snapshots
        query = (
            select(s, _m.c.model_id, _v.c.version)
            .join_from(s, _v, s.c.version_pk == _v.c.id)
            .join(_m, _v.c.model_pk == _m.c.id)
            .where(s.c.event_id.is_not(None))
        )
        if resource_id is not None:
            query = query.where(_m.c.model_id == resource_id)
        if descending:
            query = query.where(s.c.id < bound).order_by(s.c.id.desc())
        else:
            query = query.where(s.c.id > bound).order_by(s.c.id)
        return [_snapshot_event(r) for r in self._conn.execute(query.limit(page))]

    # -- incidents -------------------------------------------------------------------------
    def find_open_incident(self, dedup_key: str) -> Incident | None:
        row = self._conn.execute(
            select(incidents).where(
                incidents.c.dedup_key == dedup_key,
                incidents.c.status != IncidentStatus.RESOLVED.value,
            )
        ).first()
        return _incident(row) if row else None

    def insert_incident(self, new: NewIncident, at: datetime) -> Incident:
        try:
            with self._conn.begin_nested():
                pk = _new_id(
                    self._conn.execute(
                        insert(incidents).values(
                            source=new.source,
                            resource_type=new.resource_type,
                            resource_id=new.resource_id,
                            severity=new.severity.value,
                            title=new.title,
                            description=new.description,
                            context=dict(new.context),
                            status=IncidentStatus.OPEN.value,
                            dedup_key=new.dedup_key,
                            occurrences=1,
                            created_at=at,
                            updated_at=at,
                            last_seen_at=at,
                        )
                    )
                )
        except IntegrityError as exc:
            raise ConcurrentChange(f"an incident is already open for {new.dedup_key!r}") from exc
        return self._incident_alone(pk)

    def record_occurrence(
        self, incident_id: int, severity: Severity, context: Mapping[str, Any], at: datetime
    ) -> Incident:
        current = self._incident_alone(incident_id)
        worse = severity if severity.rank > current.severity.rank else current.severity
        self._conn.execute(
            update(incidents)
            .where(incidents.c.id == incident_id)
            .values(
                occurrences=incidents.c.occurrences + 1,
                severity=worse.value,
                context=dict(context),
                updated_at=at,
                last_seen_at=at,
            )
        )
        return self._incident_alone(incident_id)

    def set_incident_status(
        self, incident_id: int, status: IncidentStatus, actor: str | None, at: datetime
    ) -> Incident:
        values: dict[str, Any] = {"status": status.value, "updated_at": at}
        if status is IncidentStatus.ACKNOWLEDGED:
            values |= {"acknowledged_at": at, "acknowledged_by": actor}
        elif status is IncidentStatus.RESOLVED:
            values |= {"resolved_at": at, "resolved_by": actor}
        result = self._conn.execute(
            update(incidents).where(incidents.c.id == incident_id).values(**values)
        )
        if result.rowcount == 0:
            raise IncidentNotFound(incident_id)
        return self._incident_alone(incident_id)

    def append_timeline(
        self,
        incident_id: int,
        at: datetime,
        kind: str,
        message: str,
        *,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> TimelineEntry:
        at = ensure_utc(at)
        if not self._conn.execute(
            select(incidents.c.id).where(incidents.c.id == incident_id)
        ).first():
            raise IncidentNotFound(incident_id)
        entry_id = _new_id(
            self._conn.execute(
                insert(incident_timeline).values(
                    incident_id=incident_id,
                    at=at,
                    kind=kind,
                    message=message,
                    actor=actor,
                    data=dict(data or {}),
                )
            )
        )
        return TimelineEntry(entry_id, at, kind, message, actor, dict(data or {}))

    def _incident_alone(self, incident_id: int) -> Incident:
        row = self._conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
        if row is None:
            raise IncidentNotFound(incident_id)
        return _incident(row)

    def get_incident(self, incident_id: int) -> Incident:
        incident = self._incident_alone(incident_id)
        t = incident_timeline
        newest = self._conn.execute(
            select(t)
            .where(t.c.incident_id == incident_id)
            .order_by(t.c.id.desc())
            .limit(MAX_PAGE_SIZE)
        ).all()
        return replace(incident, timeline=tuple(_timeline(r) for r in reversed(newest)))

    def list_incidents(
        self,
        *,
        resource_id: str | None = None,
        status: IncidentStatus | None = None,
        severity: Severity | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Incident]:
        i = incidents
        query = select(i)
        if resource_id is not None:
            query = query.where(i.c.resource_id == resource_id)
        if status is not None:
            query = query.where(i.c.status == status.value)
        if severity is not None:
            query = query.where(i.c.severity == severity.value)
        if before_id is not None:
            query = query.where(i.c.id < before_id)
        query = query.order_by(i.c.id.desc()).limit(_page(limit))
        return [_incident(r) for r in self._conn.execute(query)]

    # -- playbook executions ------------------------------------------------------------------
    def insert_execution(
        self,
        playbook: str,
        resource_type: str,
        resource_id: str,
        status: ExecutionStatus,
        context: Mapping[str, Any],
        at: datetime,
        *,
        error: str | None = None,
        owner: str | None = None,
        correlation_id: str | None = None,
    ) -> PlaybookExecution:
        finished = None if status is ExecutionStatus.RUNNING else at
        pk = _new_id(
            self._conn.execute(
                insert(playbook_executions).values(
                    playbook=playbook,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    status=status.value,
                    context=dict(context),
                    steps=[],
                    result={},
                    error=error,
                    started_at=at,
                    finished_at=finished,
                    owner=owner,
                    heartbeat_at=at,
                    correlation_id=correlation_id,
                )
            )
        )
        return self.get_execution(pk)

    def find_execution(self, correlation_id: str) -> PlaybookExecution | None:
        p = playbook_executions
        row = self._conn.execute(
            select(p).where(p.c.correlation_id == correlation_id).order_by(p.c.id.desc()).limit(1)
        ).first()
        return _execution(row) if row is not None else None

    def update_execution(
        self,
        execution_id: int,
        *,
        status: ExecutionStatus | None = None,
        steps: Sequence[StepRecord] | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        finished_at: datetime | None = None,
        heartbeat_at: datetime | None = None,
    ) -> PlaybookExecution:
        values: dict[str, Any] = {}
        if heartbeat_at is not None:
            values["heartbeat_at"] = heartbeat_at
        if status is not None:
            values["status"] = status.value
        if steps is not None:
            values["steps"] = [_step_to_json(s) for s in steps]
        if result is not None:
            values["result"] = dict(result)
        if error is not None:
            values["error"] = error
        if finished_at is not None:
            values["finished_at"] = finished_at
        if values:
            outcome = self._conn.execute(
                update(playbook_executions)
                .where(playbook_executions.c.id == execution_id)
                .values(**values)
            )
            if outcome.rowcount == 0:
                raise ExecutionNotFound(execution_id)
        return self.get_execution(execution_id)

    def get_execution(self, execution_id: int) -> PlaybookExecution:
        row = self._conn.execute(
            select(playbook_executions).where(playbook_executions.c.id == execution_id)
        ).first()
        if row is None:
            raise ExecutionNotFound(execution_id)
        return _execution(row)

    def list_executions(
        self,
        *,
        resource_id: str | None = None,
        playbook: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[PlaybookExecution]:
        p = playbook_executions
        query = select(p)
        if resource_id is not None:
            query = query.where(p.c.resource_id == resource_id)
        if playbook is not None:
            query = query.where(p.c.playbook == playbook)
        if before_id is not None:
            query = query.where(p.c.id < before_id)
        query = query.order_by(p.c.id.desc()).limit(_page(limit))
        return [_execution(r) for r in self._conn.execute(query)]

    def running_executions(
        self, *, resource_id: str | None = None, limit: int = MAX_PAGE_SIZE
    ) -> list[RunningExecution]:
        p = playbook_executions
        query = select(p).where(p.c.status == ExecutionStatus.RUNNING.value)
        if resource_id is not None:
            query = query.where(p.c.resource_id == resource_id)
        rows = self._conn.execute(query.order_by(p.c.id).limit(_page(limit)))
        return [
            RunningExecution(
                _execution(r), r._mapping["owner"], r._mapping["heartbeat_at"] or r.started_at
            )
            for r in rows
        ]

    def last_execution(
        self,
        resource_id: str,
        playbook: str,
        statuses: Sequence[ExecutionStatus],
        since: datetime,
    ) -> PlaybookExecution | None:
        p = playbook_executions
        row = self._conn.execute(
            select(p)
            .where(
                p.c.resource_id == resource_id,
                p.c.playbook == playbook,
                p.c.status.in_([s.value for s in statuses]),
                p.c.started_at >= since,
            )
            .order_by(p.c.id.desc())
            .limit(1)
        ).first()
        return _execution(row) if row else None

    # -- API tokens ------------------------------------------------------------------------------
    def insert_token(
        self, token_id: str, name: str, secret_hash: str, scopes: frozenset[Scope], at: datetime
    ) -> ApiToken:
        self._conn.execute(
            insert(api_tokens).values(
                token_id=token_id,
                name=name,
                secret_hash=secret_hash,
                scopes=sorted(s.value for s in scopes),
                created_at=at,
            )
        )
        found = self.get_token_secret(token_id)
        if found is None:  # pragma: no cover - just inserted
            raise TokenNotFound(token_id)
        return found[0]

    def get_token_secret(self, token_id: str) -> tuple[ApiToken, str] | None:
        row = self._conn.execute(
            select(api_tokens).where(api_tokens.c.token_id == token_id)
        ).first()
        if row is None:
            return None
        return _token(row), str(row.secret_hash)

    def list_tokens(self, *, include_revoked: bool = False) -> list[ApiToken]:
        query = select(api_tokens).order_by(api_tokens.c.id).limit(MAX_PAGE_SIZE)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        return [_token(r) for r in self._conn.execute(query)]

    def revoke_token(self, token_id: str, at: datetime) -> ApiToken:
        self._conn.execute(
            update(api_tokens)
            .where(api_tokens.c.token_id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        found = self.get_token_secret(token_id)
        if found is None:
            raise TokenNotFound(token_id)
        return found[0]

    def count_active_tokens(self) -> int:
        return int(
            self._conn.execute(
                select(func.count()).where(api_tokens.c.revoked_at.is_(None))
            ).scalar_one()
        )

    def token_active_since(self, at: datetime) -> bool:
        return bool(self._conn.execute(Q_TOKEN_ACTIVE_SINCE, {"at": at}).scalar())

    def touch_token(self, token_id: str, at: datetime) -> None:
        self._conn.execute(
            update(api_tokens).where(api_tokens.c.token_id == token_id).values(last_used_at=at)
        )
