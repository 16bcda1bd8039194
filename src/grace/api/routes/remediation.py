"""The guardrails over HTTP: a model's remediation policy and circuit breaker, maintenance
windows, and approving or denying a remediation that waits for a human."""

from __future__ import annotations

from fastapi import APIRouter

from grace.api.deps import GraceDep, ModelId, Operator, Reader, RecordId, Run, Writer
from grace.api.responses import JSONReply, reply
from grace.api.schemas import ExecutionOut
from grace.api.schemas_remediation import (
    DrillIn,
    DrillOut,
    PolicyIn,
    PolicyOut,
    WindowIn,
    WindowOut,
)
from grace.api.shapes import Identifier, http_time

router = APIRouter(prefix="/api/model-registry", tags=["guardrails"])


@router.get("/models/{model_id}/remediation", response_model=PolicyOut)
async def get_policy(model_id: ModelId, grace: GraceDep, _: Reader, run: Run) -> JSONReply:
    """The model's remediation policy and the state of its circuit breaker."""
    return reply((await run.small(grace.policies.get, model_id)).to_dict())


@router.patch("/models/{model_id}/remediation", response_model=PolicyOut)
async def set_policy(
    model_id: ModelId, body: PolicyIn, grace: GraceDep, caller: Writer
) -> JSONReply:
    """Approvals, dry runs, the model's own rate limit and its runbook."""
    changes = body.model_dump(exclude_unset=True)
    policy = await grace.policies.update(model_id, changes, actor=caller.name)
    return reply(policy.to_dict())


@router.post("/models/{model_id}/remediation/breaker/close", response_model=PolicyOut)
async def close_breaker(model_id: ModelId, grace: GraceDep, caller: Operator) -> JSONReply:
    """Turn automatic remediation back on after the circuit breaker switched it off."""
    return reply((await grace.policies.close_breaker(model_id, actor=caller.name)).to_dict())


@router.post("/executions/{execution_id}/approve", response_model=ExecutionOut)
async def approve(execution_id: RecordId, grace: GraceDep, caller: Operator) -> JSONReply:
    """Approve a remediation waiting for approval: it runs now; the answer is the run."""
    return reply((await grace.approvals.approve(execution_id, caller.name)).to_dict())


@router.post("/executions/{execution_id}/deny", response_model=ExecutionOut)
async def deny(execution_id: RecordId, grace: GraceDep, caller: Operator) -> JSONReply:
    """Deny a remediation waiting for approval: it ends, and the model is left as it is."""
    return reply((await grace.approvals.deny(execution_id, caller.name)).to_dict())


@router.post("/drills", response_model=DrillOut)
async def run_drill(grace: GraceDep, _: Operator, body: DrillIn | None = None) -> JSONReply:
    """A rollback drill: ``model_rollback`` as a dry run for every production model; the
    answer names those it could not heal (no previous stable version, or a restore target
    failing a governance gate), as the events do; ``open_incidents`` opens a LOW incident
    for each."""
    report = await grace.drills.run(open_incidents=bool(body and body.open_incidents))
    return reply(report.to_dict())


@router.post("/maintenance-windows", response_model=WindowOut, status_code=201)
async def create_window(body: WindowIn, grace: GraceDep, caller: Operator) -> JSONReply:
    """Hold automatic remediation back for one model, or every model, for a while."""
    window = await grace.windows.create(
        body.model_id,
        http_time(body.starts_at),
        http_time(body.ends_at),
        body.reason,
        on_end=body.on_end,
        created_by=caller.name,
    )
    return reply(window.to_dict(), status_code=201)


@router.get("/maintenance-windows", response_model=list[WindowOut])
async def list_windows(
    grace: GraceDep,
    _: Reader,
    run: Run,
    model_id: Identifier | None = None,
    include_past: bool = False,
) -> JSONReply:
    """Windows not yet over, by start (``include_past``: all, removed ones too); with
    ``model_id``, that model's and those of every model."""
    windows = await run.small(grace.windows.list_windows, model_id, include_past=include_past)
    return reply([w.to_dict() for w in windows])


@router.get("/maintenance-windows/{window_id}", response_model=WindowOut)
async def get_window(window_id: RecordId, grace: GraceDep, _: Reader, run: Run) -> JSONReply:
    return reply((await run.small(grace.windows.get, window_id)).to_dict())


@router.delete("/maintenance-windows/{window_id}", response_model=WindowOut)
async def remove_window(window_id: RecordId, grace: GraceDep, _: Operator) -> JSONReply:
    """End a window now: what it held is acted on."""
    return reply((await grace.windows.remove(window_id)).to_dict())
