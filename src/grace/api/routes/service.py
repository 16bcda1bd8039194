"""The service's own health: /healthz (the process is up), /readyz (database and schema ready)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from grace.adapters.sqlstore import migrate
from grace.adapters.sqlstore.store import SqlStore
from grace.api.deps import GraceDep
from grace.api.schemas import ServiceHealthOut
from grace.errors import SchemaMismatch, StorageError

router = APIRouter(tags=["service"])
log = logging.getLogger(__name__)


@router.get("/healthz", response_model=ServiceHealthOut)
async def healthz() -> dict[str, Any]:
    """Answers while the process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz", response_model=ServiceHealthOut, responses={503: {"model": ServiceHealthOut}}
)
async def readyz(grace: GraceDep) -> Any:
    """Ready when the database answers and its schema is the one this code expects."""
    store = grace.store
    if not isinstance(store, SqlStore):
        return {"status": "ok"}
    try:
        await grace.run(migrate.check, store.engine)
        revision = await grace.run(migrate.current_revision, store.engine)
    except SchemaMismatch as exc:
        return JSONResponse({"status": "unavailable", "detail": exc.detail}, status_code=503)
    except StorageError as exc:
        log.warning("not ready: %s", exc.internal)
        return JSONResponse({"status": "unavailable", "detail": exc.detail}, status_code=503)
    return {"status": "ok", "schema_revision": revision}
