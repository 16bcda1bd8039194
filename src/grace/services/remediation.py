"""The remediation pipeline: what happens once a model version's rollback triggers fire.

Every trigger source (a snapshot, a batch of them, the rollback check) calls
:meth:`Remediation.act`, which runs four named stages in order::

    record_fired   the ``model.triggers_fired`` event
    open_incident  the incident (the guide's incident callback, or the incident registry)
    run_playbook   ``model_rollback`` (the self-healing callback, or the engine); only
                   when remediating
    notify_ops     the ``ops.notified`` event and a line on the incident's timeline

The decisions (severity, dedup key, the incident's text) are the pure domain's
(:mod:`grace.domain.remediation`); this module carries them out.  Whatever comes next to
decide whether and how to act (maintenance windows, guardrails, approvals, notifications)
is a stage here, so that it applies whatever fired the triggers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.events import REGISTRY_SOURCE, Event, EventType, new_event_id
from grace.domain.records import ModelEntry
from grace.domain.remediation import (
    REMEDIATION_ID,
    RESOURCE_TYPE,
    IncidentDraft,
    degradation_incident,
    remediation_severity,
    remediation_summary,
)
from grace.domain.severity import Severity
from grace.domain.triggers import TriggerEvaluation
from grace.errors import GraceError
from grace.services.callbacks import Callback, UserCallbacks
from grace.services.clarity import EventLog
from grace.services.follower import EventFollower
from grace.services.incident_registry import IncidentRegistry
from grace.services.playbooks import MODEL_ROLLBACK
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
    ) -> None:
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
        remediation = await self.run_playbook(case, incident_id)
        await self.notify_ops(case, incident_id, remediation)
        return Action(incident_id, remediation)

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
                await self._incidents.create_incident(**draft.as_kwargs())
            except GraceError:
                log.exception("could not open the incident for %s", case.entry.model_id)
        incident = await self._run(self._incidents.find_open, draft.dedup_key)
        return incident.id if incident else None

    async def run_playbook(self, case: _Case, incident_id: int | None) -> dict[str, Any]:
        model_id = case.entry.model_id
        remediation_id = new_event_id()
        context: dict[str, Any] = {
            REMEDIATION_ID: remediation_id,
            "model_id": model_id,
            "current_version": case.entry.version,
            "current_status": case.entry.status.value,
            "reasons": case.evaluation.reasons,
            "severity": case.severity.value,
            "window_minutes": case.window_minutes,
            "incident_id": incident_id,
        }
        remediation: dict[str, Any] = {"playbook": MODEL_ROLLBACK}
        callback = self._callbacks.self_healing
        if callback is not None:
            ok = await self._call(
                "self_healing",
                model_id,
                callback,
                resource_type=RESOURCE_TYPE,
                resource_id=model_id,
                playbook=MODEL_ROLLBACK,
                context=context,
            )
            # The run the callback started for this remediation, if it started one.
            started = await self._run(self._engine.find_execution, remediation_id)
            remediation["callback_succeeded"] = ok
            if started is not None:
                remediation |= remediation_summary(started.to_dict())
            return remediation
        try:
            execution = await self._engine.execute_playbook(MODEL_ROLLBACK, context)
            remediation |= remediation_summary(execution.to_dict())
        except GraceError as exc:
            log.exception("self-healing could not start for %s", model_id)
            remediation |= {"status": "failed", "error": exc.detail}
        return remediation

    async def notify_ops(
        self, case: _Case, incident_id: int | None, remediation: Mapping[str, Any]
    ) -> None:
        """Step 5: tell the ops team (alerting integrations read the event this writes)."""
        model_id = case.entry.model_id
        data = {
            "version": case.entry.version,
            "severity": case.severity.value,
            "reasons": case.evaluation.reasons,
            "incident_id": incident_id,
            "remediation": dict(remediation),
        }

        def write() -> Event:
            with self._store.write() as s:
                now = self._clock.now()
                if incident_id is not None:
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
