"""The session's incidents and playbook executions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from grace.adapters.sqlstore.rows import (
    new_id,
    page_size,
    row_execution,
    row_incident,
    row_timeline,
    step_to_json,
)
from grace.adapters.sqlstore.schema import (
    incident_timeline,
    incidents,
    playbook_executions,
)
from grace.adapters.sqlstore.session import SessionBase
from grace.adapters.store import (
    MAX_PAGE_SIZE,
    NewIncident,
    RunningExecution,
)
from grace.domain.incident_stats import IncidentTimes
from grace.domain.records import (
    ExecutionStatus,
    Incident,
    IncidentStatus,
    PlaybookExecution,
    StepRecord,
    TimelineEntry,
)
from grace.domain.severity import Severity
from grace.domain.timeutil import ensure_utc
from grace.errors import (
    ConcurrentChange,
    ExecutionNotFound,
    IncidentNotFound,
)


class OperationsSession(SessionBase):
    """The session's incidents and playbook executions."""

    # -- incidents -------------------------------------------------------------------------
    def find_open_incident(self, dedup_key: str) -> Incident | None:
        row = self._conn.execute(
            select(incidents).where(
                incidents.c.dedup_key == dedup_key,
                incidents.c.status != IncidentStatus.RESOLVED.value,
            )
        ).first()
        return row_incident(row) if row else None

    def set_incident_paging(
        self,
        incident_id: int,
        *,
        paged_at: datetime | None = None,
        held_by: int | None = None,
        refreshed_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {}
        if paged_at is not None:
            values["paged_at"] = paged_at
        if held_by is not None:
            values["page_held_by"] = held_by
        if refreshed_at is not None:
            values["alert_refreshed_at"] = refreshed_at
        if values:
            self._conn.execute(
                update(incidents).where(incidents.c.id == incident_id).values(**values)
            )

    def incidents_to_refresh(self, before: datetime, limit: int = 1000) -> list[Incident]:
        i = incidents
        last = func.coalesce(i.c.alert_refreshed_at, i.c.paged_at)
        rows = self._conn.execute(
            select(i)
            .where(
                i.c.paged_at.is_not(None),
                i.c.status != IncidentStatus.RESOLVED.value,
                last <= before,
            )
            .order_by(i.c.id)
            .limit(page_size(limit))
        )
        return [row_incident(r) for r in rows]

    def incidents_held_by(self, window_id: int) -> list[Incident]:
        i = incidents
        rows = self._conn.execute(
            select(i)
            .where(i.c.page_held_by == window_id, i.c.status != IncidentStatus.RESOLVED.value)
            .order_by(i.c.id)
            .limit(MAX_PAGE_SIZE)
        )
        return [row_incident(r) for r in rows]

    def last_resolved_incident(self, dedup_key: str) -> Incident | None:
        i = incidents
        row = self._conn.execute(
            select(i)
            .where(i.c.dedup_key == dedup_key, i.c.status == IncidentStatus.RESOLVED.value)
            .order_by(i.c.id.desc())
            .limit(1)
        ).first()
        return row_incident(row) if row else None

    def incident_times(
        self, since: datetime, until: datetime, *, resource_id: str | None = None, limit: int
    ) -> list[IncidentTimes]:
        i = incidents
        query = select(
            i.c.resource_id, i.c.severity, i.c.created_at, i.c.acknowledged_at, i.c.resolved_at
        ).where(i.c.created_at >= since, i.c.created_at <= until)
        if resource_id is not None:
            query = query.where(i.c.resource_id == resource_id)
        rows = self._conn.execute(query.order_by(i.c.created_at, i.c.id).limit(limit))
        return [IncidentTimes(r[0], Severity(r[1]), r[2], r[3], r[4]) for r in rows]

    def insert_incident(self, new: NewIncident, at: datetime) -> Incident:
        try:
            with self._conn.begin_nested():
                pk = new_id(
                    self._conn.execute(
                        insert(incidents).values(
                            source=new.source,
                            resource_type=new.resource_type,
                            resource_id=new.resource_id,
                            severity=new.severity.value,
                            title=new.title,
                            description=new.description,
                            context=dict(new.context),
                            status=IncidentStatus.OPEN.value,
                            dedup_key=new.dedup_key,
                            occurrences=1,
                            created_at=at,
                            updated_at=at,
                            last_seen_at=at,
                            recurrence_of=new.recurrence_of,
                            runbook_url=new.runbook_url,
                        )
                    )
                )
        except IntegrityError as exc:
            raise ConcurrentChange(f"an incident is already open for {new.dedup_key!r}") from exc
        return self._incident_alone(pk)

    def record_occurrence(
        self, incident_id: int, severity: Severity, context: Mapping[str, Any], at: datetime
    ) -> Incident:
        current = self._incident_alone(incident_id)
        worse = severity if severity.rank > current.severity.rank else current.severity
        self._conn.execute(
            update(incidents)
            .where(incidents.c.id == incident_id)
            .values(
                occurrences=incidents.c.occurrences + 1,
                severity=worse.value,
                context=dict(context),
                updated_at=at,
                last_seen_at=at,
            )
        )
        return self._incident_alone(incident_id)

    def set_incident_status(
        self, incident_id: int, status: IncidentStatus, actor: str | None, at: datetime
    ) -> Incident:
        values: dict[str, Any] = {"status": status.value, "updated_at": at}
        if status is IncidentStatus.ACKNOWLEDGED:
            values |= {"acknowledged_at": at, "acknowledged_by": actor}
        elif status is IncidentStatus.RESOLVED:
            values |= {"resolved_at": at, "resolved_by": actor}
        result = self._conn.execute(
            update(incidents).where(incidents.c.id == incident_id).values(**values)
        )
        if result.rowcount == 0:
            raise IncidentNotFound(incident_id)
        return self._incident_alone(incident_id)

    def append_timeline(
        self,
        incident_id: int,
        at: datetime,
        kind: str,
        message: str,
        *,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> TimelineEntry:
        at = ensure_utc(at)
        if not self._conn.execute(
            select(incidents.c.id).where(incidents.c.id == incident_id)
        ).first():
            raise IncidentNotFound(incident_id)
        entry_id = new_id(
            self._conn.execute(
                insert(incident_timeline).values(
                    incident_id=incident_id,
                    at=at,
                    kind=kind,
                    message=message,
                    actor=actor,
                    data=dict(data or {}),
                )
            )
        )
        return TimelineEntry(entry_id, at, kind, message, actor, dict(data or {}))

    def _incident_alone(self, incident_id: int) -> Incident:
        row = self._conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
        if row is None:
            raise IncidentNotFound(incident_id)
        return row_incident(row)

    def get_incident(self, incident_id: int) -> Incident:
        incident = self._incident_alone(incident_id)
        t = incident_timeline
        newest = self._conn.execute(
            select(t)
            .where(t.c.incident_id == incident_id)
            .order_by(t.c.id.desc())
            .limit(MAX_PAGE_SIZE)
        ).all()
        return replace(incident, timeline=tuple(row_timeline(r) for r in reversed(newest)))

    def list_incidents(
        self,
        *,
        resource_id: str | None = None,
        status: IncidentStatus | None = None,
        severity: Severity | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Incident]:
        i = incidents
        query = select(i)
        if resource_id is not None:
            query = query.where(i.c.resource_id == resource_id)
        if status is not None:
            query = query.where(i.c.status == status.value)
        if severity is not None:
            query = query.where(i.c.severity == severity.value)
        if before_id is not None:
            query = query.where(i.c.id < before_id)
        query = query.order_by(i.c.id.desc()).limit(page_size(limit))
        return [row_incident(r) for r in self._conn.execute(query)]

    # -- playbook executions ------------------------------------------------------------------
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
        open_ = status in (ExecutionStatus.RUNNING, ExecutionStatus.WAITING_APPROVAL)
        finished = None if open_ or status is ExecutionStatus.HELD else at
        pk = new_id(
            self._conn.execute(
                insert(playbook_executions).values(
                    playbook=playbook,
                    resource_type=resource_type,
                    resource_id=resource_id,
                    status=status.value,
                    context=dict(context),
                    steps=[],
                    result=dict(result or {}),
                    error=error,
                    started_at=at,
                    finished_at=finished,
                    owner=owner,
                    heartbeat_at=at,
                    correlation_id=correlation_id,
                    reason_code=reason,
                    window_id=window_id,
                    expires_at=expires_at,
                )
            )
        )
        return self.get_execution(pk)

    def find_execution(self, correlation_id: str) -> PlaybookExecution | None:
        p = playbook_executions
        row = self._conn.execute(
            select(p).where(p.c.correlation_id == correlation_id).order_by(p.c.id.desc()).limit(1)
        ).first()
        return row_execution(row) if row is not None else None

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
        """``expected_status``: change it only if it is still in that status, else raise
        ConcurrentChange (a decision made twice at once)."""
        values: dict[str, Any] = {}
        for name, value in (
            ("owner", owner),
            ("reason_code", reason),
            ("decided_by", decided_by),
            ("decided_at", decided_at),
        ):
            if value is not None:
                values[name] = value
        if heartbeat_at is not None:
            values["heartbeat_at"] = heartbeat_at
        if status is not None:
            values["status"] = status.value
        if steps is not None:
            values["steps"] = [step_to_json(s) for s in steps]
        if result is not None:
            values["result"] = dict(result)
        if error is not None:
            values["error"] = error
        if finished_at is not None:
            values["finished_at"] = finished_at
        if values:
            p = playbook_executions
            query = update(p).where(p.c.id == execution_id)
            if expected_status is not None:
                query = query.where(p.c.status == expected_status.value)
            outcome = self._conn.execute(query.values(**values))
            if outcome.rowcount == 0:
                current = self.get_execution(execution_id)  # ExecutionNotFound if none
                raise ConcurrentChange(
                    f"playbook run {execution_id} is {current.status.value}, "
                    f"not {expected_status.value if expected_status else 'changed'}"
                )
        return self.get_execution(execution_id)

    def get_execution(self, execution_id: int) -> PlaybookExecution:
        row = self._conn.execute(
            select(playbook_executions).where(playbook_executions.c.id == execution_id)
        ).first()
        if row is None:
            raise ExecutionNotFound(execution_id)
        return row_execution(row)

    def list_executions(
        self,
        *,
        resource_id: str | None = None,
        playbook: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[PlaybookExecution]:
        p = playbook_executions
        query = select(p)
        if resource_id is not None:
            query = query.where(p.c.resource_id == resource_id)
        if playbook is not None:
            query = query.where(p.c.playbook == playbook)
        if before_id is not None:
            query = query.where(p.c.id < before_id)
        query = query.order_by(p.c.id.desc()).limit(page_size(limit))
        return [row_execution(r) for r in self._conn.execute(query)]

    def running_executions(
        self, *, resource_id: str | None = None, limit: int = MAX_PAGE_SIZE
    ) -> list[RunningExecution]:
        p = playbook_executions
        query = select(p).where(p.c.status == ExecutionStatus.RUNNING.value)
        if resource_id is not None:
            query = query.where(p.c.resource_id == resource_id)
        rows = self._conn.execute(query.order_by(p.c.id).limit(page_size(limit)))
        return [
            RunningExecution(
                row_execution(r), r._mapping["owner"], r._mapping["heartbeat_at"] or r.started_at
            )
            for r in rows
        ]

    def last_execution(
        self,
        resource_id: str,
        playbook: str,
        statuses: Sequence[ExecutionStatus],
        since: datetime,
    ) -> PlaybookExecution | None:
        p = playbook_executions
        row = self._conn.execute(
            select(p)
            .where(
                p.c.resource_id == resource_id,
                p.c.playbook == playbook,
                p.c.status.in_([s.value for s in statuses]),
                p.c.started_at >= since,
            )
            .order_by(p.c.id.desc())
            .limit(1)
        ).first()
        return row_execution(row) if row else None
