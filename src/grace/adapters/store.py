"""The storage contract: everything Grace persists goes through :class:`Store`.

A :class:`Store` hands out sessions, each one database transaction.  ``write()``
commits when the block ends normally and rolls back when it raises; ``read()``
never writes.  The service layer opens sessions; routes and callbacks never do.

Invariants the implementation must enforce in the database, not only here:
one PRODUCTION version per model (a concurrent promotion fails with
:class:`~grace.errors.ConcurrentChange` rather than leaving two), one open
incident per dedup key, append-only stage history and event log.

The event log is one sequence of positions (``seq``) shared by two kinds of row: events
appended with :meth:`StoreSession.append_event`, and stored snapshots, each of which stands
in for its own ``model.performance_snapshot`` event (a snapshot's id is its event's seq, and
the event is rebuilt from the row with
:meth:`~grace.domain.snapshots.ModelPerformanceSnapshot.monitoring_event`).  Positions are
handed out in commit order, so a reader following the log by seq never skips one.

Sessions return the typed records of :mod:`grace.domain.records`, never rows.
Every method that names a model raises :class:`~grace.errors.ModelNotFound`
when the model is not registered; every method that names a version raises
:class:`~grace.errors.VersionNotFound` when the model lacks it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from grace.domain.delivery import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Subscription,
    SubscriptionKind,
)
from grace.domain.events import Event, new_event_id
from grace.domain.guardrails import MaintenanceWindow, OnWindowEnd, RemediationPolicy
from grace.domain.incident_stats import IncidentTimes
from grace.domain.records import (
    ChangeCause,
    ExecutionStatus,
    Incident,
    IncidentStatus,
    ModelEntry,
    PlaybookExecution,
    StageChange,
    StepRecord,
    StoredSettings,
    TimelineEntry,
)
from grace.domain.severity import Severity
from grace.domain.snapshots import ModelPerformanceSnapshot, WindowStats
from grace.domain.stages import DeploymentStage
from grace.domain.tokens import ApiToken, Scope
from grace.errors import GraceError

__all__ = [
    "AttemptResult",
    "FleetMember",
    "NewIncident",
    "NewVersion",
    "RecordedSnapshot",
    "RunningExecution",
    "SnapshotTarget",
    "SnapshotWrite",
    "Store",
    "StoreBusy",
    "StoreSession",
    "WindowStart",
]

MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What ``insert_version`` needs; the store stamps the times."""

    model_id: str
    version: str
    stage: DeploymentStage
    name: str | None
    description: str | None
    owner: str | None
    tags: tuple[str, ...]
    artifact_uri: str | None
    expected_latency_p95_ms: float | None
    constitutional_compliance: bool
    bias_check_passed: bool
    calibration_error: float | None
    trust_score: float
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NewIncident:
    source: str
    resource_type: str
    resource_id: str
    severity: Severity
    title: str
    description: str
    context: Mapping[str, Any]
    dedup_key: str
    recurrence_of: int | None = None
    runbook_url: str | None = None


@dataclass(frozen=True, slots=True)
class SnapshotTarget:
    """What the snapshot path needs to know about the version a snapshot is for."""

    stage: DeploymentStage
    expected_latency_p95_ms: float | None
    settings: StoredSettings


@dataclass(frozen=True, slots=True)
class SnapshotWrite:
    """One snapshot to record at ``recorded_at``, with the id its monitoring event gets."""

    snapshot: ModelPerformanceSnapshot
    recorded_at: datetime
    event_id: str = field(default_factory=new_event_id)

    def event(self, seq: int | None = None) -> Event:
        """The snapshot's monitoring event (at log position ``seq`` once stored)."""
        return self.snapshot.monitoring_event(self.recorded_at, self.event_id, seq)


@dataclass(frozen=True, slots=True)
class RecordedSnapshot:
    """A recorded snapshot: its id (its event's log position), its version's target, the
    window it completes (None when the window rule judged the version not worth a window),
    and what was written."""

    snapshot_id: int
    target: SnapshotTarget
    stats: WindowStats | None
    write: SnapshotWrite

    @property
    def event(self) -> Event:
        """The stored monitoring event (built when asked: most callers never need it)."""
        return self.write.event(self.snapshot_id)


# When the window of a snapshot's version starts, or None when it is not judged.
WindowStart = Callable[[SnapshotTarget, datetime], datetime | None]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """One attempt of one delivery and what it leaves the delivery as."""

    delivery_id: int
    attempt: Attempt
    status: DeliveryStatus
    tries: int
    next_attempt_at: datetime


class StoreBusy(Exception):
    """The store could not write without waiting (``record_snapshots(wait=False)``);
    nothing was changed."""


@dataclass(frozen=True, slots=True)
class FleetMember:
    """One production version with its settings and window statistics, for the monitor."""

    model_id: str
    version: str
    expected_latency_p95_ms: float | None
    settings: StoredSettings
    stats: WindowStats


@dataclass(frozen=True, slots=True)
class RunningExecution:
    """A run marked running, with who runs it and when it last made progress."""

    execution: PlaybookExecution
    owner: str | None
    heartbeat_at: datetime


class StoreSession(Protocol):
    """One transaction's worth of operations."""

    # -- models and versions -------------------------------------------------
    def lock_model(self, model_id: str) -> None:
        """Serialise stage changes of ``model_id`` until the transaction ends."""

    def ensure_model(self, model_id: str, at: datetime) -> None:
        """Create the model row if it does not exist yet."""

    def insert_version(self, new: NewVersion, at: datetime) -> ModelEntry:
        """Store a new version; raises VersionExists when the model already has it."""

    def get_version(self, model_id: str, version: str) -> ModelEntry: ...

    def get_version_with_settings(
        self, model_id: str, version: str
    ) -> tuple[ModelEntry, StoredSettings]: ...

    def latest_version(self, model_id: str) -> ModelEntry:
        """The most recently registered version."""

    def production_version(self, model_id: str) -> ModelEntry | None: ...

    def list_versions(
        self,
        *,
        model_id: str | None = None,
        stage: DeploymentStage | None = None,
        owner: str | None = None,
        tag: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> list[ModelEntry]:
        """Versions ordered by (model_id, registration order); ``after`` is a keyset cursor."""

    def update_version(
        self, model_id: str, version: str, changes: Mapping[str, Any], at: datetime
    ) -> ModelEntry:
        """Set descriptive fields (never the stage) and return the new entry."""

    def set_stage(
        self, model_id: str, version: str, stage: DeploymentStage, at: datetime
    ) -> ModelEntry:
        """Move a version to ``stage``; raises ConcurrentChange if that breaks one-in-production."""

    def append_stage_change(
        self,
        model_id: str,
        version: str,
        from_stage: DeploymentStage | None,
        to_stage: DeploymentStage,
        at: datetime,
        *,
        actor: str | None,
        reason: str | None,
        cause: ChangeCause,
    ) -> StageChange: ...

    def stage_history(
        self, model_id: str, limit: int = 10_000, *, version: str | None = None
    ) -> list[StageChange]:
        """The model's stage changes (or one version's), oldest first."""

    def get_settings(self, model_id: str) -> StoredSettings: ...

    def save_settings(
        self,
        model_id: str,
        *,
        auto_remediate: bool | None,
        overrides: Mapping[str, Any],
        at: datetime,
    ) -> StoredSettings:
        """Set the given overrides (a None value clears one back to the default)."""

    # -- snapshots -------------------------------------------------------------
    def snapshot_target(self, model_id: str, version: str) -> SnapshotTarget:
        """The version's stage, latency SLO and model settings, in one lookup (the hot path)."""

    def snapshot_targets(
        self, pairs: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], SnapshotTarget]:
        """snapshot_target for many (model_id, version) pairs; unknown pairs are left out."""

    def insert_snapshot(self, snapshot: ModelPerformanceSnapshot, recorded_at: datetime) -> int:
        """Store a snapshot of a registered version, with its event; returns its id."""

    def insert_snapshots(self, writes: Sequence[SnapshotWrite]) -> list[Event]:
        """Store many snapshots of registered versions at once, each with its monitoring
        event; returns the stored events in order (each snapshot's id is its event's seq)."""

    def window_stats(self, model_id: str, version: str, since: datetime) -> WindowStats:
        """Aggregates of the version's snapshots with timestamp >= ``since``, computed in SQL."""

    def window_stats_many(
        self, pairs: Collection[tuple[str, str]], since: datetime
    ) -> dict[tuple[str, str], WindowStats]:
        """window_stats of several versions in one query."""

    def fleet_stats(self, since: datetime) -> list[FleetMember]:
        """Every production version with its window aggregates, in one query."""

    # -- events ----------------------------------------------------------------
    def append_event(self, event: Event) -> Event:
        """Append to the event log; returns the event with its ``seq``."""

    def append_events(self, batch: Sequence[Event]) -> list[Event]:
        """Append many events in order; returns them with their ``seq``."""

    def list_events(
        self,
        *,
        resource_id: str | None = None,
        event_types: Sequence[str] | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Events by ascending seq after ``after_seq``, or descending before ``before_seq``."""

    def events_at(self, seqs: Collection[int]) -> dict[int, Event]:
        """The events at these log positions (those that exist), by seq."""

    # -- subscriptions and deliveries (grace.domain.delivery) ------------------------------
    def trust_credited_at(self, model_id: str, version: str) -> datetime | None:
        """When healthy time was last credited to the version's trust score."""

    def set_trust(
        self,
        model_id: str,
        version: str,
        score: float,
        *,
        credited_at: datetime | None,
        at: datetime,
    ) -> ModelEntry:
        """Set the version's trust score (and, when given, when it was last credited)."""

    def models_with_tags(self, tags: Sequence[str]) -> frozenset[str]:
        """The models with a version bearing any of ``tags``."""

    def insert_subscription(
        self,
        kind: SubscriptionKind,
        url: str,
        *,
        secrets: Sequence[str],
        event_types: Sequence[str] | None,
        model_ids: Sequence[str] | None,
        dependent_name: str | None,
        cursor: int,
        at: datetime,
        min_severity: Severity | None = None,
        tags: Sequence[str] | None = None,
    ) -> Subscription: ...

    def get_subscription(self, subscription_id: int) -> Subscription:
        """Raises SubscriptionNotFound."""

    def list_subscriptions(
        self, *, dependents_of: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[Subscription]:
        """By id; ``dependents_of`` keeps the dependents of that model."""

    def delete_subscription(self, subscription_id: int) -> None:
        """With its deliveries and their attempts; raises SubscriptionNotFound."""

    def set_secrets(self, subscription_id: int, secrets: Sequence[str]) -> Subscription:
        """Sign with these, newest first; raises SubscriptionNotFound."""

    def disable_subscription(self, subscription_id: int, reason: str, at: datetime) -> None: ...

    def lease_subscriptions(self, owner: str, now: datetime, until: datetime) -> list[Subscription]:
        """Take or keep the lease of every active subscription nobody else holds; those the
        owner now holds."""

    def release_leases(self, owner: str) -> None: ...

    def derive_deliveries(
        self,
        old_cursors: Mapping[int, int],
        new_cursor: int,
        matching: Mapping[int, Sequence[Event]],
        at: datetime,
    ) -> set[int]:
        """Move each subscription's cursor from its old position (``old_cursors``) to
        ``new_cursor``, with the deliveries of its ``matching`` events; the ids whose cursor
        had moved meanwhile (nothing is written for those)."""

    def queue_deliveries(
        self, subscription_ids: Iterable[int], events: Sequence[Event], at: datetime
    ) -> None:
        """Deliveries of ``events`` to each subscription (one already there is kept)."""

    def open_deliveries(
        self, subscription_ids: Collection[int], now: datetime, limit: int
    ) -> tuple[list[Delivery], datetime | None]:
        """These subscriptions' pending deliveries that may go now, by seq (none of a
        subscription's model whose oldest pending delivery waits for its retry), and when the
        next retry is due."""

    def record_attempts(self, results: Sequence[AttemptResult]) -> None: ...

    def get_delivery(self, delivery_id: int) -> Delivery:
        """With its newest attempts; raises DeliveryNotFound."""

    def list_deliveries(
        self,
        *,
        subscription_id: int | None = None,
        status: DeliveryStatus | None = None,
        event_id: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Newest first."""

    def count_deliveries(self, subscription_id: int) -> dict[str, int]:
        """How many deliveries of the subscription are in each status."""

    def replay_delivery(self, delivery_id: int, at: datetime) -> Delivery:
        """A dead letter pending again (Conflict for any other)."""

    def replay_subscription(self, subscription_id: int, from_seq: int, at: datetime) -> int:
        """Deliver again every event from ``from_seq`` on; how many deliveries reopened."""

    # -- incidents ---------------------------------------------------------------
    def set_incident_paging(
        self,
        incident_id: int,
        *,
        paged_at: datetime | None = None,
        held_by: int | None = None,
        refreshed_at: datetime | None = None,
    ) -> None:
        """Record when the incident was paged, the window holding its page, or when its
        firing alert was last sent again (what is given)."""

    def incidents_to_refresh(self, before: datetime, limit: int = 1000) -> list[Incident]:
        """Paged, unresolved incidents whose alert was last sent (or refreshed) before
        ``before``, oldest first."""

    def incidents_held_by(self, window_id: int) -> list[Incident]:
        """Unresolved incidents whose page ``window_id`` holds, oldest first."""

    def last_resolved_incident(self, dedup_key: str) -> Incident | None:
        """The newest resolved incident with ``dedup_key``, without its timeline."""

    def incident_times(
        self, since: datetime, until: datetime, *, resource_id: str | None = None, limit: int
    ) -> list[IncidentTimes]:
        """The incidents opened in [since, until], oldest first, at most ``limit``."""

    def find_open_incident(self, dedup_key: str) -> Incident | None: ...

    def insert_incident(self, new: NewIncident, at: datetime) -> Incident:
        """Open an incident; raises ConcurrentChange if one is already open for the key."""

    def record_occurrence(
        self, incident_id: int, severity: Severity, context: Mapping[str, Any], at: datetime
    ) -> Incident:
        """Count another occurrence, raise the severity if higher, keep the latest context.

        Like insert_incident and set_incident_status, returns the incident without its timeline.
        """

    def set_incident_status(
        self, incident_id: int, status: IncidentStatus, actor: str | None, at: datetime
    ) -> Incident: ...

    def append_timeline(
        self,
        incident_id: int,
        at: datetime,
        kind: str,
        message: str,
        *,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> TimelineEntry: ...

    def get_incident(self, incident_id: int) -> Incident:
        """The incident with the newest MAX_PAGE_SIZE entries of its timeline, oldest first.

        Raises IncidentNotFound.
        """

    def list_incidents(
        self,
        *,
        resource_id: str | None = None,
        status: IncidentStatus | None = None,
        severity: Severity | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Incident]:
        """Newest first, without timelines."""

    # -- playbook executions -------------------------------------------------------
    def insert_execution(
        self,
        playbook: str,
        resource_type: str,
        resource_id: str,
        status: ExecutionStatus,
        context: Mapping[str, Any],
        at: datetime,
        *,
        error: str | None = None,
        owner: str | None = None,
        correlation_id: str | None = None,
        reason: str | None = None,
        window_id: int | None = None,
        expires_at: datetime | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> PlaybookExecution:
        """A new run; its heartbeat starts at ``at``.  ``correlation_id`` names whatever asked
        for it (a remediation), for ``find_execution``; ``reason`` why it did not act (held,
        refused, waiting for approval, a dry run), ``window_id`` the maintenance window that
        holds it, ``expires_at`` when an approval request lapses.  A run that is neither
        running, held nor waiting is finished at ``at``."""

    def find_execution(self, correlation_id: str) -> PlaybookExecution | None:
        """The newest run started with ``correlation_id``, if any."""

    def update_execution(
        self,
        execution_id: int,
        *,
        status: ExecutionStatus | None = None,
        steps: Sequence[StepRecord] | None = None,
        result: Mapping[str, Any] | None = None,
        error: str | None = None,
        finished_at: datetime | None = None,
        heartbeat_at: datetime | None = None,
        owner: str | None = None,
        reason: str | None = None,
        decided_by: str | None = None,
        decided_at: datetime | None = None,
        expected_status: ExecutionStatus | None = None,
    ) -> PlaybookExecution:
        """Change what is given; raises ExecutionNotFound, or ConcurrentChange when
        ``expected_status`` is given and the run is no longer in it."""

    def running_executions(
        self, *, resource_id: str | None = None, limit: int = MAX_PAGE_SIZE
    ) -> list[RunningExecution]:
        """Runs still marked running (of one resource, when given), oldest first."""

    def get_execution(self, execution_id: int) -> PlaybookExecution:
        """Raises ExecutionNotFound."""

    def list_executions(
        self,
        *,
        resource_id: str | None = None,
        playbook: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[PlaybookExecution]:
        """Newest first."""

    # -- API tokens ------------------------------------------------------------------------
    def insert_token(
        self, token_id: str, name: str, secret_hash: str, scopes: frozenset[Scope], at: datetime
    ) -> ApiToken: ...

    def get_token_secret(self, token_id: str) -> tuple[ApiToken, str] | None:
        """The token and its stored secret hash, or None for an unknown id."""

    def list_tokens(self, *, include_revoked: bool = False) -> list[ApiToken]: ...

    def revoke_token(self, token_id: str, at: datetime) -> ApiToken:
        """Revoke (idempotent); raises TokenNotFound."""

    def count_active_tokens(self) -> int: ...

    def token_active_since(self, at: datetime) -> bool:
        """Whether any token was active at some moment at or after ``at`` (it is still
        active, or was revoked at or after ``at``)."""

    def touch_token(self, token_id: str, at: datetime) -> None:
        """Record that the token was just used."""

    def last_execution(
        self,
        resource_id: str,
        playbook: str,
        statuses: Sequence[ExecutionStatus],
        since: datetime,
    ) -> PlaybookExecution | None:
        """The newest execution in one of ``statuses`` started at or after ``since``."""

    # -- guardrails: remediation policies, maintenance windows, counts -----------------------
    def get_remediation_policy(self, model_id: str) -> RemediationPolicy:
        """The model's policy (the defaults when none was set)."""

    def set_remediation_policy(
        self, model_id: str, changes: Mapping[str, Any], at: datetime
    ) -> RemediationPolicy:
        """Change the fields given (require_approval, dry_run, max_per_hour, runbook_url,
        breaker_opened_at, breaker_reason); None clears a field that may be empty."""

    def insert_window(
        self,
        model_id: str | None,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        on_end: OnWindowEnd,
        created_by: str | None,
        at: datetime,
    ) -> MaintenanceWindow: ...

    def get_window(self, window_id: int) -> MaintenanceWindow:
        """Raises WindowNotFound."""

    def list_windows(
        self,
        *,
        model_id: str | None = None,
        ending_after: datetime | None = None,
        include_removed: bool = False,
        limit: int = 100,
    ) -> list[MaintenanceWindow]:
        """By start; ``model_id`` keeps that model's windows and those of every model."""

    def remove_window(self, window_id: int, at: datetime) -> MaintenanceWindow:
        """Mark removed (idempotent; its row stays for the runs it held); WindowNotFound."""

    def window_covering(self, model_id: str, at: datetime) -> MaintenanceWindow | None:
        """The window in force for the model at ``at`` (the one ending last), if any."""

    def ended_windows(self, now: datetime, limit: int = 100) -> list[MaintenanceWindow]:
        """Ended or removed windows whose end is not yet acted on, oldest end first."""

    def release_window(self, window_id: int, at: datetime) -> bool:
        """Mark the window's end acted on; False if it already was."""

    def lock_remediations(self) -> None:
        """Serialise remediation decisions (across processes) until the transaction ends."""

    def count_remediations(
        self, playbooks: Sequence[str] | None, since: datetime, *, resource_id: str | None = None
    ) -> int:
        """Runs of ``playbooks`` (None: of any playbook) a remediation started (they carry a
        correlation id) that acted (running, succeeded, failed) since ``since``; of one model
        when given."""

    def remediation_outcomes(
        self, resource_id: str, playbooks: Sequence[str] | None, limit: int
    ) -> list[bool]:
        """Whether each of the model's last ``limit`` finished remediation runs (of
        ``playbooks``; None: of any) succeeded, newest first."""

    def schedule_verification(self, execution_id: int, at: datetime) -> None:
        """Judge the run's restored version at ``at``."""

    def claim_verification(self, execution_id: int, now: datetime) -> bool:
        """Take a verification that is due (it is no longer due); False if another process
        took it first."""

    def verifications_due(self, now: datetime, limit: int = 100) -> list[PlaybookExecution]:
        """Runs whose verification time has come, oldest first."""

    def executions_in(
        self,
        status: ExecutionStatus,
        *,
        window_id: int | None = None,
        expires_before: datetime | None = None,
        limit: int = 100,
    ) -> list[PlaybookExecution]:
        """Runs in ``status`` (held by one window, or expiring before a time), oldest first."""


class Store(Protocol):
    def write(self) -> AbstractContextManager[StoreSession]:
        """A read-write transaction, committed when the block ends without error."""

    def read(self) -> AbstractContextManager[StoreSession]:
        """A read-only transaction."""

    @property
    def writes_without_waiting(self) -> bool:
        """Whether ``record_snapshots(wait=False)`` and ``without_waiting()`` can ever succeed
        (they cannot where every write is a network round trip)."""

    def without_waiting(self) -> AbstractContextManager[None]:
        """Within the block (in this thread or task), the first write transaction to begin
        never waits for a lock: where the lock is held, it raises :class:`StoreBusy` as it
        begins, having changed nothing.  Reads, and later write transactions, behave as
        usual.  Where ``writes_without_waiting`` is false it changes nothing."""

    def record_snapshots(
        self, writes: Sequence[SnapshotWrite], window_start: WindowStart, *, wait: bool = True
    ) -> list[RecordedSnapshot | GraceError]:
        """The snapshot path, in one transaction for all ``writes`` (a group commit).

        For each write, in order: look up its version's target; store the snapshot; when
        ``window_start(target, recorded_at)`` gives a start, aggregate the window from it
        (which includes the snapshots stored before it); its event is stored with it.  A write whose
        model or version does not exist gets its ModelNotFound or VersionNotFound in its
        place and stores nothing; the others are unaffected.  A database failure fails all.

        With ``wait=False`` it never waits for a lock, a disk flush beyond the write itself,
        or the network: it raises :class:`StoreBusy`, having changed nothing, instead.
        """

    def token_active_since(self, at: datetime) -> bool:
        """Whether a token has been active at any moment since ``at`` (as the session method
        of that name), read outside any session: the open-mode check asks on every request."""

    def close(self) -> None:
        """Release connections."""
