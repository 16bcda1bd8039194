"""Incidents: list, read with timeline, acknowledge, resolve, annotate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from grace.api.deps import MAX_ID, IncidentsDep, Operator, Reader, RecordId, Run
from grace.api.responses import JSONReply, reply
from grace.api.schemas import (
    IncidentActionIn,
    IncidentOut,
    IncidentPage,
    IncidentStatsPage,
    NoteIn,
    TimelineEntryOut,
)
from grace.api.shapes import Identifier
from grace.domain.records import IncidentStatus
from grace.domain.severity import Severity

router = APIRouter(prefix="/api/model-registry", tags=["incidents"])


@router.get("/incidents", response_model=IncidentPage)
async def list_incidents(
    incidents: IncidentsDep,
    _: Reader,
    run: Run,
    status: IncidentStatus | None = None,
    severity: Severity | None = None,
    model_id: Annotated[Identifier | None, Query(description="The incident's resource id.")] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only incidents older than this id.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONReply:
    """Incidents, newest first, filtered by status, severity and model."""
    found = await run(
        incidents.list_incidents,
        resource_id=model_id,
        status=status,
        severity=severity,
        before_id=before,
        limit=limit,
    )
    return reply(
        {
            "items": [i.to_dict() for i in found],
            "next_before": found[-1].id if len(found) == limit else None,
        }
    )


@router.get("/incidents/stats", response_model=IncidentStatsPage)
async def incident_stats(
    incidents: IncidentsDep,
    _: Reader,
    run: Run,
    model_id: Annotated[Identifier | None, Query(description="One model only.")] = None,
    hours: Annotated[
        float, Query(gt=0, le=90 * 24, description="The window, back from now.")
    ] = 168,
) -> JSONReply:
    """Counts, MTTA and MTTR of the incidents opened in the window, for the fleet and per
    model."""
    return reply(await run(incidents.stats, model_id, hours=hours))


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
async def get_incident(
    incident_id: RecordId, incidents: IncidentsDep, _: Reader, run: Run
) -> JSONReply:
    """One incident with its timeline."""
    return reply((await run(incidents.get_incident, incident_id)).to_dict())


@router.post("/incidents/{incident_id}/acknowledge", response_model=IncidentOut)
async def acknowledge(
    incident_id: RecordId,
    incidents: IncidentsDep,
    caller: Operator,
    body: IncidentActionIn | None = None,
) -> JSONReply:
    note = body.note if body else None
    return reply((await incidents.acknowledge(incident_id, actor=caller.name, note=note)).to_dict())


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentOut)
async def resolve(
    incident_id: RecordId,
    incidents: IncidentsDep,
    caller: Operator,
    body: IncidentActionIn | None = None,
) -> JSONReply:
    note = body.note if body else None
    return reply((await incidents.resolve(incident_id, actor=caller.name, note=note)).to_dict())


@router.post("/incidents/{incident_id}/notes", response_model=TimelineEntryOut, status_code=201)
async def annotate(
    incident_id: RecordId, body: NoteIn, incidents: IncidentsDep, caller: Operator
) -> JSONReply:
    """Add a note (or any timeline entry) to the incident."""
    entry = await incidents.annotate(
        incident_id, body.message, actor=caller.name, kind=body.kind, data=body.data
    )
    return reply(entry.to_dict(), status_code=201)
