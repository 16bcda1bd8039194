"""Incidents that close themselves: a degradation incident resolves once the model's
production version (the restored one, after a rollback) has been healthy for a while.

Healthy for ``healthy_for`` means: nothing recurred on the incident for that long, and the
guide's rollback check of the production version over that span finds snapshots and fires
no trigger.  The resolve is an ordinary one (actor ``grace``), so its event reaches
whatever the opening reached (alerts resolve there too).
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.records import Incident, IncidentStatus
from grace.domain.remediation import RESOURCE_TYPE
from grace.errors import GraceError
from grace.services.incident_registry import IncidentRegistry
from grace.services.remediation.windows import RollbackCheck
from grace.services.runner import Runner

__all__ = ["Recovery"]

log = logging.getLogger("grace.remediation")

ACTOR = "grace"
_DEGRADATION = ":degradation"


class Recovery:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        run: Runner,
        incidents: IncidentRegistry,
        check: RollbackCheck,
        healthy_for: timedelta,
    ) -> None:
        self._store = store
        self._clock = clock
        self._run = run
        self._incidents = incidents
        self._check = check
        self.healthy_for = healthy_for

    def _candidates(self) -> list[Incident]:
        """Unresolved degradation incidents of models quiet for ``healthy_for``."""
        quiet_since = self._clock.now() - self.healthy_for
        found: list[Incident] = []
        with self._store.read() as s:
            for status in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED):
                found += [
                    i
                    for i in s.list_incidents(status=status, limit=1000)
                    if i.resource_type == RESOURCE_TYPE
                    and i.dedup_key.endswith(_DEGRADATION)
                    and i.last_seen_at <= quiet_since
                ]
        return found

    async def resolve_recovered(self) -> list[Incident]:
        """Resolve every incident whose model recovered; the server calls this."""
        if self.healthy_for <= timedelta(0):
            return []
        minutes = max(1, math.ceil(self.healthy_for.total_seconds() / 60))
        resolved: list[Incident] = []
        checked: dict[str, str | None] = {}  # model -> its healthy production version
        for incident in await self._run(self._candidates):
            model = incident.resource_id
            try:
                if model not in checked:
                    check = await self._check(model, minutes, auto_remediate=False)
                    healthy = check["snapshot_count"] > 0 and not check["should_rollback"]
                    checked[model] = str(check["version"]) if healthy else None
                version = checked[model]
                if version is None:
                    continue
                note = (
                    f"resolved automatically: production version {version} of {model} "
                    f"healthy for {minutes} minutes (snapshots, no trigger fired)"
                )
                resolved.append(await self._incidents.resolve(incident.id, actor=ACTOR, note=note))
            except GraceError as exc:  # no production version, resolved meanwhile, ...
                log.debug("incident %s not resolved automatically: %s", incident.id, exc)
        return resolved
