"""The session's remediation policies, maintenance windows and the counts the guardrails
read (grace.domain.guardrails)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text, update

from grace.adapters.sqlstore.rows import new_id, page_size, row_execution
from grace.adapters.sqlstore.schema import (
    maintenance_windows,
    playbook_executions,
    remediation_policies,
)
from grace.adapters.sqlstore.session import SessionBase
from grace.domain.guardrails import MaintenanceWindow, OnWindowEnd, RemediationPolicy
from grace.domain.records import ExecutionStatus, PlaybookExecution
from grace.errors import WindowNotFound

__all__ = ["POLICY_FIELDS", "GuardrailSession"]

#: What ``set_remediation_policy`` may change.
POLICY_FIELDS = frozenset(
    {
        "require_approval",
        "dry_run",
        "max_per_hour",
        "runbook_url",
        "min_trust",
        "playbook",
        "breaker_opened_at",
        "breaker_reason",
    }
)
# Runs that acted: what the rate limits count, and (finished) what the breaker reads.
_ACTED = (ExecutionStatus.RUNNING, ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED)
# Any constant: the key of the PostgreSQL advisory lock that serialises remediation
# decisions across replicas, so that two cannot both take the fleet's last slot.
_REMEDIATION_LOCK = 0x67726163  # "grac"


def _policy(model_id: str, row: Any) -> RemediationPolicy:
    if row is None:
        return RemediationPolicy(model_id)
    r = row._mapping
    return RemediationPolicy(
        model_id=model_id,
        require_approval=bool(r["require_approval"]),
        dry_run=bool(r["dry_run"]),
        max_per_hour=r["max_per_hour"],
        runbook_url=r["runbook_url"],
        min_trust=r["min_trust"],
        playbook=r["playbook"],
        breaker_opened_at=r["breaker_opened_at"],
        breaker_reason=r["breaker_reason"],
    )


def _window(row: Any) -> MaintenanceWindow:
    r = row._mapping
    return MaintenanceWindow(
        id=r["id"],
        model_id=r["model_id"],
        starts_at=r["starts_at"],
        ends_at=r["ends_at"],
        reason=r["reason"],
        created_by=r["created_by"],
        created_at=r["created_at"],
        on_end=OnWindowEnd(r["on_end"]),
        removed_at=r["removed_at"],
        released_at=r["released_at"],
    )


class GuardrailSession(SessionBase):
    """The session's remediation policies, maintenance windows and guardrail counts."""

    # -- policies ----------------------------------------------------------------------------
    def get_remediation_policy(self, model_id: str) -> RemediationPolicy:
        p = remediation_policies
        row = self._conn.execute(select(p).where(p.c.model_id == model_id)).first()
        return _policy(model_id, row)

    def set_remediation_policy(
        self, model_id: str, changes: Mapping[str, Any], at: datetime
    ) -> RemediationPolicy:
        unknown = set(changes) - POLICY_FIELDS
        if unknown:
            raise ValueError(f"not policy fields: {sorted(unknown)}")
        p = remediation_policies
        exists = self._conn.execute(select(p.c.model_id).where(p.c.model_id == model_id)).first()
        values = {**changes, "updated_at": at}
        if exists is None:
            self._conn.execute(insert(p).values(model_id=model_id, **values))
        else:
            self._conn.execute(update(p).where(p.c.model_id == model_id).values(**values))
        return self.get_remediation_policy(model_id)

    # -- maintenance windows ------------------------------------------------------------------
    def insert_window(
        self,
        model_id: str | None,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        on_end: OnWindowEnd,
        created_by: str | None,
        at: datetime,
    ) -> MaintenanceWindow:
        pk = new_id(
            self._conn.execute(
                insert(maintenance_windows).values(
                    model_id=model_id,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    reason=reason,
                    on_end=on_end.value,
                    created_by=created_by,
                    created_at=at,
                )
            )
        )
        return self.get_window(pk)

    def get_window(self, window_id: int) -> MaintenanceWindow:
        w = maintenance_windows
        row = self._conn.execute(select(w).where(w.c.id == window_id)).first()
        if row is None:
            raise WindowNotFound(window_id)
        return _window(row)

    def list_windows(
        self,
        *,
        model_id: str | None = None,
        ending_after: datetime | None = None,
        include_removed: bool = False,
        limit: int = 100,
    ) -> list[MaintenanceWindow]:
        w = maintenance_windows
        query = select(w)
        if model_id is not None:
            query = query.where((w.c.model_id == model_id) | w.c.model_id.is_(None))
        if ending_after is not None:
            query = query.where(w.c.ends_at > ending_after)
        if not include_removed:
            query = query.where(w.c.removed_at.is_(None))
        query = query.order_by(w.c.starts_at, w.c.id).limit(page_size(limit))
        return [_window(r) for r in self._conn.execute(query)]

    def remove_window(self, window_id: int, at: datetime) -> MaintenanceWindow:
        w = maintenance_windows
        window = self.get_window(window_id)
        if window.removed_at is None:
            self._conn.execute(update(w).where(w.c.id == window_id).values(removed_at=at))
        return self.get_window(window_id)

    def window_covering(self, model_id: str, at: datetime) -> MaintenanceWindow | None:
        """The window (of this model, or of every model) in force at ``at``, the one ending
        last if several are."""
        w = maintenance_windows
        row = self._conn.execute(
            select(w)
            .where(
                (w.c.model_id == model_id) | w.c.model_id.is_(None),
                w.c.removed_at.is_(None),
                w.c.starts_at <= at,
                w.c.ends_at > at,
            )
            .order_by(w.c.ends_at.desc(), w.c.id.desc())
            .limit(1)
        ).first()
        return _window(row) if row is not None else None

    def ended_windows(self, now: datetime, limit: int = 100) -> list[MaintenanceWindow]:
        """Windows that have ended (or were removed) and whose end is not yet acted on."""
        w = maintenance_windows
        rows = self._conn.execute(
            select(w)
            .where(w.c.released_at.is_(None), (w.c.ends_at <= now) | w.c.removed_at.is_not(None))
            .order_by(w.c.ends_at, w.c.id)
            .limit(page_size(limit))
        )
        return [_window(r) for r in rows]

    def release_window(self, window_id: int, at: datetime) -> bool:
        """Mark the window's end acted on; False if another process already did."""
        w = maintenance_windows
        outcome = self._conn.execute(
            update(w).where(w.c.id == window_id, w.c.released_at.is_(None)).values(released_at=at)
        )
        return bool(outcome.rowcount)

    # -- what the guardrails count -------------------------------------------------------------
    def lock_remediations(self) -> None:
        """Serialise remediation decisions until this transaction ends.  On SQLite every
        write transaction already holds the database's one write lock."""
        if self._conn.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            self._conn.execute(lock, {"key": _REMEDIATION_LOCK})

    def count_remediations(
        self, playbooks: Sequence[str] | None, since: datetime, *, resource_id: str | None = None
    ) -> int:
        """Automatic remediation runs (started by the pipeline) of ``playbooks`` (None: of any
        playbook) that acted since ``since``."""
        p = playbook_executions
        query = select(func.count()).where(
            p.c.correlation_id.is_not(None),
            p.c.status.in_([s.value for s in _ACTED]),
            p.c.started_at >= since,
        )
        if playbooks is not None:
            query = query.where(p.c.playbook.in_(list(playbooks)))
        if resource_id is not None:
            query = query.where(p.c.resource_id == resource_id)
        return int(self._conn.execute(query).scalar_one())

    def remediation_outcomes(
        self, resource_id: str, playbooks: Sequence[str] | None, limit: int
    ) -> list[bool]:
        """Whether each of the model's last ``limit`` finished automatic runs (of
        ``playbooks``; None: of any) succeeded, newest first."""
        p = playbook_executions
        query = select(p.c.status).where(
            p.c.resource_id == resource_id,
            p.c.correlation_id.is_not(None),
            p.c.status.in_([ExecutionStatus.SUCCEEDED.value, ExecutionStatus.FAILED.value]),
        )
        if playbooks is not None:
            query = query.where(p.c.playbook.in_(list(playbooks)))
        rows = self._conn.execute(query.order_by(p.c.id.desc()).limit(page_size(limit)))
        return [r[0] == ExecutionStatus.SUCCEEDED.value for r in rows]

    def schedule_verification(self, execution_id: int, at: datetime) -> None:
        p = playbook_executions
        self._conn.execute(update(p).where(p.c.id == execution_id).values(verify_at=at))

    def claim_verification(self, execution_id: int, now: datetime) -> bool:
        p = playbook_executions
        taken = self._conn.execute(
            update(p)
            .where(p.c.id == execution_id, p.c.verify_at.is_not(None), p.c.verify_at <= now)
            .values(verify_at=None)
        )
        return bool(taken.rowcount)

    def verifications_due(self, now: datetime, limit: int = 100) -> list[PlaybookExecution]:
        p = playbook_executions
        rows = self._conn.execute(
            select(p)
            .where(p.c.verify_at.is_not(None), p.c.verify_at <= now)
            .order_by(p.c.verify_at, p.c.id)
            .limit(page_size(limit))
        )
        return [row_execution(r) for r in rows]

    def executions_in(
        self,
        status: ExecutionStatus,
        *,
        window_id: int | None = None,
        expires_before: datetime | None = None,
        limit: int = 100,
    ) -> list[PlaybookExecution]:
        """Runs in ``status`` (held by one window; or with an expiry before a time), oldest
        first."""
        p = playbook_executions
        query = select(p).where(p.c.status == status.value)
        if window_id is not None:
            query = query.where(p.c.window_id == window_id)
        if expires_before is not None:
            query = query.where(p.c.expires_at < expires_before)
        rows = self._conn.execute(query.order_by(p.c.id).limit(page_size(limit)))
        return [row_execution(r) for r in rows]
