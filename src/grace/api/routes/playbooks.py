"""Self-healing: the playbooks, and their runs with every step."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from grace.api.deps import MAX_ID, EngineDep, GraceDep, Reader, RecordId, Run
from grace.api.responses import JSONReply, reply
from grace.api.schemas import ExecutionOut, ExecutionPage, PlaybookOut
from grace.api.shapes import Identifier

router = APIRouter(prefix="/api/model-registry", tags=["self-healing"])


@router.get("/playbooks", response_model=list[PlaybookOut])
async def list_playbooks(engine: EngineDep, _: Reader) -> JSONReply:
    """Every registered playbook (the built-in model_rollback and the users' own) with its
    steps, their timeouts and retries."""
    return reply([p.to_dict(engine.step_timeout) for p in engine.playbooks])


@router.get("/executions", response_model=ExecutionPage)
async def list_executions(
    engine: EngineDep,
    _: Reader,
    run: Run,
    model_id: Identifier | None = None,
    playbook: Identifier | None = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONReply:
    """Playbook runs, newest first."""
    runs = await run(
        engine.list_executions, model_id, playbook=playbook, before_id=before, limit=limit
    )
    return reply(
        {
            "items": [r.to_dict() for r in runs],
            "next_before": runs[-1].id if len(runs) == limit else None,
        }
    )


@router.get("/executions/{execution_id}", response_model=ExecutionOut)
async def get_execution(execution_id: RecordId, grace: GraceDep, _: Reader, run: Run) -> JSONReply:
    """One run with its steps, their status and timing; for a rollback, the dependents it
    told and the state of each delivery."""
    execution = await run.small(grace.engine.get_execution, execution_id)
    body = execution.to_dict()
    told = await run.small(grace.subscriptions.dependents_told, execution)
    if told is not None:
        body["dependents"] = told
    return reply(body)
