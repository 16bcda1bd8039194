"""Trust kept up to date (grace.domain.trust): healthy time in production raises a
version's score, hour by hour; the incidents the remediation pipeline opens and the
rollbacks the playbook makes lower it (they call the domain rules themselves)."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.trust import trust_after_healthy_hours
from grace.errors import GraceError
from grace.services.remediation.windows import RollbackCheck
from grace.services.runner import Runner

__all__ = ["TrustKeeper"]

log = logging.getLogger("grace.trust")

_HOUR = timedelta(hours=1)
_MAX_HOURS = 24  # at most a day is judged at once (the rollback check's window limit)


class TrustKeeper:
    def __init__(self, store: Store, *, clock: Clock, run: Runner, check: RollbackCheck) -> None:
        self._store = store
        self._clock = clock
        self._run = run
        self._check = check

    def _production(self) -> list[tuple[str, str]]:
        with self._store.read() as s:
            return sorted({(m.model_id, m.version) for m in s.fleet_stats(self._clock.now())})

    async def credit_healthy(self) -> dict[str, float]:
        """Credit every production version its full healthy hours since the last credit;
        the server calls this.  Returns the new scores of the versions credited."""
        credited: dict[str, float] = {}
        for model, version in await self._run(self._production):
            try:
                score = await self._credit(model, version)
            except GraceError as exc:  # moved out of production meanwhile, ...
                log.debug("no trust credit for %s %s: %s", model, version, exc)
                continue
            if score is not None:
                credited[model] = score
        return credited

    async def _credit(self, model: str, version: str) -> float | None:
        now = self._clock.now()
        since = await self._run(self._since, model, version)
        if since is None:  # the clock starts now
            await self._run(self._set, model, version, None, now, None)
            return None
        hours = min(_MAX_HOURS, math.floor((now - since) / _HOUR))
        if hours < 1:
            return None
        check = await self._check(model, hours * 60, auto_remediate=False)
        healthy = (
            check["version"] == version
            and check["snapshot_count"] > 0
            and not check["should_rollback"]
        )
        if not healthy:  # no credit for the span; count again from now
            await self._run(self._set, model, version, None, now, since)
            return None
        return await self._run(self._set, model, version, hours, since + hours * _HOUR, since)

    def _since(self, model: str, version: str) -> datetime | None:
        with self._store.read() as s:
            return s.trust_credited_at(model, version)

    def _set(
        self,
        model: str,
        version: str,
        hours: int | None,
        at: datetime,
        since: datetime | None,
    ) -> float | None:
        """Credit ``hours`` (or none) and move the credit time to ``at``, unless another
        process moved it from ``since`` meanwhile (then it credited these hours)."""
        with self._store.write() as s:
            s.lock_model(model)  # one credit at a time, across processes
            if s.trust_credited_at(model, version) != since:
                return None
            entry = s.get_version(model, version)
            score = entry.trust_score
            if hours is not None:
                score = trust_after_healthy_hours(score, hours)
            now = self._clock.now()
            s.set_trust(model, version, score, credited_at=at, at=now)
            return score if hours is not None else None
