"""Paging: the alert events about an incident (grace.domain.paging), written in the
transaction that changes it, so that no page is lost and none goes out for a change that
did not commit.  The incident registry calls :meth:`Paging.on_change` for every change; the
end of a maintenance window calls it for the pages the window held."""

from __future__ import annotations

from datetime import datetime

from grace.adapters.store import StoreSession
from grace.domain.events import Event, EventType
from grace.domain.paging import Change, Page, alert_data, page_for
from grace.domain.records import Incident
from grace.domain.remediation import RESOURCE_TYPE

__all__ = ["Paging"]

SOURCE = "remediation"
_EVENT = {
    Page.TRIGGER: EventType.ALERT_TRIGGERED,
    Page.ACKNOWLEDGE: EventType.ALERT_ACKNOWLEDGED,
    Page.RESOLVE: EventType.ALERT_RESOLVED,
    Page.HOLD: EventType.ALERT_HELD,
}


class Paging:
    def on_change(
        self, s: StoreSession, incident: Incident, change: Change, now: datetime
    ) -> list[Event]:
        """Inside ``s``: the page ``change`` of ``incident`` sends (or holds), recorded."""
        window = None
        if change is Change.OPENED and incident.resource_type == RESOURCE_TYPE:
            window = s.window_covering(incident.resource_id, now)
        page = page_for(change, incident.paged_at, window)
        if page is None:
            return []
        data = alert_data(incident, page, now)
        if page is Page.HOLD and window is not None:
            s.set_incident_paging(incident.id, held_by=window.id)
            data["window_id"] = window.id
            s.append_timeline(
                incident.id,
                now,
                "page_held",
                f"page held by maintenance window {window.id} until the window ends",
                actor=SOURCE,
                data={"window_id": window.id},
            )
        elif page is Page.TRIGGER:
            s.set_incident_paging(incident.id, paged_at=now)
            s.append_timeline(
                incident.id,
                now,
                "paged",
                "people paged"
                + (
                    " (held by a maintenance window until now)"
                    if change is Change.WINDOW_ENDED
                    else ""
                ),
                actor=SOURCE,
            )
        event = Event.of(_EVENT[page], SOURCE, incident.resource_id, data, now)
        return [s.append_event(event)]
