"""Models and their versions: register, list, read, update, change stage, history, settings."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query

from grace.api.deps import MAX_ID, ModelId, Reader, RegistryDep, Run, Version, Writer
from grace.api.responses import JSONReply, reply
from grace.api.schemas import (
    ModelCreate,
    ModelOut,
    ModelPage,
    ModelUpdate,
    ProblemOut,
    SettingsIn,
    SettingsOut,
    StageChangeIn,
    StageChangeOut,
    TimelinePage,
)
from grace.api.shapes import Identifier
from grace.domain.stages import DeploymentStage
from grace.domain.validation import check_identifier
from grace.errors import InvalidInput, NoProductionVersion

router = APIRouter(prefix="/api/model-registry", tags=["models"])

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (at most 1000).")]


def encode_cursor(model_id: str, version: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([model_id, version]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The (model_id, version) a cursor of :func:`encode_cursor` holds, or InvalidInput."""
    refused = InvalidInput("cursor", "is not a cursor this service handed out")
    try:
        # A crafted cursor may nest deeply enough to exhaust the parser's recursion.
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise refused from None
    if not isinstance(decoded, list) or len(decoded) != 2:
        raise refused
    try:
        return check_identifier("cursor", decoded[0]), check_identifier("cursor", decoded[1])
    except InvalidInput:
        raise refused from None


@router.post("/models", response_model=ModelOut, status_code=201)
async def register_model(
    body: ModelCreate, registry: RegistryDep, caller: Writer, run: Run
) -> JSONReply:
    """Register a model version (409 if that version exists)."""
    fields = body.model_dump(exclude={"model_id", "version"})
    entry = await run.small(
        registry.register_model, body.model_id, body.version, actor=caller.name, **fields
    )
    return reply(entry.to_dict(), status_code=201)


@router.get("/models", response_model=ModelPage)
async def list_models(
    registry: RegistryDep,
    _: Reader,
    run: Run,
    stage: DeploymentStage | None = None,
    owner: Identifier | None = None,
    tag: Annotated[Identifier | None, Query(description="Versions carrying this tag.")] = None,
    model_id: Identifier | None = None,
    cursor: Annotated[
        str | None,
        Query(description="The `next_cursor` of the previous page, as it was handed out."),
    ] = None,
    limit: Limit = 100,
) -> JSONReply:
    """Model versions by model id then registration, filtered, a page at a time."""
    after = decode_cursor(cursor) if cursor else None
    filters: dict[str, Any] = {"owner": owner, "tag": tag, "model_id": model_id}
    page = await run(registry.list_models, stage, after=after, limit=limit, **filters)
    more = False
    if len(page) == limit:  # a full page: is there anything after it?
        last = (page[-1].model_id, page[-1].version)
        more = bool(await run(registry.list_models, stage, after=last, limit=1, **filters))
    return reply(
        {
            "items": [e.to_dict() for e in page],
            "next_cursor": encode_cursor(page[-1].model_id, page[-1].version) if more else None,
        }
    )


@router.get("/models/{model_id}", response_model=ModelOut)
async def get_model(model_id: ModelId, registry: RegistryDep, _: Reader, run: Run) -> JSONReply:
    """The latest registered version of the model."""
    return reply((await run.small(registry.get_model, model_id)).to_dict())


@router.get(
    "/models/{model_id}/production",
    response_model=ModelOut,
    responses={404: {"model": ProblemOut, "description": "Unknown model or nothing in production"}},
)
async def get_production_version(
    model_id: ModelId, registry: RegistryDep, _: Reader, run: Run
) -> JSONReply:
    """The version in production now (404 when the model has none)."""
    entry = await run.small(registry.get_production_version, model_id)
    if entry is None:
        raise NoProductionVersion(model_id)
    return reply(entry.to_dict())


@router.get("/models/{model_id}/versions/{version}", response_model=ModelOut)
async def get_version(
    model_id: ModelId, version: Version, registry: RegistryDep, _: Reader, run: Run
) -> JSONReply:
    return reply((await run.small(registry.get_model, model_id, version)).to_dict())


@router.patch("/models/{model_id}/versions/{version}", response_model=ModelOut)
async def update_version(
    model_id: ModelId,
    version: Version,
    body: ModelUpdate,
    registry: RegistryDep,
    caller: Writer,
    run: Run,
) -> JSONReply:
    """Change descriptive fields of a version; fields left out are kept."""
    changes = body.model_dump(exclude_unset=True)
    return reply(
        (
            await run.small(registry.update_model, model_id, version, actor=caller.name, **changes)
        ).to_dict()
    )


@router.post("/models/{model_id}/versions/{version}/stage", response_model=ModelOut)
async def change_stage(
    model_id: ModelId,
    version: Version,
    body: StageChangeIn,
    registry: RegistryDep,
    caller: Writer,
    run: Run,
) -> JSONReply:
    """Move a version to another stage; promotion passes the governance gates (409 lists them)."""
    entry = await run.small(
        registry.update_deployment_status,
        model_id,
        body.stage,
        version,
        reason=body.reason,
        actor=caller.name,
        override_governance=body.override_governance,
    )
    return reply(entry.to_dict())


@router.post("/models/{model_id}/stage", response_model=ModelOut)
async def change_stage_of_latest(
    model_id: ModelId, body: StageChangeIn, registry: RegistryDep, caller: Writer, run: Run
) -> JSONReply:
    """Move the latest registered version to another stage (as update_deployment_status does)."""
    entry = await run.small(
        registry.update_deployment_status,
        model_id,
        body.stage,
        reason=body.reason,
        actor=caller.name,
        override_governance=body.override_governance,
    )
    return reply(entry.to_dict())


@router.get("/models/{model_id}/history", response_model=list[StageChangeOut])
async def stage_history(model_id: ModelId, registry: RegistryDep, _: Reader, run: Run) -> JSONReply:
    """Every stage change of the model, oldest first."""
    return reply([c.to_dict() for c in await run(registry.get_stage_history, model_id)])


@router.get("/models/{model_id}/settings", response_model=SettingsOut)
async def get_settings(model_id: ModelId, registry: RegistryDep, _: Reader, run: Run) -> JSONReply:
    """Auto-remediation, window and trigger thresholds in effect for the model."""
    return reply((await run.small(registry.get_model_settings, model_id)).to_dict())


@router.patch("/models/{model_id}/settings", response_model=SettingsOut)
async def configure_model(
    model_id: ModelId, body: SettingsIn, registry: RegistryDep, _: Writer, run: Run
) -> JSONReply:
    """Change auto-remediation, the window or thresholds; `reset` returns them to the default."""
    settings = await run.small(
        registry.configure_model,
        model_id,
        auto_remediate=body.auto_remediate,
        window_minutes=body.window_minutes,
        thresholds=body.thresholds,
        reset=body.reset,
    )
    return reply(settings.to_dict())


@router.get("/models/{model_id}/timeline", response_model=TimelinePage)
async def model_timeline(
    model_id: ModelId,
    registry: RegistryDep,
    _: Reader,
    run: Run,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 100,
) -> JSONReply:
    """The model's events, newest first."""
    events = await run(registry.get_timeline, model_id, before_seq=before_seq, limit=limit)
    return reply(
        {
            "items": [e.to_dict() for e in events],
            "next_before": events[-1].seq if len(events) == limit else None,
        }
    )
