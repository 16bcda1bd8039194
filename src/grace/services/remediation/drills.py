"""Rollback drills (the guide's best practice 7, "test rollback paths regularly"):
``model_rollback`` as a dry run for every production model, reporting those it could not
heal: no previous stable version to restore, or a restore target that fails a governance
gate.  Each finding is an event (``drill.finding``) and, when asked, a LOW incident; the
drill itself is a ``drill.finished`` event.  Nothing else changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.events import Event, EventType
from grace.domain.governance import failed_gates
from grace.domain.severity import Severity
from grace.domain.timeutil import isoformat
from grace.errors import GraceError
from grace.services.deployments import Deployments
from grace.services.follower import EventFollower
from grace.services.incident_registry import IncidentRegistry
from grace.services.runner import Runner

__all__ = ["DrillReport", "Drills"]

SOURCE = "drill"


@dataclass(frozen=True, slots=True)
class DrillReport:
    at: datetime
    models: int
    #: model -> what it would restore (from, to)
    healable: dict[str, dict[str, str]] = field(default_factory=dict)
    #: model -> why it could not be healed
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    incidents: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": isoformat(self.at),
            "models": self.models,
            "healable": self.healable,
            "findings": self.findings,
            "incidents": self.incidents,
        }


class Drills:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        run: Runner,
        follower: EventFollower,
        deployments: Deployments,
        incidents: IncidentRegistry,
    ) -> None:
        self._store = store
        self._clock = clock
        self._run = run
        self._follower = follower
        self._deployments = deployments
        self._incidents = incidents

    def _survey(self) -> DrillReport:
        now = self._clock.now()
        with self._store.read() as s:
            production = sorted({m.model_id for m in s.fleet_stats(now)})
        report = DrillReport(now, len(production))
        for model in production:
            try:
                current, target = self._deployments.find_previous_stable(model)
            except GraceError as exc:
                report.findings[model] = {"kind": "no_stable_version", "detail": exc.detail}
                continue
            gates = failed_gates(target.governance)
            if gates:
                report.findings[model] = {
                    "kind": "restore_fails_gates",
                    "detail": f"restoring {target.version} would fail: " + "; ".join(gates),
                    "to_version": target.version,
                }
                continue
            report.healable[model] = {"from_version": current.version, "to_version": target.version}
        return report

    async def run(self, *, open_incidents: bool = False) -> DrillReport:
        """One drill over the fleet; with ``open_incidents``, a LOW incident per finding."""
        report = await self._run(self._survey)

        def write() -> list[Event]:
            with self._store.write() as s:
                events = [
                    s.append_event(
                        Event.of(EventType.DRILL_FINDING, SOURCE, model, dict(found), report.at)
                    )
                    for model, found in report.findings.items()
                ]
                summary = {"models": report.models, "findings": len(report.findings)}
                finished = Event.of(EventType.DRILL_FINISHED, SOURCE, None, summary, report.at)
                return [*events, s.append_event(finished)]

        await self._follower.announce(await self._run(write))
        if open_incidents:
            for model, found in report.findings.items():
                incident = await self._incidents.create_incident(
                    SOURCE,
                    "ml_model",
                    model,
                    Severity.LOW,
                    f"Rollback drill: {model} could not be healed",
                    str(found["detail"]),
                    {"finding": found["kind"]},
                    dedup_key=f"{SOURCE}:{model}:{found['kind']}",
                )
                report.incidents.append(incident.id)
        return report
