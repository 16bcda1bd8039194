"""The base of the SQL session: its connection, caches and the id lookups its parts share."""

from __future__ import annotations

from sqlalchemy import (
    Connection,
)

from grace.adapters.sqlstore.hotpath import (
    Q_MODEL_PK,
)
from grace.adapters.sqlstore.rows import (
    Q_ENTRY_BY_PK,
    Q_MODEL_PK_LOCKED,
    Q_VERSION_PK,
    row_entry,
)
from grace.domain.records import (
    ModelEntry,
)
from grace.errors import (
    ModelNotFound,
    VersionNotFound,
)


class SessionBase:
    """One transaction's connection and the lookups every part of the session shares."""

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
        query = Q_MODEL_PK_LOCKED if for_update and self._postgres else Q_MODEL_PK
        pk = self._conn.execute(query, {"model_id": model_id}).scalar()
        if pk is None:
            raise ModelNotFound(model_id)
        self._model_pks[model_id] = pk
        return int(pk)

    def _version_pk(self, model_id: str, version: str) -> int:
        key = (model_id, version)
        if key in self._version_pks:
            return self._version_pks[key]
        pk = self._conn.execute(Q_VERSION_PK, {"model_id": model_id, "version": version}).scalar()
        if pk is None:
            self._model_pk(model_id)
            raise VersionNotFound(model_id, version)
        self._version_pks[key] = pk
        return int(pk)

    def _entry_by_pk(self, version_pk: int) -> ModelEntry:
        return row_entry(self._conn.execute(Q_ENTRY_BY_PK, {"version_pk": version_pk}).one())
