"""The incident registry: incidents opened by the model registry (or anyone), kept with a timeline.

A second incident for the same cause while one is unresolved is not a
duplicate: it becomes another occurrence of the open one (the database holds
one unresolved incident per dedup key), raising its severity if higher.
Status moves open -> acknowledged -> resolved (or open -> resolved).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from grace.adapters.store import NewIncident, Store, StoreSession
from grace.clock import Clock
from grace.domain.events import Event, EventType
from grace.domain.incident_stats import incident_stats
from grace.domain.paging import Change
from grace.domain.records import Incident, IncidentStatus, TimelineEntry
from grace.domain.remediation import RESOURCE_TYPE
from grace.domain.severity import Severity, parse_severity
from grace.domain.timeutil import isoformat
from grace.domain.validation import (
    MAX_KIND_LENGTH,
    check_filter,
    check_identifier,
    check_json_object,
    check_optional_text,
)
from grace.errors import ConcurrentChange, Conflict, InvalidInput
from grace.services.follower import EventFollower
from grace.services.runner import Runner

__all__ = ["IncidentRegistry"]

SOURCE = "incident_registry"
MAX_TITLE = 500
MAX_STATS_HOURS = 90 * 24
MAX_STATS_ROWS = 100_000


def _parse_status(value: IncidentStatus | str) -> IncidentStatus:
    try:
        return IncidentStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in IncidentStatus)
        raise InvalidInput(
            "status", f"{value!r} is not an incident status; expected {known}"
        ) from None


#: Called in the transaction of every change of an incident: the page events it sends
#: (grace.services.remediation.paging decides them).
PageHook = Callable[[StoreSession, Incident, Change, datetime], list[Event]]


def _no_pages(_s: StoreSession, _i: Incident, _c: Change, _at: datetime) -> list[Event]:
    return []


class IncidentRegistry:
    def __init__(
        self,
        store: Store,
        *,
        follower: EventFollower,
        clock: Clock,
        run: Runner | None = None,
        paging: PageHook = _no_pages,
    ) -> None:
        self._paging = paging
        self._store = store
        self._run = run or Runner(store)
        self._follower = follower
        self._clock = clock

    async def create_incident(
        self,
        source: str,
        resource_type: str,
        resource_id: str,
        severity: Severity | str,
        title: str,
        description: str = "",
        context: Mapping[str, Any] | None = None,
        *,
        dedup_key: str | None = None,
    ) -> Incident:
        """Open an incident, or add an occurrence to the unresolved one with the same dedup key.

        The dedup key is ``dedup_key``, else ``context['dedup_key']``, else
        source, resource type, resource id and title together.  Returns the
        incident without its timeline (``get_incident`` has it).
        """
        check_identifier("source", source, 100)
        check_identifier("resource_type", resource_type, 100)
        check_identifier("resource_id", resource_id)
        level = parse_severity(severity)
        if not isinstance(title, str) or not title.strip():
            raise InvalidInput("title", "must be a non-empty string")
        check_optional_text("title", title, MAX_TITLE)
        check_optional_text("description", description)
        ctx = check_json_object("context", context)
        key = dedup_key or ctx.get("dedup_key") or f"{source}:{resource_type}:{resource_id}:{title}"
        check_identifier("dedup_key", str(key), 400)
        new = NewIncident(
            source, resource_type, resource_id, level, title, description or "", ctx, str(key)
        )
        incident, events = await self._run(self._open_or_recur, new)
        await self._follower.announce(events)
        return incident

    def _open_or_recur(self, new: NewIncident) -> tuple[Incident, list[Event]]:
        for attempt in range(2):
            try:
                with self._store.write() as s:
                    return self._open_or_recur_in(s, new)
            except ConcurrentChange:
                # Another writer opened it between our look and our insert: recur on theirs.
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _open_or_recur_in(self, s: StoreSession, new: NewIncident) -> tuple[Incident, list[Event]]:
        now = self._clock.now()
        existing = s.find_open_incident(new.dedup_key)
        if existing is None:
            previous = s.last_resolved_incident(new.dedup_key)
            runbook = (
                s.get_remediation_policy(new.resource_id).runbook_url
                if new.resource_type == RESOURCE_TYPE
                else None
            )
            new = replace(new, recurrence_of=previous.id if previous else None, runbook_url=runbook)
            incident = s.insert_incident(new, now)
            s.append_timeline(
                incident.id, now, "opened", new.title, data={"severity": new.severity.value}
            )
            if previous is not None:
                s.append_timeline(
                    incident.id,
                    now,
                    "recurrence",
                    f"a recurrence of incident {previous.id}, resolved at "
                    f"{isoformat(previous.resolved_at)}",
                    data={"incident_id": previous.id},
                )
                s.append_timeline(
                    previous.id,
                    now,
                    "recurred",
                    f"the cause recurred: incident {incident.id}",
                    data={"incident_id": incident.id},
                )
            event = self._event(EventType.INCIDENT_OPENED, incident, now)
            stored = s.append_event(event)
            return incident, [stored, *self._paging(s, incident, Change.OPENED, now)]
        incident = s.record_occurrence(existing.id, new.severity, new.context, now)
        # The count and last_seen_at live on the incident; the timeline only notes a
        # recurrence that changes something, so a long outage does not flood it.
        if incident.severity is not existing.severity:
            s.append_timeline(
                incident.id,
                now,
                "severity_raised",
                f"occurrence {incident.occurrences}: severity raised from "
                f"{existing.severity} to {incident.severity}",
                data={"severity": new.severity.value},
            )
        stored = s.append_event(self._event(EventType.INCIDENT_OCCURRED, incident, now))
        if incident.severity is existing.severity:
            return incident, [stored]
        return incident, [stored, *self._paging(s, incident, Change.SEVERITY_RAISED, now)]

    def _event(self, event_type: str, incident: Incident, at: Any) -> Event:
        return Event.of(
            event_type,
            SOURCE,
            incident.resource_id,
            {
                "incident_id": incident.id,
                "severity": incident.severity.value,
                "status": incident.status.value,
                "title": incident.title,
                "occurrences": incident.occurrences,
                "source": incident.source,
                "resource_type": incident.resource_type,
                "runbook_url": incident.runbook_url,
                "recurrence_of": incident.recurrence_of,
            },
            at,
        )

    # -- reading -----------------------------------------------------------------
    def get_incident(self, incident_id: int) -> Incident:
        with self._store.read() as s:
            return s.get_incident(incident_id)

    def find_open(self, dedup_key: str) -> Incident | None:
        with self._store.read() as s:
            return s.find_open_incident(dedup_key)

    def list_incidents(
        self,
        resource_id: str | None = None,
        status: IncidentStatus | str | None = None,
        *,
        severity: Severity | str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Incident]:
        state = _parse_status(status) if status is not None else None
        level = parse_severity(severity) if severity is not None else None
        resource_id = check_filter("model_id", resource_id)
        with self._store.read() as s:
            return s.list_incidents(
                resource_id=resource_id,
                status=state,
                severity=level,
                before_id=before_id,
                limit=limit,
            )

    def stats(self, model_id: str | None = None, *, hours: float = 168) -> dict[str, Any]:
        """MTTA, MTTR and counts over the incidents opened in the last ``hours``, for the
        fleet and per model (grace.domain.incident_stats)."""
        if model_id is not None:
            check_identifier("model_id", model_id)
        if (
            isinstance(hours, bool)
            or not isinstance(hours, int | float)
            or not (0 < hours <= MAX_STATS_HOURS)
        ):
            raise InvalidInput("hours", f"must be more than 0 and at most {MAX_STATS_HOURS}")
        until = self._clock.now()
        since = until - timedelta(hours=hours)
        with self._store.read() as s:
            times = s.incident_times(since, until, resource_id=model_id, limit=MAX_STATS_ROWS)
        return incident_stats(times, since, until)

    async def escalate(
        self, incident_id: int, severity: Severity | str, *, reason: str, actor: str
    ) -> Incident:
        """Raise an incident's severity (it pages again); a resolved one recurs as a new
        incident at that severity, linked to it."""
        level = parse_severity(severity)
        check_optional_text("reason", reason)

        def write() -> tuple[Incident, list[Event]]:
            with self._store.write() as s:
                current = s.get_incident(incident_id)
                now = self._clock.now()
                if current.status is IncidentStatus.RESOLVED:
                    new = NewIncident(
                        current.source,
                        current.resource_type,
                        current.resource_id,
                        level,
                        current.title,
                        current.description,
                        current.context,
                        current.dedup_key,
                    )
                    incident, events = self._open_or_recur_in(s, new)
                else:
                    incident = s.record_occurrence(current.id, level, current.context, now)
                    events = [
                        s.append_event(self._event(EventType.INCIDENT_OCCURRED, incident, now))
                    ]
                    if incident.severity is not current.severity:
                        events += self._paging(s, incident, Change.SEVERITY_RAISED, now)
                s.append_timeline(
                    incident.id,
                    now,
                    "escalated",
                    reason,
                    actor=actor,
                    data={"severity": level.value},
                )
                return s.get_incident(incident.id), events

        incident, events = await self._run(write)
        await self._follower.announce(events)
        return incident

    # -- acting on incidents ------------------------------------------------------------
    async def acknowledge(
        self, incident_id: int, *, actor: str | None = None, note: str | None = None
    ) -> Incident:
        return await self._transition(incident_id, IncidentStatus.ACKNOWLEDGED, actor, note)

    async def resolve(
        self, incident_id: int, *, actor: str | None = None, note: str | None = None
    ) -> Incident:
        return await self._transition(incident_id, IncidentStatus.RESOLVED, actor, note)

    async def annotate(
        self,
        incident_id: int,
        message: str,
        *,
        actor: str | None = None,
        kind: str = "note",
        data: Mapping[str, Any] | None = None,
    ) -> TimelineEntry:
        """Add an entry to the incident's timeline."""
        if not isinstance(message, str) or not message.strip():
            raise InvalidInput("message", "must be a non-empty string")
        check_optional_text("message", message)
        check_identifier("kind", kind, MAX_KIND_LENGTH)
        payload = check_json_object("data", data)

        def write() -> tuple[TimelineEntry, Event]:
            with self._store.write() as s:
                now = self._clock.now()
                entry = s.append_timeline(
                    incident_id, now, kind, message, actor=actor, data=payload
                )
                incident = s.get_incident(incident_id)
                event = s.append_event(self._event(EventType.INCIDENT_ANNOTATED, incident, now))
                return entry, event

        entry, event = await self._run(write)
        await self._follower.announce([event])
        return entry

    async def _transition(
        self, incident_id: int, status: IncidentStatus, actor: str | None, note: str | None
    ) -> Incident:
        check_optional_text("note", note)

        def write() -> tuple[Incident, list[Event]]:
            with self._store.write() as s:
                current = s.get_incident(incident_id)
                if current.status is IncidentStatus.RESOLVED:
                    raise Conflict(f"incident {incident_id} is already resolved")
                if current.status is status:
                    raise Conflict(f"incident {incident_id} is already {status.value}")
                now = self._clock.now()
                changed = s.set_incident_status(incident_id, status, actor, now)
                s.append_timeline(incident_id, now, status.value, note or status.value, actor=actor)
                resolved = status is IncidentStatus.RESOLVED
                event_type = (
                    EventType.INCIDENT_RESOLVED if resolved else EventType.INCIDENT_ACKNOWLEDGED
                )
                event = s.append_event(self._event(event_type, changed, now))
                change = Change.RESOLVED if resolved else Change.ACKNOWLEDGED
                pages = self._paging(s, changed, change, now)
                incident = s.get_incident(incident_id)  # with the timeline, for the caller
                return incident, [event, *pages]

        incident, events = await self._run(write)
        await self._follower.announce(events)
        return incident
