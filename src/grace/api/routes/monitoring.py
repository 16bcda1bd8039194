"""The guide's endpoints: monitor, health, performance snapshots, rollback check and rollback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from grace.api.batch_body import read_batch
from grace.api.deps import (
    Checker,
    GraceDep,
    Ingester,
    ModelId,
    Operator,
    Reader,
    RegistryDep,
    Run,
)
from grace.api.problems import Forbidden, problem_type
from grace.api.responses import JSONReply, reply
from grace.api.schemas import (
    BatchOut,
    BatchSnapshotIn,
    FleetOut,
    HealthOut,
    RollbackCheckOut,
    RollbackOut,
    SnapshotIn,
    SnapshotResultOut,
)
from grace.api.shapes import MAX_REASON_LENGTH, Identifier, http_time, non_blank_text
from grace.bootstrap import Grace
from grace.domain.snapshots import MAX_WINDOW_MINUTES, ModelPerformanceSnapshot
from grace.domain.tokens import Scope
from grace.errors import InvalidInput

router = APIRouter(prefix="/api/model-registry", tags=["monitoring"])

Window = Annotated[
    int, Query(ge=1, le=MAX_WINDOW_MINUTES, description="Minutes of history to judge.")
]


def to_snapshot(body: SnapshotIn, model_id: str, default_time: Any) -> ModelPerformanceSnapshot:
    """The domain snapshot for a request body; the core validates the values."""
    if body.model_id is not None and body.model_id != model_id:
        raise InvalidInput("model_id", f"{body.model_id!r} does not match the path's {model_id!r}")
    timestamp = http_time(body.timestamp or default_time)
    return ModelPerformanceSnapshot(
        model_id=model_id,
        version=body.version,
        timestamp=timestamp,
        latency_p50_ms=body.latency_p50_ms,
        latency_p95_ms=body.latency_p95_ms,
        latency_p99_ms=body.latency_p99_ms,
        requests_per_second=body.requests_per_second,
        error_rate=body.error_rate,
        ood_rate=body.ood_rate,
        input_drift_score=body.input_drift_score,
        accuracy=body.accuracy,
    )


@router.get("/monitor/production", response_model=FleetOut)
async def monitor_production(
    registry: RegistryDep, _: Reader, window_minutes: Window = 10
) -> JSONReply:
    """Judge every production model over the window (the guide's fleet monitor)."""
    return reply(dict(await registry.monitor_production_models(window_minutes=window_minutes)))


@router.get("/models/{model_id}/health", response_model=HealthOut)
async def model_health(
    model_id: ModelId,
    registry: RegistryDep,
    _: Reader,
    run: Run,
    window_minutes: Window | None = None,
) -> JSONReply:
    """Health summary of the model's production version."""
    return reply(dict(await run(registry.get_model_health_summary, model_id, window_minutes)))


@router.post("/models/{model_id}/performance", response_model=SnapshotResultOut, status_code=201)
async def record_performance(
    model_id: ModelId, body: SnapshotIn, grace: GraceDep, _: Ingester
) -> JSONReply:
    """Record a snapshot: stores it, emits its event, checks triggers and acts on them."""
    return await record_one(grace, model_id, body)


async def record_one(grace: Grace, model_id: str, body: SnapshotIn) -> JSONReply:
    """The snapshot POST's work, for the route and for its fast path (grace.api.fastpath)."""
    snapshot = to_snapshot(body, model_id, grace.clock.now())
    return reply(
        (await grace.registry.record_performance_snapshot(snapshot)).to_dict(), status_code=201
    )


@router.post(
    "/performance/batch",
    response_model=BatchOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchIn"}}},
        }
    },
)
async def record_performance_batch(
    request: Request, grace: GraceDep, _: Ingester, run: Run
) -> JSONReply:
    """Record many snapshots in one request; the answer says per item what was stored or refused.

    The body (a ``BatchIn``) is read here, not by FastAPI, an item at a time in a worker
    thread: more items than the limit are refused at the first one past it (413).
    """
    raw = await request.body()
    now = grace.clock.now()
    count, valid, positions, refused = await run(
        _read_items, raw, grace.settings.max_batch_snapshots, now
    )
    result = await grace.registry.record_performance_snapshots(valid)
    items: list[dict[str, Any]] = [{}] * count
    for index, error in refused.items():
        items[index] = {
            "index": index,
            "status": "refused",
            "type": problem_type(error),
            "field": error.field,
            "detail": error.detail,
        }
    for position, item_result in zip(positions, result.items, strict=True):
        entry = item_result.to_dict()
        entry["index"] = position
        items[position] = entry
    stored = result.stored
    return reply(
        {
            "stored": stored,
            "refused": len(items) - stored,
            "items": items,
            "checks": [dict(c) for c in result.checks],
        }
    )


def _read_items(
    raw: bytes, limit: int, now: Any
) -> tuple[int, list[ModelPerformanceSnapshot], list[int], dict[int, InvalidInput]]:
    """(item count, valid snapshots, their positions, refusals by position)."""
    refused: dict[int, InvalidInput] = {}
    valid: list[ModelPerformanceSnapshot] = []
    positions: list[int] = []
    items = read_batch(raw, limit=limit)
    for index, item in enumerate(items):
        try:
            valid.append(_batch_item(item, now))
            positions.append(index)
        except InvalidInput as exc:
            refused[index] = exc
    return len(items), valid, positions, refused


def _batch_item(raw: object, now: Any) -> ModelPerformanceSnapshot:
    if not isinstance(raw, dict):
        raise InvalidInput("snapshot", "must be a JSON object")
    try:
        item = BatchSnapshotIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "snapshot"
        raise InvalidInput(where, str(first.get("msg", "invalid"))) from None
    if item.model_id is None:
        raise InvalidInput("model_id", "is required for each snapshot of a batch")
    return to_snapshot(item, item.model_id, now)


async def _rollback_check(
    model_id: str,
    registry: RegistryDep,
    caller: Checker,
    window_minutes: int,
    auto_remediate: bool,
    version: str | None,
) -> dict[str, Any]:
    if auto_remediate and not caller.may(Scope.OPERATE):
        raise Forbidden("auto_remediate=true acts on the model and needs the 'operate' scope")
    return dict(
        await registry.check_rollback_triggers(
            model_id, window_minutes=window_minutes, auto_remediate=auto_remediate, version=version
        )
    )


JudgedVersion = Annotated[
    Identifier | None, Query(description="Judge this version instead of the production one.")
]


@router.get("/models/{model_id}/rollback-check", response_model=RollbackCheckOut)
async def rollback_check(
    model_id: ModelId,
    registry: RegistryDep,
    caller: Checker,
    window_minutes: Window = 10,
    auto_remediate: bool = False,
    version: JudgedVersion = None,
) -> JSONReply:
    """Check the rollback triggers; with auto_remediate=true (scope operate) act on them."""
    return reply(
        await _rollback_check(model_id, registry, caller, window_minutes, auto_remediate, version)
    )


@router.post("/models/{model_id}/rollback-check", response_model=RollbackCheckOut)
async def rollback_check_post(
    model_id: ModelId,
    registry: RegistryDep,
    caller: Checker,
    window_minutes: Window = 10,
    auto_remediate: bool = False,
    version: JudgedVersion = None,
) -> JSONReply:
    """The same check as POST, since with auto_remediate=true it acts."""
    return reply(
        await _rollback_check(model_id, registry, caller, window_minutes, auto_remediate, version)
    )


@router.post("/models/{model_id}/rollback", response_model=RollbackOut)
async def rollback(
    model_id: ModelId,
    registry: RegistryDep,
    caller: Operator,
    reason: Annotated[
        str,
        Query(min_length=1, max_length=MAX_REASON_LENGTH, description="Why (not blank)."),
        non_blank_text(MAX_REASON_LENGTH),
    ],
    target_version: Identifier | None = None,
) -> JSONReply:
    """Roll production back to ``target_version``, or to the previous stable version."""
    return reply(
        dict(
            await registry.rollback(
                model_id, reason, target_version=target_version, actor=caller.name
            )
        )
    )
