"""Stage changes and rollbacks, each one database transaction.

Used by the model registry (promotion, manual rollback) and by the
``model_rollback`` playbook (automatic rollback), so the rules of moving a
version in and out of production exist once.  Every change is written to the
append-only stage history and the event log in the same transaction; the
events are returned for fan-out after commit.  Synchronous on purpose: async
callers run these in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from grace.adapters.store import Store, StoreSession
from grace.clock import Clock
from grace.domain.events import REGISTRY_SOURCE, Event, EventType
from grace.domain.governance import failed_gates
from grace.domain.history import needs_requalification, previous_stable_version
from grace.domain.records import ChangeCause, ModelEntry
from grace.domain.stages import DeploymentStage, is_allowed
from grace.domain.trust import trust_gate
from grace.errors import (
    ConcurrentChange,
    GovernanceRefused,
    InvalidInput,
    InvalidTransition,
    NoProductionVersion,
    NoStableVersion,
)

__all__ = ["Deployments", "RollbackOutcome", "StageOutcome"]

SOURCE = REGISTRY_SOURCE
_PROD = DeploymentStage.PRODUCTION
_LATCHED = "it was rolled back and has not been re-qualified (development, staging or canary)"


@dataclass(frozen=True, slots=True)
class StageOutcome:
    entry: ModelEntry
    replaced: ModelEntry | None
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class RollbackOutcome:
    model_id: str
    from_version: str
    to_version: str
    reason: str
    rolled_back: ModelEntry
    restored: ModelEntry
    events: tuple[Event, ...]


class Deployments:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    # -- stage changes ------------------------------------------------------------
    def change_stage(
        self,
        model_id: str,
        stage: DeploymentStage,
        version: str | None = None,
        *,
        reason: str | None = None,
        actor: str | None = None,
        override_governance: bool = False,
    ) -> StageOutcome:
        with self._store.write() as s:
            return self.change_stage_in(
                s,
                model_id,
                stage,
                version,
                reason=reason,
                actor=actor,
                override_governance=override_governance,
            )

    def change_stage_in(
        self,
        s: StoreSession,
        model_id: str,
        stage: DeploymentStage,
        version: str | None = None,
        *,
        reason: str | None = None,
        actor: str | None = None,
        override_governance: bool = False,
    ) -> StageOutcome:
        """The rule of a manual stage change, inside the caller's transaction."""
        s.lock_model(model_id)
        entry = s.get_version(model_id, version) if version else s.latest_version(model_id)
        if entry.status is stage or not is_allowed(entry.status, stage):
            raise InvalidTransition(model_id, entry.version, entry.status.value, stage.value)
        cause = ChangeCause.MANUAL
        if stage is _PROD and needs_requalification(
            s.stage_history(model_id, version=entry.version), entry.version
        ):
            raise InvalidTransition(
                model_id, entry.version, entry.status.value, stage.value, _LATCHED
            )
        if stage is _PROD:
            # Full trust passes any minimum: read the model's only when it could fail.
            minimum = (
                s.get_remediation_policy(model_id).min_trust if entry.trust_score < 1.0 else None
            )
            gates = failed_gates(entry.governance) + trust_gate(entry.trust_score, minimum)
            if gates and not override_governance:
                raise GovernanceRefused(model_id, entry.version, gates)
            if override_governance:
                if not reason:
                    raise InvalidInput("reason", "is required when overriding governance")
                if gates:
                    cause = ChangeCause.GOVERNANCE_OVERRIDE
                    reason = f"{reason} [overrode: {'; '.join(gates)}]"
        events: list[Event] = []
        replaced = None
        if stage is _PROD:
            current = s.production_version(model_id)
            if current is not None:
                replaced = self._move(
                    s,
                    current,
                    DeploymentStage.ARCHIVED,
                    actor=actor,
                    reason=f"replaced by {entry.version}",
                    cause=ChangeCause.REPLACED,
                    events=events,
                )
        moved = self._move(s, entry, stage, actor=actor, reason=reason, cause=cause, events=events)
        return StageOutcome(moved, replaced, tuple(events))

    def _move(
        self,
        s: StoreSession,
        entry: ModelEntry,
        stage: DeploymentStage,
        *,
        actor: str | None,
        reason: str | None,
        cause: ChangeCause,
        events: list[Event],
    ) -> ModelEntry:
        now = self._clock.now()
        moved = s.set_stage(entry.model_id, entry.version, stage, now)
        change = s.append_stage_change(
            entry.model_id,
            entry.version,
            entry.status,
            stage,
            now,
            actor=actor,
            reason=reason,
            cause=cause,
        )
        events.append(
            s.append_event(
                Event.of(EventType.STAGE_CHANGED, SOURCE, entry.model_id, change.to_dict(), now)
            )
        )
        return moved

    # -- rollback -----------------------------------------------------------------
    def rollback(
        self,
        model_id: str,
        *,
        reason: str,
        target_version: str | None = None,
        expected_current: str | None = None,
        cause: ChangeCause = ChangeCause.MANUAL_ROLLBACK,
        actor: str | None = None,
        incident_id: int | None = None,
    ) -> RollbackOutcome:
        """Move the production version to ROLLBACK and restore ``target_version``.

        Without a target, the previous stable version is restored: the latest
        other version that was in production and was never rolled back.  With
        ``expected_current``, refuse if production has meanwhile changed, so two
        remediations of one incident cannot both act.
        """
        with self._store.write() as s:
            s.lock_model(model_id)
            current = s.production_version(model_id)
            if current is None:
                raise NoProductionVersion(model_id)
            if expected_current is not None and current.version != expected_current:
                raise ConcurrentChange(
                    f"model {model_id!r} now has {current.version!r} in production, not "
                    f"{expected_current!r}; nothing was rolled back"
                )
            target = self._rollback_target(s, current, target_version)
            events: list[Event] = []
            rolled_back = self._move(
                s,
                current,
                DeploymentStage.ROLLBACK,
                actor=actor,
                reason=reason,
                cause=cause,
                events=events,
            )
            restored = self._move(
                s,
                target,
                _PROD,
                actor=actor,
                reason=f"restored: {reason}",
                cause=cause,
                events=events,
            )
            events.append(
                s.append_event(
                    Event.of(
                        EventType.ROLLED_BACK,
                        SOURCE,
                        model_id,
                        {
                            "from_version": current.version,
                            "to_version": target.version,
                            "reason": reason,
                            "cause": cause.value,
                            "actor": actor,
                            "incident_id": incident_id,
                        },
                        self._clock.now(),
                    )
                )
            )
        return RollbackOutcome(
            model_id, current.version, target.version, reason, rolled_back, restored, tuple(events)
        )

    def _rollback_target(
        self, s: StoreSession, current: ModelEntry, target_version: str | None
    ) -> ModelEntry:
        model_id = current.model_id
        if target_version is None:
            found = previous_stable_version(s.stage_history(model_id), current.version)
            if found is None:
                raise NoStableVersion(
                    f"model {model_id!r} has no earlier version that was in production and "
                    "was not itself rolled back"
                )
            return s.get_version(model_id, found)
        target = s.get_version(model_id, target_version)
        if target.version == current.version:
            raise NoStableVersion(
                f"version {target_version!r} is the current production version of {model_id!r}"
            )
        if needs_requalification(s.stage_history(model_id, version=target.version), target.version):
            raise NoStableVersion(f"version {target_version!r} of {model_id!r} {_LATCHED}")
        return target

    def find_previous_stable(self, model_id: str) -> tuple[ModelEntry, ModelEntry]:
        """(current production version, the version a rollback would restore)."""
        with self._store.read() as s:
            return self.previous_stable_in(s, model_id)

    def previous_stable_in(self, s: StoreSession, model_id: str) -> tuple[ModelEntry, ModelEntry]:
        """:meth:`find_previous_stable` inside the caller's transaction."""
        current = s.production_version(model_id)
        if current is None:
            raise NoProductionVersion(model_id)
        return current, self._rollback_target(s, current, None)
