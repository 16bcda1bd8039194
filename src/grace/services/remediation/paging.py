"""Paging: the alert events about an incident (grace.domain.paging), written in the
transaction that changes it, so that no page is lost and none goes out for a change that
did not commit.  The incident registry calls :meth:`Paging.on_change` for every change; the
end of a maintenance window calls it for the pages the window held."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from grace.adapters.store import AttemptResult, Store, StoreSession
from grace.clock import Clock
from grace.domain.delivery import DeliveryStatus, Subscription, SubscriptionKind
from grace.domain.events import Event, EventType
from grace.domain.paging import Change, Page, alert_data, page_for
from grace.domain.records import Incident
from grace.domain.remediation import RESOURCE_TYPE
from grace.errors import IncidentNotFound
from grace.services.follower import EventFollower
from grace.services.runner import Runner

__all__ = ["Paging"]

SOURCE = "remediation"
_EVENT = {
    Page.TRIGGER: EventType.ALERT_TRIGGERED,
    Page.ACKNOWLEDGE: EventType.ALERT_ACKNOWLEDGED,
    Page.RESOLVE: EventType.ALERT_RESOLVED,
    Page.HOLD: EventType.ALERT_HELD,
}


class Paging:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        run: Runner,
        follower: EventFollower,
        resend_every: timedelta,
    ) -> None:
        self._store = store
        self._clock = clock
        self._run = run
        self._follower = follower
        self.resend_every = resend_every

    async def refresh(self) -> list[Event]:
        """Send the firing alerts again that are due (``alert.refreshed``), while an
        Alertmanager subscription is active: Alertmanager forgets an alert whose end has
        passed.  The server calls this."""

        def write() -> list[Event]:
            with self._store.write() as s:
                active = [
                    sub
                    for sub in s.list_subscriptions(limit=1000)
                    if sub.active and sub.kind is SubscriptionKind.ALERTMANAGER
                ]
                if not active:
                    return []
                now = self._clock.now()
                events = []
                for incident in s.incidents_to_refresh(now - self.resend_every):
                    s.set_incident_paging(incident.id, refreshed_at=now)
                    data = alert_data(incident, Page.TRIGGER, now)
                    event = Event.of(
                        EventType.ALERT_REFRESHED, SOURCE, incident.resource_id, data, now
                    )
                    events.append(s.append_event(event))
                return events

        events = await self._run(write)
        await self._follower.announce(events)
        return events

    def note_delivery(
        self, s: StoreSession, subscription: Subscription, event: Event, result: AttemptResult
    ) -> None:
        """Inside ``s``: what became of a page (delivered, or given up) on its incident."""
        incident_id = event.data.get("incident_id")
        if not event.event_type.startswith("alert.") or not isinstance(incident_id, int):
            return
        delivered = result.status is DeliveryStatus.DELIVERED
        where = f"{subscription.kind.value} subscription {subscription.id}"
        attempt = result.attempt
        message = (
            f"{event.event_type} delivered to {where}"
            if delivered
            else f"{event.event_type} given up for {where} after {result.tries} tries: "
            f"{attempt.error or attempt.status_code}"
        )
        with contextlib.suppress(IncidentNotFound):
            s.append_timeline(
                incident_id,
                self._clock.now(),
                "alert_delivered" if delivered else "alert_dead",
                message,
                actor=SOURCE,
                data={
                    "subscription_id": subscription.id,
                    "delivery_id": result.delivery_id,
                    "status_code": attempt.status_code,
                    "tries": result.tries,
                },
            )

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
