"""The guide's "verify rollback success", past the playbook's own step 4 (the restored
version is in PRODUCTION): over a verification window after a successful rollback, the
restored version's snapshots must be healthy.

When the window has passed, the rollback check of the production version over it decides:

- ``verified``: snapshots, and no trigger fired;
- ``failed``: a trigger fired: the incident escalates to CRITICAL (which pages again);
- ``unverified``: no snapshot in the window: not a success, said so on the incident;
- ``superseded``: production is no longer the restored version (someone moved it).

The verdict goes into the run's ``result.verification``, onto the incident's timeline and
into a ``remediation.rollback_verified`` event.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.events import Event, EventType
from grace.domain.records import PlaybookExecution
from grace.domain.severity import Severity
from grace.domain.timeutil import isoformat
from grace.errors import GraceError
from grace.services.follower import EventFollower
from grace.services.incident_registry import IncidentRegistry
from grace.services.remediation.admission import SOURCE, note, run_event
from grace.services.remediation.windows import RollbackCheck
from grace.services.runner import Runner

__all__ = ["Verification"]

log = logging.getLogger("grace.remediation")


class Verification:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        run: Runner,
        follower: EventFollower,
        incidents: IncidentRegistry,
        check: RollbackCheck,
        window: timedelta,
    ) -> None:
        self._store = store
        self._clock = clock
        self._run = run
        self._follower = follower
        self._incidents = incidents
        self._check = check
        self.window = window

    async def verify_due(self) -> list[PlaybookExecution]:
        """Judge every rollback whose window has passed; the server calls this."""
        judged: list[PlaybookExecution] = []
        for run in await self._run(self._due):
            try:
                claimed = await self._run(self._claim, run)
                if claimed:
                    judged.append(await self._judge(run))
            except GraceError:
                log.exception("could not verify playbook run %s", run.id)
        return judged

    def _due(self) -> list[PlaybookExecution]:
        with self._store.read() as s:
            return s.verifications_due(self._clock.now())

    def _claim(self, run: PlaybookExecution) -> bool:
        with self._store.write() as s:
            return s.claim_verification(run.id, self._clock.now())

    async def _judge(self, run: PlaybookExecution) -> PlaybookExecution:
        minutes = max(1, math.ceil(self.window.total_seconds() / 60))
        restored = run.result.get("to_version")
        check = await self._check(run.resource_id, minutes, auto_remediate=False)
        if check["version"] != restored:
            status = "superseded"
            message = f"production is now {check['version']}, not the restored {restored}"
        elif check["snapshot_count"] == 0:
            status = "unverified"
            message = (
                f"no snapshot of the restored version {restored} in the {minutes}-minute "
                "verification window: the rollback is unverified, not a success"
            )
        elif check["should_rollback"]:
            status = "failed"
            message = f"the restored version {restored} fails too: " + "; ".join(check["reasons"])
        else:
            status = "verified"
            message = (
                f"the restored version {restored} was healthy over the {minutes}-minute "
                f"verification window ({check['snapshot_count']} snapshots)"
            )
        verification: dict[str, Any] = {
            "status": status,
            "message": message,
            "checked_at": isoformat(self._clock.now()),
            "snapshot_count": check["snapshot_count"],
            "window_minutes": minutes,
        }
        done, events = await self._run(self._record, run, verification)
        await self._follower.announce(events)
        incident_id = run.context.get("incident_id")
        if status == "failed" and isinstance(incident_id, int):
            await self._incidents.escalate(
                incident_id,
                Severity.CRITICAL,
                reason=f"rollback verification failed: {message}",
                actor=SOURCE,
            )
        return done

    def _record(
        self, run: PlaybookExecution, verification: Mapping[str, Any]
    ) -> tuple[PlaybookExecution, list[Event]]:
        with self._store.write() as s:
            now = self._clock.now()
            result = {**run.result, "verification": dict(verification)}
            done = s.update_execution(run.id, result=result)
            kind = f"rollback_{verification['status']}"
            note(s, done, kind, str(verification["message"]), now, SOURCE)
            event = run_event(
                EventType.ROLLBACK_VERIFIED, done, now, verification=dict(verification)
            )
            return done, [s.append_event(event)]
