"""Events: every change in Grace is one, kept in the event log and fanned out on the bus."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from grace.domain.timeutil import ensure_utc, isoformat

__all__ = ["REGISTRY_SOURCE", "Event", "EventType", "new_event_id"]


# The source of the model registry's events, snapshots' included.
REGISTRY_SOURCE = "model_registry"


class EventType:
    """The event types Grace emits (strings, so that users may add their own)."""

    MODEL_REGISTERED = "model.registered"
    MODEL_UPDATED = "model.updated"
    MODEL_SETTINGS_CHANGED = "model.settings_changed"
    STAGE_CHANGED = "model.stage_changed"
    PERFORMANCE_SNAPSHOT = "model.performance_snapshot"
    TRIGGERS_FIRED = "model.rollback_triggered"
    ROLLED_BACK = "model.rolled_back"
    DEPENDENTS_NOTIFIED = "model.dependents_notified"
    OPS_NOTIFIED = "ops.notified"
    CALLBACK_FAILED = "callback.failed"
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_OCCURRED = "incident.occurrence"
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    INCIDENT_RESOLVED = "incident.resolved"
    INCIDENT_ANNOTATED = "incident.annotated"
    PLAYBOOK_STARTED = "playbook.started"
    PLAYBOOK_STEP = "playbook.step"
    PLAYBOOK_FINISHED = "playbook.finished"
    PLAYBOOK_REFUSED = "playbook.refused"
    PLAYBOOK_ABANDONED = "playbook.abandoned"
    # What the remediation pipeline's guardrails decided (grace.domain.guardrails).
    REMEDIATION_HELD = "remediation.held"
    REMEDIATION_REFUSED = "remediation.refused"
    REMEDIATION_DRY_RUN = "remediation.dry_run"
    APPROVAL_REQUESTED = "remediation.approval_requested"
    REMEDIATION_APPROVED = "remediation.approved"
    BREAKER_OPENED = "remediation.breaker_opened"
    BREAKER_CLOSED = "remediation.breaker_closed"
    #: What the verification window found of a rollback (verified, failed, unverified).
    ROLLBACK_VERIFIED = "remediation.rollback_verified"
    # Pages about an incident (grace.domain.paging), for the alerting subscriptions.
    ALERT_TRIGGERED = "alert.triggered"
    ALERT_ACKNOWLEDGED = "alert.acknowledged"
    ALERT_RESOLVED = "alert.resolved"
    ALERT_HELD = "alert.held"
    #: A firing alert sent again, before Alertmanager would forget it.
    ALERT_REFRESHED = "alert.refreshed"
    DRILL_FINDING = "drill.finding"
    DRILL_FINISHED = "drill.finished"
    WINDOW_CREATED = "maintenance.window_created"
    WINDOW_REMOVED = "maintenance.window_removed"
    WINDOW_ENDED = "maintenance.window_ended"


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562) in hex: the milliseconds since the epoch lead, so ids made one
    after another sort together and the event log's unique index grows at one end instead
    of touching a random page per event."""
    milliseconds = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (
        (milliseconds & _MS_MASK) << 80
        | 0x7 << 76
        | (random >> 62 & 0xFFF) << 64
        | 0b10 << 62
        | random & _LOW_62
    )
    return f"{value:032x}"


_MS_MASK = (1 << 48) - 1
_LOW_62 = (1 << 62) - 1


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Event:
    """What happened (``event_type``), who said so (``source``) and the details (``payload``).

    ``resource_id`` defaults to ``payload['resource_id']``; ``seq`` is the
    event's position in the event log once stored, None before.
    """

    event_type: str
    source: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=_now)
    event_id: str = field(default_factory=new_event_id)
    resource_id: str | None = None
    seq: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", ensure_utc(self.timestamp))
        if self.resource_id is None and isinstance(self.payload.get("resource_id"), str):
            object.__setattr__(self, "resource_id", self.payload["resource_id"])

    @classmethod
    def of(
        cls,
        event_type: str,
        source: str,
        resource_id: str | None,
        data: Mapping[str, Any],
        at: datetime,
    ) -> Event:
        """An event in the guide's monitoring shape: payload is ``resource_id`` plus ``data``."""
        return cls(
            event_type, source, {"resource_id": resource_id, **data}, at, resource_id=resource_id
        )

    @property
    def data(self) -> dict[str, Any]:
        return {k: v for k, v in self.payload.items() if k != "resource_id"}

    def stored(self, seq: int) -> Event:
        return replace(self, seq=seq)

    def to_dict(self) -> dict[str, Any]:
        """The guide's monitoring-event JSON, plus the event's id and log position."""
        return {
            "id": self.event_id,
            "seq": self.seq,
            "event_type": self.event_type,
            "source": self.source,
            "resource_id": self.resource_id,
            "timestamp": isoformat(self.timestamp),
            "data": self.data,
        }
