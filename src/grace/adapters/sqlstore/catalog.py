"""The session's models, versions, stages and settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from grace.adapters.sqlstore.hotpath import (
    Q_SNAPSHOT_TARGET,
)
from grace.adapters.sqlstore.rows import (
    ENTRY_COLUMNS,
    INSERT_MODEL_PG_RETURNING,
    INSERT_MODEL_SQLITE,
    INSERT_MODEL_SQLITE_RETURNING,
    INSERT_STAGE_CHANGE,
    INSERT_VERSION,
    Q_ENTRY_AND_SETTINGS,
    Q_ENTRY_BY_NAME,
    Q_HISTORY,
    Q_LATEST,
    Q_PRODUCTION,
    Q_SETTINGS,
    Q_VERSION_HISTORY,
    Q_VERSION_PK,
    SET_STAGE,
    SET_STAGE_DEPLOYED,
    VERSION_FIELDS,
    new_id,
    page_size,
    row_entry,
    row_settings,
    row_stage_change,
)
from grace.adapters.sqlstore.schema import (
    SETTING_COLUMNS,
    trust_credits,
    version_tags,
)
from grace.adapters.sqlstore.schema import model_versions as _v
from grace.adapters.sqlstore.schema import models as _m
from grace.adapters.sqlstore.session import SessionBase
from grace.adapters.store import (
    NewVersion,
    SnapshotTarget,
)
from grace.domain.records import (
    ChangeCause,
    ModelEntry,
    StageChange,
    StoredSettings,
)
from grace.domain.stages import DeploymentStage
from grace.domain.timeutil import ensure_utc
from grace.errors import (
    ConcurrentChange,
    InvalidInput,
    ModelNotFound,
    VersionExists,
    VersionNotFound,
)


class CatalogSession(SessionBase):
    """The session's models, versions, stages and settings."""

    # -- models and versions ---------------------------------------------------------
    def lock_model(self, model_id: str) -> None:
        self._model_pk(model_id, for_update=True)

    def ensure_model(self, model_id: str, at: datetime) -> None:
        values = {"model_id": model_id, "created_at": at, "updated_at": at, "auto_remediate": False}
        if not self._conn.dialect.insert_returning:  # SQLite before 3.35
            self._conn.execute(INSERT_MODEL_SQLITE, values)
            return
        statement = INSERT_MODEL_PG_RETURNING if self._postgres else INSERT_MODEL_SQLITE_RETURNING
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
                Q_VERSION_PK, {"model_id": new.model_id, "version": new.version}
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
                pk = new_id(self._conn.execute(INSERT_VERSION, values))
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
        return row_entry(self._version_row(Q_ENTRY_BY_NAME, model_id, version))

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
        row = self._version_row(Q_ENTRY_AND_SETTINGS, model_id, version)
        return row_entry(row), row_settings(row)

    def snapshot_target(self, model_id: str, version: str) -> SnapshotTarget:
        row = self._version_row(Q_SNAPSHOT_TARGET, model_id, version)
        return SnapshotTarget(
            DeploymentStage(row.stage), row.expected_latency_p95_ms, row_settings(row)
        )

    def latest_version(self, model_id: str) -> ModelEntry:
        row = self._conn.execute(Q_LATEST, {"model_id": model_id}).first()
        if row is None:
            raise ModelNotFound(model_id)
        return row_entry(row)

    def production_version(self, model_id: str) -> ModelEntry | None:
        row = self._conn.execute(Q_PRODUCTION, {"model_id": model_id}).first()
        if row is None:
            self._model_pk(model_id)  # raises ModelNotFound for an unknown model
            return None
        return row_entry(row)

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
        query = select(*ENTRY_COLUMNS).join_from(_v, _m, _v.c.model_pk == _m.c.id)
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
        page = page_size(limit)
        if tag is not None:
            tagged = select(version_tags.c.version_pk).where(version_tags.c.tag == tag)
            query = query.where(_v.c.id.in_(tagged))
        return [row_entry(r) for r in self._conn.execute(query.limit(page))]

    def trust_credited_at(self, model_id: str, version: str) -> datetime | None:
        t = trust_credits
        found: datetime | None = self._conn.execute(
            select(t.c.credited_at).where(t.c.model_id == model_id, t.c.version == version)
        ).scalar()
        return found

    def set_trust(
        self,
        model_id: str,
        version: str,
        score: float,
        *,
        credited_at: datetime | None,
        at: datetime,
    ) -> ModelEntry:
        pk = self._version_pk(model_id, version)
        values: dict[str, Any] = {"trust_score": score, "updated_at": at}
        self._conn.execute(update(_v).where(_v.c.id == pk).values(**values))
        if credited_at is not None:
            t = trust_credits
            moved = self._conn.execute(
                update(t)
                .where(t.c.model_id == model_id, t.c.version == version)
                .values(credited_at=credited_at)
            )
            if not moved.rowcount:
                self._conn.execute(
                    insert(t).values(model_id=model_id, version=version, credited_at=credited_at)
                )
        return self._entry_by_pk(pk)

    def models_with_tags(self, tags: Sequence[str]) -> frozenset[str]:
        if not tags:
            return frozenset()
        rows = self._conn.execute(
            select(_m.c.model_id)
            .distinct()
            .join_from(version_tags, _v, version_tags.c.version_pk == _v.c.id)
            .join(_m, _v.c.model_pk == _m.c.id)
            .where(version_tags.c.tag.in_(list(tags)))
        )
        return frozenset(r[0] for r in rows)

    def _set_tags(self, version_pk: int, tags: Sequence[str], *, replace: bool) -> None:
        if replace:
            self._conn.execute(version_tags.delete().where(version_tags.c.version_pk == version_pk))
        rows = [{"tag": tag, "version_pk": version_pk} for tag in dict.fromkeys(tags)]
        if rows:
            self._conn.execute(insert(version_tags), rows)

    def update_version(
        self, model_id: str, version: str, changes: Mapping[str, Any], at: datetime
    ) -> ModelEntry:
        unknown = sorted(set(changes) - VERSION_FIELDS)
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
                    self._conn.execute(SET_STAGE_DEPLOYED, params)
            except IntegrityError as exc:
                raise ConcurrentChange(
                    f"model {model_id!r} got another production version concurrently; retry"
                ) from exc
        else:
            self._conn.execute(SET_STAGE, params)
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
        change_id = new_id(
            self._conn.execute(
                INSERT_STAGE_CHANGE,
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
        query = Q_HISTORY
        if version is not None:
            params["version_pk"] = self._version_pk(model_id, version)
            query = Q_VERSION_HISTORY
        return [row_stage_change(r) for r in self._conn.execute(query, params)]

    def get_settings(self, model_id: str) -> StoredSettings:
        row = self._conn.execute(Q_SETTINGS, {"model_id": model_id}).first()
        if row is None:
            raise ModelNotFound(model_id)
        return row_settings(row)

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
