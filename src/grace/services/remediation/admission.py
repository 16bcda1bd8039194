"""The guardrails' transaction: one remediation's facts read, decided
(:func:`grace.domain.guardrails.decide`) and recorded in one write, so that two
remediations deciding at once (threads, or replicas on PostgreSQL) cannot both take the
last slot of a rate limit.

The run is recorded whatever the answer: running (owned by the engine, which then runs its
steps), held, refused, waiting for approval or a dry run, with the reason, an event and a
line on the incident's timeline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from grace.adapters.store import StoreSession
from grace.domain.events import Event, EventType
from grace.domain.guardrails import Decision, Facts, GuardrailLimits, Verdict, decide
from grace.domain.records import ExecutionStatus, PlaybookExecution
from grace.domain.remediation import RESOURCE_TYPE, correlation_of
from grace.errors import IncidentNotFound
from grace.services.playbooks import MODEL_ROLLBACK
from grace.services.self_healing import SelfHealingEngine

__all__ = ["Admission", "admit", "note", "run_event"]

SOURCE = "remediation"
_HOUR = timedelta(hours=1)
_STATUS = {
    Verdict.ACT: ExecutionStatus.RUNNING,
    Verdict.HOLD: ExecutionStatus.HELD,
    Verdict.REFUSE: ExecutionStatus.REFUSED,
    Verdict.WAIT_APPROVAL: ExecutionStatus.WAITING_APPROVAL,
    Verdict.DRY_RUN: ExecutionStatus.DRY_RUN,
}
_EVENT = {
    Verdict.HOLD: EventType.REMEDIATION_HELD,
    Verdict.REFUSE: EventType.REMEDIATION_REFUSED,
    Verdict.WAIT_APPROVAL: EventType.APPROVAL_REQUESTED,
    Verdict.DRY_RUN: EventType.REMEDIATION_DRY_RUN,
}


@dataclass(frozen=True, slots=True)
class Admission:
    decision: Decision
    #: The playbook it is about (the model's policy's, or model_rollback).
    playbook: str
    #: The recorded run (None: acting through the guide's callback, which records its own).
    run: PlaybookExecution | None
    events: list[Event]


def run_event(event_type: str, run: PlaybookExecution, at: datetime, **extra: Any) -> Event:
    """An event about a remediation's run, with what a human needs to act on it."""
    data = {
        "execution_id": run.id,
        "playbook": run.playbook,
        "status": run.status.value,
        "reason": run.reason,
        "version": run.context.get("current_version"),
        "severity": run.context.get("severity"),
        "incident_id": run.context.get("incident_id"),
        **extra,
    }
    return Event.of(event_type, SOURCE, run.resource_id, data, at)


def note(
    s: StoreSession, run: PlaybookExecution, kind: str, message: str, at: datetime, actor: str
) -> None:
    """A line on the incident that asked for ``run``, if it names one."""
    incident_id = run.context.get("incident_id")
    if isinstance(incident_id, int) and not isinstance(incident_id, bool):
        data = {"execution_id": run.id, "status": run.status.value, "reason": run.reason}
        # An incident that is gone: the run and its event still say it.
        with contextlib.suppress(IncidentNotFound):
            s.append_timeline(incident_id, at, kind, message, actor=actor, data=data)


def _facts(
    s: StoreSession, engine: SelfHealingEngine, model_id: str, now: datetime
) -> tuple[str, Facts, list[Event]]:
    """The playbook the model's policy names, and the facts about it."""
    s.lock_remediations()
    policy = s.get_remediation_policy(model_id)
    playbook = policy.playbook or MODEL_ROLLBACK
    orphaned = engine.abandon_orphans_of(s, model_id)
    last = s.last_execution(
        model_id,
        playbook,
        [ExecutionStatus.SUCCEEDED, ExecutionStatus.RUNNING],
        now - engine.cooldown,
    )
    facts = Facts(
        policy=policy,
        window=s.window_covering(model_id, now),
        cooldown_run=(last.id, last.started_at) if last is not None else None,
        # The rate limits count every automatic remediation, whichever playbook ran.
        model_runs_last_hour=s.count_remediations(None, now - _HOUR, resource_id=model_id),
        fleet_runs_last_hour=s.count_remediations(None, now - _HOUR),
        unknown_playbook=None if engine.knows(playbook, RESOURCE_TYPE) else playbook,
    )
    return playbook, facts, orphaned


def admit(
    s: StoreSession,
    *,
    engine: SelfHealingEngine,
    context: Mapping[str, Any],
    limits: GuardrailLimits,
    now: datetime,
    record_acting: bool = True,
    plan: Callable[[StoreSession, str, str], Mapping[str, Any]] | None = None,
) -> Admission:
    """Inside the write ``s``: decide and record one remediation of ``context['model_id']``
    by the playbook its policy names (``model_rollback`` unless it names another).

    ``record_acting=False`` (the guide's self-healing callback starts its own run) records
    nothing when the answer is to act.  ``plan(s, model_id, playbook)`` says, in ``s``, what
    a dry run would have done (asked only for a dry run).
    """
    model_id = str(context["model_id"])
    playbook, facts, events = _facts(s, engine, model_id, now)
    decision = decide(facts, limits, cooldown=engine.cooldown)
    if decision.acts and not record_acting:
        return Admission(decision, playbook, None, events)
    expires = now + limits.approval_ttl if decision.verdict is Verdict.WAIT_APPROVAL else None
    result: dict[str, Any] = {"decision": decision.to_dict()}
    if decision.verdict is Verdict.DRY_RUN and plan is not None:
        result["plan"] = dict(plan(s, model_id, playbook))
    run = s.insert_execution(
        playbook,
        RESOURCE_TYPE,
        model_id,
        _STATUS[decision.verdict],
        context,
        now,
        error=None if decision.acts else decision.message,
        owner=str(engine.owner) if decision.acts else None,
        correlation_id=correlation_of(context),
        reason=decision.reason.value if decision.reason else None,
        window_id=decision.window_id,
        expires_at=expires,
        result=result,
    )
    if decision.acts:
        events.append(s.append_event(engine.started_event(run)))
        return Admission(decision, playbook, run, events)
    extra: dict[str, Any] = {"message": decision.message}
    if decision.window_id is not None:
        extra["window_id"] = decision.window_id
    if expires is not None:
        extra["expires_at"] = run.to_dict()["expires_at"]
    if decision.would is not None:
        extra["would"] = decision.would.value
    events.append(s.append_event(run_event(_EVENT[decision.verdict], run, now, **extra)))
    note(s, run, f"remediation_{run.status.value}", decision.message, now, SOURCE)
    return Admission(decision, playbook, run, events)
