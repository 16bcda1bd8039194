"""The model registry: versions and stages, performance snapshots, rollback triggers, health.

The guide's flow starts here::

    snapshot -> stored with its monitoring event (one transaction)
             -> rollback triggers over the model's window (production version)
             -> fired: the remediation pipeline (grace.services.remediation): incident,
                self-healing when auto-remediation is on for the model, ops notified

Callbacks set with ``set_*_callback`` replace the built-in incident registry,
self-healing engine and event bus (grace.services.callbacks); each call is bounded by a timeout,
and a callback that raises or hangs is logged and recorded on the model's timeline
without losing the snapshot or stopping the rest of the flow.

What the guide awaits is a coroutine here; what it calls plainly is a plain
method.  Database work of coroutines goes through the Runner (grace.services.runner).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from grace.adapters.store import NewVersion, SnapshotTarget, SnapshotWrite, Store
from grace.clock import Clock
from grace.domain.events import Event, EventType
from grace.domain.health import classify_health
from grace.domain.history import production_version_at
from grace.domain.records import (
    ChangeCause,
    ModelEntry,
    ModelSettings,
    StageChange,
)
from grace.domain.snapshots import ModelPerformanceSnapshot, WindowStats, check_window_minutes
from grace.domain.stages import DeploymentStage, parse_stage
from grace.domain.timeutil import ensure_utc, isoformat
from grace.domain.triggers import (
    TriggerEvaluation,
    TriggerThresholds,
    check_threshold,
    evaluate_triggers,
)
from grace.domain.trust import INITIAL_TRUST
from grace.domain.validation import (
    MAX_REASON_LENGTH,
    check_bool,
    check_filter,
    check_identifier,
    check_optional_text,
)
from grace.domain.version_fields import check_version_fields
from grace.errors import (
    Conflict,
    GraceError,
    InvalidInput,
    ModelNotFound,
    NoProductionVersion,
    VersionNotFound,
)
from grace.services.callbacks import Callback, UserCallbacks
from grace.services.deployments import SOURCE, Deployments
from grace.services.fleet import FleetMonitor
from grace.services.follower import EventFollower
from grace.services.remediation import Remediation
from grace.services.results import (
    BatchItem,
    BatchResult,
    FleetHealth,
    HealthSummary,
    RollbackCheck,
    RollbackResult,
    SnapshotResult,
)
from grace.services.runner import Runner
from grace.services.snapshot_writer import SnapshotWriter

__all__ = [
    "DeploymentStage",
    "ModelEntry",
    "ModelPerformanceSnapshot",
    "ModelRegistry",
]

_PROD = DeploymentStage.PRODUCTION


class ModelRegistry:
    def __init__(
        self,
        store: Store,
        *,
        deployments: Deployments,
        clock: Clock,
        run: Runner,
        callbacks: UserCallbacks,
        follower: EventFollower,
        remediation: Remediation,
        default_thresholds: TriggerThresholds | None = None,
        default_window_minutes: int = 10,
        future_tolerance: timedelta = timedelta(minutes=5),
        inline_snapshots: bool = False,
    ) -> None:
        self._store = store
        self._run = run
        self._deployments = deployments
        self._clock = clock
        self._callbacks = callbacks
        self._follower = follower
        self._remediation = remediation
        self._defaults = default_thresholds or TriggerThresholds()
        self._default_window = default_window_minutes
        self._future_tolerance = future_tolerance
        self._fleet = FleetMonitor(
            store,
            clock=clock,
            run=run,
            defaults=self._defaults,
            default_window=self._default_window,
        )
        self._snapshots = SnapshotWriter(
            store, self._window_start, inline=inline_snapshots, run=self._run
        )

    # -- callbacks -----------------------------------------------------------------
    def set_incident_callback(self, callback: Callback | None) -> None:
        """Called with source, resource_type, resource_id, severity, title, description, context."""
        self._callbacks.incident = callback

    def set_monitoring_callback(self, callback: Callback | None) -> None:
        """Called with event_type, source, resource_id and data for every registry event."""
        self._callbacks.monitoring = callback

    def set_self_healing_callback(self, callback: Callback | None) -> None:
        """Called as ``callback(resource_type=, resource_id=, playbook=, context=)``."""
        self._callbacks.self_healing = callback

    # -- registration and reading ----------------------------------------------------------
    def register_model(
        self,
        model_id: str,
        version: str,
        *,
        name: str | None = None,
        description: str | None = None,
        owner: str | None = None,
        tags: Iterable[str] | None = None,
        artifact_uri: str | None = None,
        expected_latency_p95_ms: float | None = None,
        constitutional_compliance: bool = False,
        bias_check_passed: bool = False,
        calibration_error: float | None = None,
        stage: DeploymentStage | str = DeploymentStage.DEVELOPMENT,
        metadata: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> ModelEntry:
        """Register ``version`` of ``model_id``; raises VersionExists if it is already registered.

        Registering straight into PRODUCTION passes the governance gates and
        replaces the current production version, as a promotion does.
        """
        check_identifier("model_id", model_id)
        check_identifier("version", version)
        target = parse_stage(stage)
        if target is DeploymentStage.ROLLBACK:
            raise InvalidInput("stage", "a version cannot be registered in rollback")
        fields = check_version_fields(
            {
                "name": name,
                "description": description,
                "owner": owner,
                "tags": tags,
                "artifact_uri": artifact_uri,
                "expected_latency_p95_ms": expected_latency_p95_ms,
                "constitutional_compliance": constitutional_compliance,
                "bias_check_passed": bias_check_passed,
                "calibration_error": calibration_error,
                "metadata": metadata,
            }
        )
        initial = DeploymentStage.DEVELOPMENT if target is _PROD else target
        new = NewVersion(
            model_id=model_id,
            version=version,
            stage=initial,
            trust_score=INITIAL_TRUST,
            **fields,
        )
        with self._store.write() as s:
            now = self._clock.now()
            s.ensure_model(model_id, now)
            entry = s.insert_version(new, now)
            change = s.append_stage_change(
                model_id,
                version,
                None,
                initial,
                now,
                actor=actor,
                reason="registered",
                cause=ChangeCause.REGISTRATION,
            )
            events = [
                s.append_event(
                    Event.of(
                        EventType.MODEL_REGISTERED,
                        SOURCE,
                        model_id,
                        {"version": version, "stage": initial.value, "history_id": change.id},
                        now,
                    )
                )
            ]
            if target is _PROD:
                outcome = self._deployments.change_stage_in(
                    s, model_id, _PROD, version, reason="registered into production", actor=actor
                )
                entry = outcome.entry
                events.extend(outcome.events)
        self._follower.committed(events)
        return entry

    def get_model(self, model_id: str, version: str | None = None) -> ModelEntry:
        """That version, or without one the latest registered version."""
        check_identifier("model_id", model_id)
        with self._store.read() as s:
            if version is None:
                return s.latest_version(model_id)
            return s.get_version(model_id, check_identifier("version", version))

    def get_production_version(self, model_id: str) -> ModelEntry | None:
        with self._store.read() as s:
            return s.production_version(check_identifier("model_id", model_id))

    def list_models(
        self,
        stage: DeploymentStage | str | None = None,
        *,
        model_id: str | None = None,
        owner: str | None = None,
        tag: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> list[ModelEntry]:
        """Versions by model id then registration; page with ``after=(model_id, version)``."""
        wanted = parse_stage(stage) if stage is not None else None
        model_id = check_filter("model_id", model_id)
        owner = check_filter("owner", owner)
        tag = check_filter("tag", tag)
        with self._store.read() as s:
            return s.list_versions(
                model_id=model_id, stage=wanted, owner=owner, tag=tag, after=after, limit=limit
            )

    def update_model(
        self, model_id: str, version: str, *, actor: str | None = None, **changes: Any
    ) -> ModelEntry:
        """Change descriptive fields of a version (never its stage)."""
        fields = check_version_fields(changes)
        if not fields:
            raise InvalidInput("changes", "name at least one field to update")
        with self._store.write() as s:
            now = self._clock.now()
            entry = s.update_version(model_id, version, fields, now)
            data = {"version": version, "changed": sorted(fields), "actor": actor}
            event = s.append_event(Event.of(EventType.MODEL_UPDATED, SOURCE, model_id, data, now))
        self._follower.committed([event])
        return entry

    def update_deployment_status(
        self,
        model_id: str,
        stage: DeploymentStage | str,
        version: str | None = None,
        *,
        reason: str | None = None,
        actor: str | None = None,
        override_governance: bool = False,
    ) -> ModelEntry:
        """Move a version (the latest registered one when not named) to ``stage``.

        Promotion to PRODUCTION passes the governance gates (GovernanceRefused
        lists every failed gate) unless ``override_governance`` is given with a
        reason; the version it replaces moves to ARCHIVED in the same transaction.
        """
        check_identifier("model_id", model_id)
        if version is not None:
            check_identifier("version", version)
        check_optional_text("reason", reason)
        outcome = self._deployments.change_stage(
            model_id,
            parse_stage(stage),
            version,
            reason=reason,
            actor=actor,
            override_governance=check_bool("override_governance", override_governance),
        )
        self._follower.committed(outcome.events)
        return outcome.entry

    def get_stage_history(self, model_id: str) -> list[StageChange]:
        with self._store.read() as s:
            return s.stage_history(check_identifier("model_id", model_id))

    def production_version_at(self, model_id: str, at: datetime) -> str | None:
        """Which version was in production at instant ``at`` (naive means local time)."""
        return production_version_at(self.get_stage_history(model_id), ensure_utc(at))

    def get_timeline(
        self, model_id: str, *, before_seq: int | None = None, limit: int = 100
    ) -> list[Event]:
        """The model's events, newest first."""
        check_identifier("model_id", model_id)
        with self._store.read() as s:
            s.get_settings(model_id)  # raises ModelNotFound for an unknown model
            return s.list_events(resource_id=model_id, before_seq=before_seq or 2**62, limit=limit)

    # -- settings ----------------------------------------------------------------------
    def get_model_settings(self, model_id: str) -> ModelSettings:
        with self._store.read() as s:
            stored = s.get_settings(check_identifier("model_id", model_id))
        return ModelSettings.resolve(model_id, stored, self._defaults, self._default_window)

    def configure_model(
        self,
        model_id: str,
        *,
        auto_remediate: bool | None = None,
        window_minutes: int | None = None,
        thresholds: Mapping[str, float | int | None] | None = None,
        reset: Iterable[str] = (),
    ) -> ModelSettings:
        """Set per-model monitoring: auto-remediation, window and any trigger threshold.

        ``reset`` names settings to return to the service-wide default.
        """
        check_identifier("model_id", model_id)
        if auto_remediate is not None:
            check_bool("auto_remediate", auto_remediate)
        changes: dict[str, Any] = dict(thresholds or {})
        unknown = sorted(set(changes) - set(TriggerThresholds.names()))
        if unknown:
            raise InvalidInput(
                unknown[0], f"is not a threshold; known: {', '.join(TriggerThresholds.names())}"
            )
        for name, value in changes.items():  # each in range, also one that reset then drops
            if value is not None:
                check_threshold(name, value)
        if window_minutes is not None:
            changes["window_minutes"] = check_window_minutes(window_minutes)
        for name in reset:
            if name not in {*TriggerThresholds.names(), "window_minutes"}:
                raise InvalidInput("reset", f"{name!r} is not a setting")
            changes[name] = None
        with self._store.write() as s:
            now = self._clock.now()
            current = s.get_settings(model_id)
            merged = {**current.overrides, **changes}
            # Validate the combination before storing anything (e.g. warning <= critical).
            ModelSettings.resolve(
                model_id,
                type(current)(
                    current.auto_remediate, {k: v for k, v in merged.items() if v is not None}
                ),
                self._defaults,
                self._default_window,
            )
            stored = s.save_settings(
                model_id, auto_remediate=auto_remediate, overrides=changes, at=now
            )
            data = {"auto_remediate": stored.auto_remediate, "overrides": dict(stored.overrides)}
            event = s.append_event(
                Event.of(EventType.MODEL_SETTINGS_CHANGED, SOURCE, model_id, data, now)
            )
        self._follower.committed([event])
        return ModelSettings.resolve(model_id, stored, self._defaults, self._default_window)

    # -- snapshots and triggers ------------------------------------------------------------
    async def record_performance_snapshot(
        self, snapshot: ModelPerformanceSnapshot
    ) -> SnapshotResult:
        """Store a snapshot, emit its monitoring event, check triggers and act on them.

        Only snapshots of the production version are judged; any registered
        version may be recorded.  Bad input raises InvalidInput and stores nothing.
        """
        if not isinstance(snapshot, ModelPerformanceSnapshot):
            raise InvalidInput("snapshot", "must be a ModelPerformanceSnapshot")
        now = self._clock.now()
        snapshot.check_not_in_future(now, self._future_tolerance)
        recorded = await self._snapshots.record(SnapshotWrite(snapshot, now))
        snapshot_id = recorded.snapshot_id
        settings = ModelSettings.resolve(
            snapshot.model_id, recorded.target.settings, self._defaults, self._default_window
        )
        evaluation = None
        if recorded.stats is not None:
            evaluation = evaluate_triggers(
                recorded.stats, settings.thresholds, recorded.target.expected_latency_p95_ms
            )
        await self._follower.announce([recorded.event])
        if evaluation is None:
            return SnapshotResult(
                snapshot_id, snapshot.model_id, snapshot.version, judged=False, check=None
            )
        check = await self._verdict(
            snapshot.model_id,
            snapshot.version,
            evaluation,
            settings.window_minutes,
            remediate=settings.auto_remediate,
        )
        return SnapshotResult(
            snapshot_id, snapshot.model_id, snapshot.version, judged=True, check=check
        )

    def _window_start(self, target: SnapshotTarget, recorded_at: datetime) -> datetime | None:
        """Where a snapshot's window starts: only the production version is judged."""
        if target.stage is not _PROD:
            return None
        return recorded_at - timedelta(minutes=target.settings.window_minutes(self._default_window))

    def _evaluate(
        self, model_id: str, window_minutes: int, version: str | None
    ) -> tuple[ModelEntry, TriggerEvaluation]:
        """Judge ``version`` (the production version when None) over the window."""
        with self._store.read() as s:
            if version is None:
                found = s.production_version(model_id)
                if found is None:
                    raise NoProductionVersion(model_id)
                entry, stored = found, s.get_settings(model_id)
            else:
                entry, stored = s.get_version_with_settings(model_id, version)
            settings = ModelSettings.resolve(model_id, stored, self._defaults, self._default_window)
            stats = s.window_stats(
                model_id, entry.version, self._clock.now() - timedelta(minutes=window_minutes)
            )
        return entry, evaluate_triggers(stats, settings.thresholds, entry.expected_latency_p95_ms)

    @staticmethod
    def _check_result(
        model_id: str,
        version: str,
        evaluation: TriggerEvaluation,
        window_minutes: int,
        auto_remediate: bool,
    ) -> RollbackCheck:
        severity = evaluation.severity
        return RollbackCheck(
            model_id=model_id,
            should_rollback=evaluation.should_rollback,
            reasons=evaluation.reasons,
            window_minutes=window_minutes,
            auto_remediate=auto_remediate,
            version=version,
            severity=severity.value if severity else None,
            snapshot_count=evaluation.stats.snapshot_count,
            metrics=evaluation.stats.to_metrics(),
            conditions=[c.to_dict() for c in evaluation.conditions],
            incident_id=None,
            remediation=None,
        )

    async def record_performance_snapshots(
        self, batch: Sequence[ModelPerformanceSnapshot]
    ) -> BatchResult:
        """Record many snapshots in one transaction; each is stored or refused on its own.

        Triggers are then checked once per production version the batch touched,
        over its window as it stands after the whole batch, and acted on as for a
        single snapshot.  A refusal (unknown model or version, a timestamp in the
        future) names the field and stores nothing for that item.
        """
        now = self._clock.now()
        outcomes: list[GraceError | None] = [None] * len(batch)
        for index, snapshot in enumerate(batch):
            if not isinstance(snapshot, ModelPerformanceSnapshot):
                outcomes[index] = InvalidInput("snapshot", "must be a ModelPerformanceSnapshot")
                continue
            try:
                snapshot.check_not_in_future(now, self._future_tolerance)
            except InvalidInput as exc:
                outcomes[index] = exc
        stored = await self._run(self._store_batch, batch, outcomes, now)
        ids, settings_of, events, evaluations = stored
        await self._follower.announce(events)
        checks: list[RollbackCheck] = []
        for (model_id, version), evaluation in evaluations.items():
            settings = settings_of[(model_id, version)]
            checks.append(
                await self._verdict(
                    model_id,
                    version,
                    evaluation,
                    settings.window_minutes,
                    remediate=settings.auto_remediate,
                )
            )
        items = [BatchItem(index, ids.get(index), outcomes[index]) for index in range(len(batch))]
        return BatchResult(items, checks)

    def _store_batch(
        self,
        batch: Sequence[ModelPerformanceSnapshot],
        outcomes: list[GraceError | None],
        now: datetime,
    ) -> tuple[
        dict[int, int],
        dict[tuple[str, str], ModelSettings],
        list[Event],
        dict[tuple[str, str], TriggerEvaluation],
    ]:
        with self._store.write() as s:
            positions: dict[tuple[str, str], list[int]] = {}
            for i, b in enumerate(batch):
                if outcomes[i] is None:
                    positions.setdefault((b.model_id, b.version), []).append(i)
            targets = s.snapshot_targets(positions)
            for model_id, version in sorted(set(positions) - set(targets)):
                problem: GraceError = VersionNotFound(model_id, version)
                try:
                    s.get_settings(model_id)
                except ModelNotFound as missing:
                    problem = missing
                for i in positions[(model_id, version)]:
                    outcomes[i] = problem
            accepted = [i for i in range(len(batch)) if outcomes[i] is None]
            events = s.insert_snapshots([SnapshotWrite(batch[i], now) for i in accepted])
            ids = [e.seq or 0 for e in events]
            settings_of = {
                pair: ModelSettings.resolve(
                    pair[0], t.settings, self._defaults, self._default_window
                )
                for pair, t in targets.items()
            }
            judged = [p for p, t in targets.items() if t.stage is _PROD]
            by_window: dict[int, list[tuple[str, str]]] = {}
            for pair in judged:
                by_window.setdefault(settings_of[pair].window_minutes, []).append(pair)
            evaluations: dict[tuple[str, str], TriggerEvaluation] = {}
            for window, pairs in by_window.items():
                stats = s.window_stats_many(pairs, now - timedelta(minutes=window))
                for pair in pairs:
                    evaluations[pair] = evaluate_triggers(
                        stats[pair],
                        settings_of[pair].thresholds,
                        targets[pair].expected_latency_p95_ms,
                    )
        return dict(zip(accepted, ids, strict=True)), settings_of, events, evaluations

    async def check_rollback_triggers(
        self,
        model_id: str,
        window_minutes: int = 10,
        auto_remediate: bool = False,
        *,
        version: str | None = None,
    ) -> RollbackCheck:
        """The guide's rollback check.  ``auto_remediate=False`` is a dry run with no effect.

        With ``auto_remediate=True`` and triggers fired: a HIGH incident, the
        ``model_rollback`` playbook (which sets ROLLBACK and restores the last
        stable version), then the ops team is notified.
        """
        check_identifier("model_id", model_id)
        window = check_window_minutes(window_minutes)
        act = check_bool("auto_remediate", auto_remediate)
        if version is not None:
            check_identifier("version", version)
        entry, evaluation = await self._run(self._evaluate, model_id, window, version)
        if not act:  # a dry run
            return self._check_result(entry.model_id, entry.version, evaluation, window, act)
        if evaluation.should_rollback and entry.status is not _PROD:
            raise Conflict(
                f"version {entry.version!r} of {model_id!r} is in {entry.status.value}, "
                "not production; only the production version can be remediated"
            )
        return await self._verdict(
            entry.model_id, entry.version, evaluation, window, remediate=True, entry=entry
        )

    async def _verdict(
        self,
        model_id: str,
        version: str,
        evaluation: TriggerEvaluation,
        window_minutes: int,
        *,
        remediate: bool,
        entry: ModelEntry | None = None,
    ) -> RollbackCheck:
        """The check result of a judged version; fired triggers go to the remediation
        pipeline (whatever judged them: a snapshot, a batch, the rollback check)."""
        check = self._check_result(model_id, version, evaluation, window_minutes, remediate)
        if evaluation.should_rollback:
            if entry is None:
                entry = await self._run(self.get_model, model_id, version)
            action = await self._remediation.act(entry, evaluation, window_minutes, remediate)
            check["incident_id"] = action.incident_id
            check["remediation"] = action.remediation
        return check

    def get_model_health_summary(
        self, model_id: str, window_minutes: int | None = None
    ) -> HealthSummary:
        """The guide's health summary of the production version over the model's window."""
        check_identifier("model_id", model_id)
        window = (
            check_window_minutes(window_minutes)
            if window_minutes is not None
            else self.get_model_settings(model_id).window_minutes
        )
        entry, evaluation = self._evaluate(model_id, window, None)
        severity = evaluation.severity
        return HealthSummary(
            model_id=model_id,
            version=entry.version,
            status=entry.status.value,
            deployed_at=isoformat(entry.deployed_at),
            health_status=classify_health(evaluation).value,
            metrics=evaluation.stats.to_metrics(),
            window_minutes=window,
            severity=severity.value if severity else None,
            reasons=evaluation.reasons,
            trust_score=entry.trust_score,
        )

    async def monitor_production_models(self, window_minutes: int = 10) -> FleetHealth:
        """Judge every production model over the window (grace.services.fleet)."""
        return await self._fleet.monitor(window_minutes)

    async def rollback(
        self,
        model_id: str,
        reason: str,
        target_version: str | None = None,
        *,
        actor: str | None = None,
    ) -> RollbackResult:
        """Roll production back to ``target_version``, or to the previous stable version."""
        check_identifier("model_id", model_id)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("reason", "must be a non-empty string")
        check_optional_text("reason", reason, MAX_REASON_LENGTH)
        if target_version is not None:
            check_identifier("target_version", target_version)
        outcome = await self._run(
            lambda: self._deployments.rollback(
                model_id, reason=reason, target_version=target_version, actor=actor
            )
        )
        await self._follower.announce(outcome.events)
        return RollbackResult(
            status="rolled_back",
            model_id=model_id,
            reason=reason,
            target_version=outcome.to_version,
            from_version=outcome.from_version,
        )

    def window_stats(self, model_id: str, version: str, window_minutes: int = 10) -> WindowStats:
        """Raw window aggregates of one version (for dashboards and tests)."""
        window = check_window_minutes(window_minutes)
        with self._store.read() as s:
            return s.window_stats(model_id, version, self._clock.now() - timedelta(minutes=window))
