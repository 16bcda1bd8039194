"""The remediation pipeline: what happens once a model version's rollback triggers fire.

Every trigger source (a snapshot, a batch of them, the rollback check, the end of a
maintenance window) calls :meth:`Remediation.act`, which runs these named stages in
order::

    record_fired   the ``model.triggers_fired`` event
    open_incident  the incident (the guide's incident callback, or the incident registry)
    admit          the guardrails (maintenance window, circuit breaker, cooldown, rate
                   limits, dry run, approval) decide and record the run; only when
                   remediating (grace.services.remediation.admission)
    run_playbook   the model's playbook: ``model_rollback`` unless its policy names
                   another (the self-healing callback, or the engine); only when admitted
    check_breaker  after a failed run: K failures in a row switch automatic remediation
                   off for the model and open a HIGH incident for a human
    notify_ops     the ``ops.notified`` event and a line on the incident's timeline

A run that waits for approval resumes (:meth:`Remediation.resume`) when a human approves
it (grace.services.remediation.approvals).

The decisions (severity, dedup key, the incident's text, the guardrails) are the pure
domain's (:mod:`grace.domain.remediation`, :mod:`grace.domain.guardrails`); this module
carries them out, whatever fired the triggers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from grace.adapters.store import Store, StoreSession
from grace.clock import Clock
from grace.domain.events import REGISTRY_SOURCE, Event, EventType, new_event_id
from grace.domain.guardrails import GuardrailLimits, breaker_trips
from grace.domain.records import ExecutionStatus, ModelEntry, PlaybookExecution
from grace.domain.remediation import (
    REMEDIATION_ID,
    RESOURCE_TYPE,
    IncidentDraft,
    breaker_incident,
    degradation_incident,
    fleet_burst_incident,
    remediation_severity,
    remediation_summary,
)
from grace.domain.severity import Severity
from grace.domain.triggers import TriggerEvaluation
from grace.domain.trust import trust_after_incident
from grace.errors import GraceError
from grace.services.callbacks import Callback, UserCallbacks
from grace.services.clarity import EventLog
from grace.services.deployments import Deployments
from grace.services.follower import EventFollower
from grace.services.incident_registry import IncidentRegistry
from grace.services.playbooks import MODEL_ROLLBACK
from grace.services.remediation.admission import Admission, admit
from grace.services.runner import Runner
from grace.services.self_healing import SelfHealingEngine

__all__ = ["Action", "Remediation"]

log = logging.getLogger("grace.remediation")

SOURCE = REGISTRY_SOURCE


@dataclass(frozen=True, slots=True)
class Action:
    """What the pipeline did: the incident it opened (or found open) and, when remediating,
    the summary of the playbook run."""

    incident_id: int | None
    remediation: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class _Case:
    """One remediation's facts, passed from stage to stage."""

    entry: ModelEntry
    evaluation: TriggerEvaluation
    window_minutes: int
    remediate: bool
    severity: Severity


class Remediation:
    def __init__(
        self,
        store: Store,
        *,
        events: EventLog,
        clock: Clock,
        run: Runner,
        incidents: IncidentRegistry,
        engine: SelfHealingEngine,
        callbacks: UserCallbacks,
        follower: EventFollower,
        deployments: Deployments,
        limits: GuardrailLimits | None = None,
        verify_for: timedelta = timedelta(minutes=10),
    ) -> None:
        self.limits = limits or GuardrailLimits()
        self.verify_for = verify_for
        self._deployments = deployments
        self._store = store
        self._events = events
        self._clock = clock
        self._run = run
        self._incidents = incidents
        self._engine = engine
        self._callbacks = callbacks
        self._follower = follower

    async def act(
        self,
        entry: ModelEntry,
        evaluation: TriggerEvaluation,
        window_minutes: int,
        remediate: bool,
    ) -> Action:
        """Fired triggers of ``entry``: the incident, then (if remediating) the playbook and
        the ops notice."""
        case = _Case(
            entry,
            evaluation,
            window_minutes,
            remediate,
            remediation_severity(evaluation.severity, remediate),
        )
        await self.record_fired(case)
        incident_id = await self.open_incident(case)
        if not remediate:
            return Action(incident_id, None)
        remediation = await self.remediate(self._context(case, incident_id))
        await self.notify_ops(case.entry.model_id, self._context(case, incident_id), remediation)
        return Action(incident_id, remediation)

    def _context(self, case: _Case, incident_id: int | None) -> dict[str, Any]:
        return {
            "model_id": case.entry.model_id,
            "current_version": case.entry.version,
            "current_status": case.entry.status.value,
            "reasons": case.evaluation.reasons,
            "severity": case.severity.value,
            "window_minutes": case.window_minutes,
            "incident_id": incident_id,
        }

    async def remediate(self, context: dict[str, Any]) -> dict[str, Any]:
        """The guardrails, then (if they admit it) the playbook and the breaker."""
        context = {**context, REMEDIATION_ID: new_event_id()}
        admission = await self.admit(context)
        remediation: dict[str, Any] = {"playbook": admission.playbook}
        if admission.decision.page:
            await self._open(fleet_burst_incident(SOURCE, admission.decision.message))
        if not admission.decision.acts:
            if admission.run is not None:
                remediation |= remediation_summary(admission.run.to_dict())
            return remediation | {"message": admission.decision.message}
        remediation |= await self.run_playbook(context, admission.playbook, admission.run)
        await self.check_breaker(str(context["model_id"]), remediation)
        await self.schedule_verification(remediation)
        return remediation

    async def _call(self, kind: str, model_id: str, callback: Callback, **kwargs: Any) -> bool:
        """A user's callback, guarded; whether it succeeded (its failure is announced)."""
        called = await self._callbacks.call(kind, model_id, callback, **kwargs)
        if called.failure is not None:
            await self._follower.announce([called.failure])
        return called.ok

    # -- the stages ----------------------------------------------------------------
    async def record_fired(self, case: _Case) -> None:
        fired = Event.of(
            EventType.TRIGGERS_FIRED,
            SOURCE,
            case.entry.model_id,
            {
                "version": case.entry.version,
                "severity": case.severity.value,
                "reasons": case.evaluation.reasons,
                "window_minutes": case.window_minutes,
                "auto_remediate": case.remediate,
            },
            self._clock.now(),
        )
        await self._follower.announce([await self._run(self._events.append, fired)])

    async def open_incident(self, case: _Case) -> int | None:
        """The incident's id (a new one, or the one already open for this version)."""
        draft: IncidentDraft = degradation_incident(
            SOURCE, case.entry, case.evaluation, case.severity, case.window_minutes
        )
        callback = self._callbacks.incident
        if callback is not None:
            await self._call("incident", case.entry.model_id, callback, **draft.as_kwargs())
        else:
            try:
                opened = await self._incidents.create_incident(**draft.as_kwargs())
            except GraceError:
                log.exception("could not open the incident for %s", case.entry.model_id)
            else:
                if opened.occurrences == 1:  # a new incident about the version: trust drops
                    await self._run(self._lower_trust, case.entry, opened.severity)
        incident = await self._run(self._incidents.find_open, draft.dedup_key)
        return incident.id if incident else None

    async def admit(self, context: dict[str, Any]) -> Admission:
        """The guardrails' decision, recorded (grace.services.remediation.admission)."""

        def write() -> Admission:
            with self._store.write() as s:
                return admit(
                    s,
                    engine=self._engine,
                    context=context,
                    limits=self.limits,
                    now=self._clock.now(),
                    record_acting=self._callbacks.self_healing is None,
                    plan=self._plan,
                )

        admission = await self._run(write)
        await self._follower.announce(admission.events)
        return admission

    def _plan(self, s: StoreSession, model_id: str, playbook: str) -> dict[str, Any]:
        """What ``playbook`` would do now, read in ``s`` (a dry run's record): for
        ``model_rollback``, from which version to which; for another, its steps."""
        if playbook != MODEL_ROLLBACK:
            if not self._engine.knows(playbook):
                return {"would_run": playbook, "error": "the playbook is not registered"}
            steps = self._engine.get_playbook(playbook).steps
            return {"would_run": playbook, "steps": [step.name for step in steps]}
        try:
            current, target = self._deployments.previous_stable_in(s, model_id)
        except GraceError as exc:
            return {"would_roll_back": False, "error": exc.detail}
        return {
            "would_roll_back": True,
            "from_version": current.version,
            "to_version": target.version,
        }

    def _lower_trust(self, entry: ModelEntry, severity: Severity) -> None:
        with self._store.write() as s:
            current = s.get_version(entry.model_id, entry.version)
            after = trust_after_incident(current.trust_score, severity)
            s.set_trust(
                entry.model_id, entry.version, after, credited_at=None, at=self._clock.now()
            )

    async def run_playbook(
        self, context: dict[str, Any], playbook: str, admitted: PlaybookExecution | None
    ) -> dict[str, Any]:
        """The admitted run's steps (the engine), or the guide's self-healing callback."""
        model_id = str(context["model_id"])
        callback = self._callbacks.self_healing
        if callback is not None:
            ok = await self._call(
                "self_healing",
                model_id,
                callback,
                resource_type=RESOURCE_TYPE,
                resource_id=model_id,
                playbook=playbook,
                context=context,
            )
            # The run the callback started for this remediation, if it started one.
            started = await self._run(self._engine.find_execution, context[REMEDIATION_ID])
            summary: dict[str, Any] = {"callback_succeeded": ok}
            if started is not None:
                summary |= remediation_summary(started.to_dict())
            return summary
        if admitted is None:  # pragma: no cover - admission records a run without a callback
            return {"status": "failed", "error": "no run was recorded"}
        return await self._run_admitted(admitted)

    async def _run_admitted(self, admitted: PlaybookExecution) -> dict[str, Any]:
        try:
            execution = await self._engine.run_admitted(admitted)
        except GraceError as exc:
            log.exception("self-healing could not run for %s", admitted.resource_id)
            return {"execution_id": admitted.id, "status": "failed", "error": exc.detail}
        return remediation_summary(execution.to_dict())

    async def schedule_verification(self, remediation: Mapping[str, Any]) -> None:
        """After a successful rollback: judge the restored version once the verification
        window has passed (grace.services.remediation.verification).  A run of any playbook
        that restored a version (its result names ``to_version``, as model_rollback's does)
        is verified; other playbooks' runs are not rollbacks to verify."""
        execution_id = remediation.get("execution_id")
        succeeded = remediation.get("status") == ExecutionStatus.SUCCEEDED.value
        if not succeeded or not isinstance(execution_id, int) or self.verify_for <= timedelta(0):
            return
        if not remediation.get("to_version"):
            return

        def write() -> None:
            with self._store.write() as s:
                s.schedule_verification(execution_id, self._clock.now() + self.verify_for)

        await self._run(write)

    async def check_breaker(self, model_id: str, remediation: Mapping[str, Any]) -> None:
        """After a failed run: K failed runs in a row open the model's circuit breaker."""
        if remediation.get("status") != ExecutionStatus.FAILED.value:
            return
        after = self.limits.breaker_after

        def write() -> tuple[str, Event] | None:
            with self._store.write() as s:
                now = self._clock.now()
                policy = s.get_remediation_policy(model_id)
                outcomes = s.remediation_outcomes(model_id, None, after)
                if policy.breaker_open or not breaker_trips(outcomes, after):
                    return None
                reason = (
                    f"{after} automatic remediations in a row failed (the last, run "
                    f"{remediation.get('execution_id')}: {remediation.get('error') or 'failed'})"
                )
                s.set_remediation_policy(
                    model_id, {"breaker_opened_at": now, "breaker_reason": reason}, now
                )
                event = Event.of(
                    EventType.BREAKER_OPENED, SOURCE, model_id, {"reason": reason}, now
                )
                return reason, s.append_event(event)

        opened = await self._run(write)
        if opened is None:
            return
        reason, event = opened
        await self._follower.announce([event])
        await self._open(breaker_incident(SOURCE, model_id, reason))

    async def _open(self, draft: IncidentDraft) -> None:
        """An incident that asks a human to look (it pages, grace.services.remediation.paging)."""
        try:
            await self._incidents.create_incident(**draft.as_kwargs())
        except GraceError:
            log.exception("could not open the incident %r", draft.title)

    async def resume(self, run: PlaybookExecution) -> dict[str, Any]:
        """A run admitted later (approved by a human) acts: the playbook through the engine
        (never the guide's callback: a human approved this run), the breaker, the notice."""
        remediation = {"playbook": run.playbook} | await self._run_admitted(run)
        await self.check_breaker(run.resource_id, remediation)
        await self.schedule_verification(remediation)
        await self.notify_ops(run.resource_id, run.context, remediation)
        return remediation

    async def notify_ops(
        self, model_id: str, context: Mapping[str, Any], remediation: Mapping[str, Any]
    ) -> None:
        """Step 5: tell the ops team (alerting integrations read the event this writes)."""
        incident_id = context.get("incident_id")
        data = {
            "version": context.get("current_version"),
            "severity": context.get("severity"),
            "reasons": context.get("reasons"),
            "incident_id": incident_id,
            "remediation": dict(remediation),
        }

        def write() -> Event:
            with self._store.write() as s:
                now = self._clock.now()
                if isinstance(incident_id, int):
                    s.append_timeline(
                        incident_id,
                        now,
                        "ops_notified",
                        f"ops team notified: remediation {remediation.get('status', 'unknown')}",
                        actor=SOURCE,
                        data={"remediation": dict(remediation)},
                    )
                return s.append_event(Event.of(EventType.OPS_NOTIFIED, SOURCE, model_id, data, now))

        await self._follower.announce([await self._run(write)])
