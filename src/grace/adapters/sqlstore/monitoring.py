"""The session's performance snapshots and the event log."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import (
    and_,
    select,
    text,
    tuple_,
)

from grace.adapters.sqlstore.hotpath import (
    EVENT_LOG_LOCK,
    Q_LOG_HEAD,
    Q_WINDOW,
    SETTINGS_COLUMNS,
    WINDOW_AGGREGATES,
    event_params,
    snapshot_params,
)
from grace.adapters.sqlstore.rows import (
    CHUNK,
    INSERT_EVENT,
    INSERT_SNAPSHOT,
    page_size,
    row_event,
    row_settings,
    row_snapshot_event,
    row_stats,
)
from grace.adapters.sqlstore.schema import (
    events,
    snapshots,
)
from grace.adapters.sqlstore.schema import model_versions as _v
from grace.adapters.sqlstore.schema import models as _m
from grace.adapters.sqlstore.session import SessionBase
from grace.adapters.store import (
    FleetMember,
    SnapshotTarget,
    SnapshotWrite,
)
from grace.domain.events import Event, EventType
from grace.domain.snapshots import ModelPerformanceSnapshot, WindowStats
from grace.domain.stages import DeploymentStage


class MonitoringSession(SessionBase):
    """The session's performance snapshots and the event log."""

    # -- snapshots -----------------------------------------------------------------------
    def snapshot_targets(
        self, pairs: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], SnapshotTarget]:
        found: dict[tuple[str, str], SnapshotTarget] = {}
        wanted = sorted(set(pairs))
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            query = (
                select(
                    _m.c.model_id, _v.c.version, _v.c.id, _v.c.stage, _v.c.expected_latency_p95_ms
                )
                .add_columns(*SETTINGS_COLUMNS)
                .join_from(_v, _m, _v.c.model_pk == _m.c.id)
                .where(tuple_(_m.c.model_id, _v.c.version).in_(chunk))
            )
            for row in self._conn.execute(query):
                key = (row.model_id, row.version)
                self._version_pks[key] = row.id
                found[key] = SnapshotTarget(
                    DeploymentStage(row.stage), row.expected_latency_p95_ms, row_settings(row)
                )
        return found

    def insert_snapshots(self, writes: Sequence[SnapshotWrite]) -> list[Event]:
        if not writes:
            return []
        pks = [self._version_pk(w.snapshot.model_id, w.snapshot.version) for w in writes]
        first = self.log_positions(len(writes))
        params = [
            snapshot_params(w, pk, first + i)
            for i, (w, pk) in enumerate(zip(writes, pks, strict=True))
        ]
        self._conn.execute(INSERT_SNAPSHOT, params)
        return [w.event(first + i) for i, w in enumerate(writes)]

    def insert_snapshot(self, snapshot: ModelPerformanceSnapshot, recorded_at: datetime) -> int:
        (event,) = self.insert_snapshots([SnapshotWrite(snapshot, recorded_at)])
        return event.seq or 0

    def window_stats(self, model_id: str, version: str, since: datetime) -> WindowStats:
        row = self._conn.execute(
            Q_WINDOW, {"version_pk": self._version_pk(model_id, version), "since": since}
        ).one()
        return row_stats(*row)

    def window_stats_many(
        self, pairs: Collection[tuple[str, str]], since: datetime
    ) -> dict[tuple[str, str], WindowStats]:
        by_pk = {self._version_pk(m, v): (m, v) for m, v in set(pairs)}
        stats = dict.fromkeys(by_pk.values(), WindowStats())
        keys = sorted(by_pk)
        s = snapshots
        for start in range(0, len(keys), CHUNK):
            query = (
                select(s.c.version_pk, *WINDOW_AGGREGATES)
                .where(s.c.version_pk.in_(keys[start : start + CHUNK]), s.c.ts >= since)
                .group_by(s.c.version_pk)
            )
            for row in self._conn.execute(query):
                stats[by_pk[row.version_pk]] = row_stats(
                    row.n, row.err, row.p95, row.ood, row.drift, row.acc
                )
        return stats

    def fleet_stats(self, since: datetime) -> list[FleetMember]:
        s = snapshots
        query = (
            select(
                _m.c.model_id,
                _v.c.version,
                _v.c.expected_latency_p95_ms,
                *SETTINGS_COLUMNS,
                *WINDOW_AGGREGATES,
            )
            .select_from(_v)
            .join(_m, _v.c.model_pk == _m.c.id)
            .outerjoin(s, and_(s.c.version_pk == _v.c.id, s.c.ts >= since))
            .where(_v.c.stage == DeploymentStage.PRODUCTION.value)
            .group_by(_v.c.id, _m.c.id)
            .order_by(_m.c.model_id)
        )
        return [
            FleetMember(
                model_id=row.model_id,
                version=row.version,
                expected_latency_p95_ms=row.expected_latency_p95_ms,
                settings=row_settings(row),
                stats=row_stats(row.n, row.err, row.p95, row.ood, row.drift, row.acc),
            )
            for row in self._conn.execute(query)
        ]

    # -- events --------------------------------------------------------------------------
    def append_events(self, batch: Sequence[Event]) -> list[Event]:
        if not batch:
            return []
        first = self.log_positions(len(batch))
        self._conn.execute(INSERT_EVENT, [event_params(e, first + i) for i, e in enumerate(batch)])
        return [event.stored(first + i) for i, event in enumerate(batch)]

    def log_positions(self, count: int) -> int:
        """Take the next ``count`` positions of the event log (which events and snapshot
        rows share) for this transaction; returns the first.

        Positions are handed out in commit order, so that a reader following the log by seq
        never skips one that commits late: SQLite has one writer at a time (writes begin
        IMMEDIATE), and PostgreSQL writers of the log take the event-log lock first and hold
        it to their commit.  Writers append to the log last to hold it briefly.
        """
        if self._log_head is None:
            if self._postgres:
                self._conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_LOG_LOCK}
                )
            self._log_head = max(value or 0 for value in self._conn.execute(Q_LOG_HEAD).one())
        first = self._log_head + 1
        self._log_head += count
        return first

    def append_event(self, event: Event) -> Event:
        (stored,) = self.append_events([event])
        return stored

    def list_events(
        self,
        *,
        resource_id: str | None = None,
        event_types: Sequence[str] | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Event]:
        descending = before_seq is not None
        bound = before_seq if before_seq is not None else (after_seq or 0)
        page = page_size(limit)
        found = self._logged_events(resource_id, event_types, bound, descending, page)
        if event_types is None or EventType.PERFORMANCE_SNAPSHOT in event_types:
            found += self._snapshot_events(resource_id, bound, descending, page)
        found.sort(key=lambda e: e.seq or 0, reverse=descending)
        return found[:page]

    def events_at(self, seqs: Collection[int]) -> dict[int, Event]:
        """The events at these log positions (those that exist)."""
        wanted = sorted(set(seqs))
        found: dict[int, Event] = {}
        s = snapshots
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            for row in self._conn.execute(select(events).where(events.c.seq.in_(chunk))):
                found[row.seq] = row_event(row)
            query = (
                select(s, _m.c.model_id, _v.c.version)
                .join_from(s, _v, s.c.version_pk == _v.c.id)
                .join(_m, _v.c.model_pk == _m.c.id)
                .where(s.c.id.in_(chunk), s.c.event_id.is_not(None))
            )
            for row in self._conn.execute(query):
                found[row.id] = row_snapshot_event(row)
        return found

    def _logged_events(
        self,
        resource_id: str | None,
        event_types: Sequence[str] | None,
        bound: int,
        descending: bool,
        page: int,
    ) -> list[Event]:
        e = events
        query = select(e)
        if resource_id is not None:
            query = query.where(e.c.resource_id == resource_id)
        if event_types:
            query = query.where(e.c.event_type.in_(list(event_types)))
        if descending:
            query = query.where(e.c.seq < bound).order_by(e.c.seq.desc())
        else:
            query = query.where(e.c.seq > bound).order_by(e.c.seq)
        return [row_event(r) for r in self._conn.execute(query.limit(page))]

    def _snapshot_events(
        self, resource_id: str | None, bound: int, descending: bool, page: int
    ) -> list[Event]:
        """The log's snapshot rows (those stored with an event id) as their events."""
        s = snapshots
        query = (
            select(s, _m.c.model_id, _v.c.version)
            .join_from(s, _v, s.c.version_pk == _v.c.id)
            .join(_m, _v.c.model_pk == _m.c.id)
            .where(s.c.event_id.is_not(None))
        )
        if resource_id is not None:
            query = query.where(_m.c.model_id == resource_id)
        if descending:
            query = query.where(s.c.id < bound).order_by(s.c.id.desc())
        else:
            query = query.where(s.c.id > bound).order_by(s.c.id)
        return [row_snapshot_event(r) for r in self._conn.execute(query.limit(page))]
