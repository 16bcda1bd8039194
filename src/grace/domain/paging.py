"""When a person is paged about an incident, with no I/O.

A page is an alert event about one incident (``alert.triggered``, ``alert.acknowledged``,
``alert.resolved``), written in the transaction that changes the incident; subscriptions of
the alerting kinds (PagerDuty, Slack, Alertmanager) carry it out.  The rules:

- an incident that opens pages, unless a maintenance window covers its model: then the page
  is held (``alert.held``, with the window's id) and goes out when the window ends on a model
  that still fails;
- an occurrence that raises the severity of a paged incident pages again (same dedup key:
  the receiver updates its alert);
- acknowledging or resolving a paged incident tells the receivers; one never paged (held, and
  the model recovered) tells them nothing, since they never heard of it.  A resolve is sent
  also when a window began after the page.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from grace.domain.guardrails import MaintenanceWindow
from grace.domain.records import Incident
from grace.domain.timeutil import isoformat

__all__ = ["Change", "Page", "alert_data", "page_for"]


class Change(StrEnum):
    OPENED = "opened"
    SEVERITY_RAISED = "severity_raised"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    WINDOW_ENDED = "window_ended"  # a held page, for a model still failing


class Page(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    HOLD = "hold"


def page_for(
    change: Change, paged_at: datetime | None, window: MaintenanceWindow | None
) -> Page | None:
    """What ``change`` of an incident (paged at ``paged_at``, if ever) sends, if anything;
    ``window`` is the maintenance window covering its model now, if any."""
    if change is Change.OPENED:
        return Page.HOLD if window is not None else Page.TRIGGER
    if change is Change.WINDOW_ENDED:
        return Page.TRIGGER if paged_at is None else None
    if paged_at is None:
        return None
    if change is Change.SEVERITY_RAISED:
        return Page.TRIGGER
    if change is Change.ACKNOWLEDGED:
        return Page.ACKNOWLEDGE
    return Page.RESOLVE


def alert_data(incident: Incident, page: Page, at: datetime) -> dict[str, Any]:
    """What an alert event carries: enough for a receiver to page with, and to dedupe by."""
    context = incident.context
    return {
        "action": page.value,
        "incident_id": incident.id,
        "dedup_key": f"grace-incident-{incident.id}",
        "severity": incident.severity.value,
        "status": incident.status.value,
        "title": incident.title,
        "description": incident.description,
        "model_id": incident.resource_id,
        "resource_type": incident.resource_type,
        "version": context.get("model_version"),
        "reasons": list(context.get("reasons") or []),
        "runbook_url": incident.runbook_url,
        "source": incident.source,
        "opened_at": isoformat(incident.created_at),
        "acknowledged_by": incident.acknowledged_by,
        "resolved_by": incident.resolved_by,
        "at": isoformat(at),
    }
