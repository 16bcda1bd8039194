"""The session's subscriptions, deliveries and delivery attempts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from grace.adapters.sqlstore.rows import AnyRow, new_id, page_size
from grace.adapters.sqlstore.schema import deliveries, delivery_attempts, subscriptions
from grace.adapters.sqlstore.session import SessionBase
from grace.adapters.store import AttemptResult
from grace.domain.delivery import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Subscription,
    SubscriptionKind,
)
from grace.domain.events import Event
from grace.domain.severity import Severity
from grace.errors import Conflict, DeliveryNotFound, SubscriptionNotFound

__all__ = ["DeliverySession"]

_s, _d, _a = subscriptions, deliveries, delivery_attempts
_PENDING = DeliveryStatus.PENDING.value
_ATTEMPTS_SHOWN = 20  # a delivery's newest attempts, on reading it
_RECORD = (
    update(_d)
    .where(_d.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        tries=bindparam("b_tries"),
        next_attempt_at=bindparam("b_next"),
        updated_at=bindparam("b_at"),
        delivered_at=bindparam("b_delivered"),
        last_status_code=bindparam("b_code"),
        last_error=bindparam("b_error"),
    )
)


def _tuple(value: Any) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


def _subscription(row: AnyRow) -> Subscription:
    return Subscription(
        id=row.id,
        kind=SubscriptionKind(row.kind),
        url=row.url,
        event_types=_tuple(row.event_types),
        model_ids=_tuple(row.model_ids),
        created_at=row.created_at,
        cursor=row.cursor,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
        dependent_name=row.dependent_name,
        secrets=tuple(row.secrets or ()),
        min_severity=Severity(row.min_severity) if row.min_severity else None,
        tags=_tuple(row.tags),
    )


def _attempt(row: AnyRow) -> Attempt:
    return Attempt(row.at, row.duration_ms, row.status_code, row.error)


def _delivery(row: AnyRow, attempts: Sequence[Attempt] = ()) -> Delivery:
    return Delivery(
        id=row.id,
        subscription_id=row.subscription_id,
        seq=row.seq,
        event_id=row.event_id,
        event_type=row.event_type,
        model_id=row.model_key or None,
        status=DeliveryStatus(row.status),
        tries=row.tries,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        attempts=tuple(attempts),
    )


class DeliverySession(SessionBase):
    """The session's subscriptions, deliveries and delivery attempts."""

    # -- subscriptions ---------------------------------------------------------------------
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
    ) -> Subscription:
        pk = new_id(
            self._conn.execute(
                insert(_s).values(
                    kind=kind.value,
                    url=url,
                    secrets=list(secrets),
                    event_types=list(event_types) if event_types is not None else None,
                    model_ids=list(model_ids) if model_ids is not None else None,
                    dependent_name=dependent_name,
                    cursor=cursor,
                    created_at=at,
                    min_severity=min_severity.value if min_severity else None,
                    tags=list(tags) if tags is not None else None,
                )
            )
        )
        return self.get_subscription(pk)

    def get_subscription(self, subscription_id: int) -> Subscription:
        row = self._conn.execute(select(_s).where(_s.c.id == subscription_id)).first()
        if row is None:
            raise SubscriptionNotFound(subscription_id)
        return _subscription(row)

    def list_subscriptions(
        self, *, dependents_of: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[Subscription]:
        query = select(_s).where(_s.c.id > after_id).order_by(_s.c.id).limit(page_size(limit))
        if dependents_of is not None:
            query = query.where(_s.c.dependent_name.is_not(None))
        found = [_subscription(r) for r in self._conn.execute(query)]
        if dependents_of is not None:
            found = [s for s in found if s.model_ids == (dependents_of,)]
        return found

    def delete_subscription(self, subscription_id: int) -> None:
        self.get_subscription(subscription_id)
        owned = select(_d.c.id).where(_d.c.subscription_id == subscription_id)
        self._conn.execute(delete(_a).where(_a.c.delivery_id.in_(owned)))
        self._conn.execute(delete(_d).where(_d.c.subscription_id == subscription_id))
        self._conn.execute(delete(_s).where(_s.c.id == subscription_id))

    def set_secrets(self, subscription_id: int, secrets: Sequence[str]) -> Subscription:
        self.get_subscription(subscription_id)
        self._conn.execute(
            update(_s).where(_s.c.id == subscription_id).values(secrets=list(secrets))
        )
        return self.get_subscription(subscription_id)

    def disable_subscription(self, subscription_id: int, reason: str, at: datetime) -> None:
        self._conn.execute(
            update(_s)
            .where(_s.c.id == subscription_id, _s.c.disabled_at.is_(None))
            .values(disabled_at=at, disabled_reason=reason)
        )

    def lease_subscriptions(self, owner: str, now: datetime, until: datetime) -> list[Subscription]:
        """Take (or keep) the lease of every active subscription nobody else holds; the
        subscriptions this owner now holds."""
        self._conn.execute(
            update(_s)
            .where(
                _s.c.disabled_at.is_(None),
                or_(_s.c.lease_owner == owner, _s.c.lease_until.is_(None), _s.c.lease_until < now),
            )
            .values(lease_owner=owner, lease_until=until)
        )
        query = (
            select(_s)
            .where(_s.c.lease_owner == owner, _s.c.disabled_at.is_(None))
            .order_by(_s.c.id)
        )
        return [_subscription(r) for r in self._conn.execute(query)]

    def release_leases(self, owner: str) -> None:
        self._conn.execute(
            update(_s).where(_s.c.lease_owner == owner).values(lease_owner=None, lease_until=None)
        )

    # -- deliveries ------------------------------------------------------------------------
    def derive_deliveries(
        self,
        old_cursors: Mapping[int, int],
        new_cursor: int,
        matching: Mapping[int, Sequence[Event]],
        at: datetime,
    ) -> set[int]:
        """Move each subscription's cursor from its old position to ``new_cursor``, with the
        deliveries of its matching events; the ids whose cursor had moved meanwhile (nothing
        is written for those)."""
        by_old: dict[int, list[int]] = defaultdict(list)
        for subscription_id, old in old_cursors.items():
            by_old[old].append(subscription_id)
        moved_elsewhere: set[int] = set()
        for old, ids in by_old.items():
            result = self._conn.execute(
                update(_s).where(_s.c.id.in_(ids), _s.c.cursor == old).values(cursor=new_cursor)
            )
            if result.rowcount != len(ids):
                rows = self._conn.execute(select(_s.c.id, _s.c.cursor).where(_s.c.id.in_(ids)))
                moved_elsewhere |= {r.id for r in rows if r.cursor != new_cursor}
                moved_elsewhere |= set(ids) - {r.id for r in rows}  # removed meanwhile
        self._insert_deliveries(
            (sid, e, at)
            for sid, events in matching.items()
            if sid not in moved_elsewhere
            for e in events
        )
        return moved_elsewhere

    def queue_deliveries(
        self, subscription_ids: Iterable[int], events: Sequence[Event], at: datetime
    ) -> None:
        """Deliveries of ``events`` to each subscription (one already there is kept)."""
        self._insert_deliveries((sid, e, at) for sid in subscription_ids for e in events)

    def _insert_deliveries(self, wanted: Iterable[tuple[int, Event, datetime]]) -> None:
        rows = [
            {
                "subscription_id": sid,
                "seq": e.seq,
                "event_id": e.event_id,
                "event_type": e.event_type,
                "model_key": e.resource_id or "",
                "status": _PENDING,
                "tries": 0,
                "next_attempt_at": at,
                "created_at": at,
                "updated_at": at,
            }
            for sid, e, at in wanted
        ]
        if not rows:
            return
        dialect_insert = pg_insert if self._postgres else sqlite_insert
        statement = dialect_insert(_d).on_conflict_do_nothing(
            index_elements=["subscription_id", "seq"]
        )
        self._conn.execute(statement, rows)

    def open_deliveries(
        self, subscription_ids: Collection[int], now: datetime, limit: int
    ) -> tuple[list[Delivery], datetime | None]:
        """The pending deliveries of these subscriptions that may go now, oldest first (none
        of a subscription's model whose oldest pending delivery waits for its retry), and
        when the next retry is due."""
        ids = sorted(subscription_ids)
        if not ids:
            return [], None
        mine = and_(_d.c.subscription_id.in_(ids), _d.c.status == _PENDING)
        waiting = and_(mine, _d.c.next_attempt_at > now)
        blocked = select(_d.c.subscription_id, _d.c.model_key).where(waiting)
        query = (
            select(_d)
            .where(mine, tuple_(_d.c.subscription_id, _d.c.model_key).not_in(blocked))
            .order_by(_d.c.seq)
            .limit(limit)
        )
        ready = [_delivery(r) for r in self._conn.execute(query)]
        next_due = self._conn.execute(select(func.min(_d.c.next_attempt_at)).where(waiting))
        return ready, next_due.scalar()

    def record_attempts(self, results: Sequence[AttemptResult]) -> None:
        if not results:
            return
        self._conn.execute(
            insert(_a),
            [
                {
                    "delivery_id": r.delivery_id,
                    "at": r.attempt.at,
                    "duration_ms": r.attempt.duration_ms,
                    "status_code": r.attempt.status_code,
                    "error": r.attempt.error,
                }
                for r in results
            ],
        )
        self._conn.execute(
            _RECORD,
            [
                {
                    "b_id": r.delivery_id,
                    "b_status": r.status.value,
                    "b_tries": r.tries,
                    "b_next": r.next_attempt_at,
                    "b_at": r.attempt.at,
                    "b_delivered": (r.attempt.at if r.status is DeliveryStatus.DELIVERED else None),
                    "b_code": r.attempt.status_code,
                    "b_error": r.attempt.error,
                }
                for r in results
            ],
        )

    def get_delivery(self, delivery_id: int) -> Delivery:
        row = self._conn.execute(select(_d).where(_d.c.id == delivery_id)).first()
        if row is None:
            raise DeliveryNotFound(delivery_id)
        attempts = self._conn.execute(
            select(_a)
            .where(_a.c.delivery_id == delivery_id)
            .order_by(_a.c.id.desc())
            .limit(_ATTEMPTS_SHOWN)
        )
        return _delivery(row, [_attempt(a) for a in reversed(list(attempts))])

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
        query = select(_d).order_by(_d.c.id.desc()).limit(page_size(limit))
        if subscription_id is not None:
            query = query.where(_d.c.subscription_id == subscription_id)
        if status is not None:
            query = query.where(_d.c.status == status.value)
        if event_id is not None:
            query = query.where(_d.c.event_id == event_id)
        if before_id is not None:
            query = query.where(_d.c.id < before_id)
        return [_delivery(r) for r in self._conn.execute(query)]

    def count_deliveries(self, subscription_id: int) -> dict[str, int]:
        query = (
            select(_d.c.status, func.count())
            .where(_d.c.subscription_id == subscription_id)
            .group_by(_d.c.status)
        )
        return {str(status): int(n) for status, n in self._conn.execute(query)}

    def replay_delivery(self, delivery_id: int, at: datetime) -> Delivery:
        found = self.get_delivery(delivery_id)
        if found.status is not DeliveryStatus.DEAD:
            raise Conflict(
                f"delivery {delivery_id} is {found.status.value}: only a dead letter is replayed"
            )
        self._reopen(and_(_d.c.id == delivery_id), at)
        return self.get_delivery(delivery_id)

    def replay_subscription(self, subscription_id: int, from_seq: int, at: datetime) -> int:
        """Deliver again every event from ``from_seq`` on; how many deliveries reopened."""
        current = self.get_subscription(subscription_id)
        if from_seq - 1 < current.cursor:
            self._conn.execute(
                update(_s).where(_s.c.id == subscription_id).values(cursor=from_seq - 1)
            )
        return self._reopen(and_(_d.c.subscription_id == subscription_id, _d.c.seq >= from_seq), at)

    def _reopen(self, where: Any, at: datetime) -> int:
        result = self._conn.execute(
            update(_d)
            .where(where)
            .values(status=_PENDING, tries=0, next_attempt_at=at, updated_at=at, delivered_at=None)
        )
        return int(result.rowcount)
