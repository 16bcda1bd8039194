"""What the alerting subscriptions send, with no I/O: a PagerDuty Events API v2 event, a
Slack message, Alertmanager alerts; each built from one Grace event.

The pages themselves are decided elsewhere (grace.domain.paging) and arrive here as
``alert.*`` events; Slack also hears of remediations (started, finished, refused or held,
waiting for approval) when its subscription routes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from grace.domain.delivery import SubscriptionKind, event_severity
from grace.domain.events import Event, EventType
from grace.domain.severity import Severity
from grace.domain.timeutil import isoformat
from grace.errors import InvalidInput

__all__ = [
    "ALERTMANAGER_TYPES",
    "ALERT_EVENT_TYPES",
    "ROUTABLE",
    "SLACK_TYPES",
    "AlertLinks",
    "alertmanager_alerts",
    "check_routing_key",
    "pagerduty_event",
    "routed_types",
    "slack_message",
]

#: What an alerting subscription routes when it names no event types.
ALERT_EVENT_TYPES = (
    EventType.ALERT_TRIGGERED,
    EventType.ALERT_ACKNOWLEDGED,
    EventType.ALERT_RESOLVED,
)
ALERTMANAGER_TYPES = (*ALERT_EVENT_TYPES, EventType.ALERT_REFRESHED)
SLACK_TYPES = (
    *ALERT_EVENT_TYPES,
    EventType.PLAYBOOK_STARTED,
    EventType.PLAYBOOK_FINISHED,
    EventType.REMEDIATION_REFUSED,
    EventType.REMEDIATION_HELD,
    EventType.APPROVAL_REQUESTED,
)
_PAGERDUTY_ACTION = {
    EventType.ALERT_TRIGGERED: "trigger",
    EventType.ALERT_ACKNOWLEDGED: "acknowledge",
    EventType.ALERT_RESOLVED: "resolve",
}
_PAGERDUTY_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "info",
}
MAX_SUMMARY = 1024
#: What each alerting kind may route, and routes when told nothing.
ROUTABLE: dict[SubscriptionKind, tuple[str, ...]] = {
    SubscriptionKind.PAGERDUTY: ALERT_EVENT_TYPES,
    SubscriptionKind.SLACK: SLACK_TYPES,
    SubscriptionKind.ALERTMANAGER: ALERTMANAGER_TYPES,
}
_ROUTING_KEY = re.compile(r"[A-Za-z0-9_-]{8,128}")


def routed_types(kind: SubscriptionKind, asked: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The event types a subscription of ``kind`` receives: for an alerting kind, those it
    may take (all of them when ``asked`` is None); InvalidInput for one it cannot take."""
    allowed = ROUTABLE.get(kind)
    if allowed is None:
        return asked
    if asked is None:
        return allowed
    refused = [t for t in asked if t not in allowed]
    if refused:
        raise InvalidInput(
            "event_types",
            f"a {kind.value} subscription cannot take {refused[0]}; it takes " + ", ".join(allowed),
        )
    return asked


def check_routing_key(value: object) -> str:
    """A PagerDuty integration's routing key (the subscription's secret)."""
    if not isinstance(value, str) or not _ROUTING_KEY.fullmatch(value):
        raise InvalidInput(
            "secret", "a pagerduty subscription needs its routing key: 8 to 128 letters or digits"
        )
    return value


@dataclass(frozen=True, slots=True)
class AlertLinks:
    """Where people follow a message to: the service's public URL."""

    public_url: str = "http://127.0.0.1:8000"

    def incident(self, incident_id: object) -> str:
        return f"{self.public_url.rstrip('/')}/api/model-registry/incidents/{incident_id}"

    def execution(self, execution_id: object, action: str = "") -> str:
        base = f"{self.public_url.rstrip('/')}/api/model-registry/executions/{execution_id}"
        return f"{base}/{action}" if action else base


def _summary(data: Mapping[str, Any]) -> str:
    reasons = "; ".join(str(r) for r in data.get("reasons") or [])
    text = f"{data.get('title') or 'Grace incident'} ({data.get('model_id')})"
    if reasons:
        text += f": {reasons}"
    return text[: MAX_SUMMARY - 1] + "…" if len(text) > MAX_SUMMARY else text


def pagerduty_event(event: Event, routing_key: str, links: AlertLinks) -> dict[str, Any] | None:
    """The Events API v2 body for an ``alert.*`` event (None for anything else)."""
    action = _PAGERDUTY_ACTION.get(event.event_type)
    if action is None:
        return None
    data = event.data
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": data["dedup_key"],
        "client": "Grace",
        "client_url": links.incident(data.get("incident_id")),
    }
    if action != "trigger":
        return body
    severity = event_severity(event) or Severity.MEDIUM
    body["payload"] = {
        "summary": _summary(data),
        "source": f"grace/{data.get('source') or 'model_registry'}",
        "severity": _PAGERDUTY_SEVERITY[severity],
        "timestamp": isoformat(event.timestamp),
        "component": data.get("model_id"),
        "group": data.get("resource_type"),
        "class": "model_degradation",
        "custom_details": {
            "reasons": list(data.get("reasons") or []),
            "version": data.get("version"),
            "incident_id": data.get("incident_id"),
            "incident": links.incident(data.get("incident_id")),
            "description": data.get("description"),
        },
    }
    body["links"] = [{"href": links.incident(data.get("incident_id")), "text": "Grace incident"}]
    if data.get("runbook_url"):
        body["links"].append({"href": data["runbook_url"], "text": "Runbook"})
    return body


def _slack_text(event: Event, links: AlertLinks) -> tuple[str, list[str]]:
    """(the headline, the lines below it) of one event."""
    data = event.data
    model = event.resource_id or data.get("model_id") or "?"
    kind = event.event_type
    if kind in _PAGERDUTY_ACTION:
        verb = {"trigger": "Incident", "acknowledge": "Acknowledged", "resolve": "Resolved"}[
            _PAGERDUTY_ACTION[kind]
        ]
        head = f"{verb}: {data.get('title')} [{str(data.get('severity', '')).upper()}]"
        lines = [f"*Model:* {model}  *Version:* {data.get('version') or '-'}"]
        reasons = data.get("reasons") or []
        if reasons:
            lines.append("*Reasons:* " + "; ".join(str(r) for r in reasons))
        who = data.get("resolved_by") or data.get("acknowledged_by")
        if who and kind != EventType.ALERT_TRIGGERED:
            lines.append(f"*By:* {who}")
        incident = data.get("incident_id")
        lines.append(f"<{links.incident(incident)}|Incident {incident}>")
        if data.get("runbook_url"):
            lines.append(f"<{data['runbook_url']}|Runbook>")
        return head, lines
    run = data.get("execution_id")
    if kind == EventType.APPROVAL_REQUESTED:
        head = f"Approval requested: roll back {model} {data.get('version') or ''}".rstrip()
        lines = [
            str(data.get("message") or ""),
            f"Approve: POST <{links.execution(run, 'approve')}> (an operate token)",
            f"Deny: POST <{links.execution(run, 'deny')}> (an operate token)",
        ]
        return head, lines
    if kind == EventType.PLAYBOOK_STARTED:
        return f"Remediation started: {data.get('playbook')} on {model}", [
            f"<{links.execution(run)}|Run {run}>"
        ]
    if kind == EventType.PLAYBOOK_FINISHED:
        return f"Remediation {data.get('status')}: {data.get('playbook')} on {model}", [
            f"<{links.execution(run)}|Run {run}>"
        ]
    word = "held" if kind == EventType.REMEDIATION_HELD else "refused"
    return f"Remediation {word} for {model} ({data.get('reason')})", [
        str(data.get("message") or ""),
        f"<{links.execution(run)}|Run {run}>",
    ]


def slack_message(event: Event, links: AlertLinks) -> dict[str, Any]:
    """An incoming-webhook message: a plain ``text`` fallback and ``blocks``."""
    head, lines = _slack_text(event, links)
    lines = [line for line in lines if line]
    return {
        "text": f"{head} — " + " ".join(lines) if lines else head,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}},
        ],
    }


def alertmanager_alerts(
    event: Event, links: AlertLinks, *, firing_for: timedelta, now: datetime
) -> list[dict[str, Any]] | None:
    """The alerts to POST to Alertmanager's /api/v2/alerts for an ``alert.*`` event (None for
    anything else).  A firing alert ends at ``now + firing_for`` unless sent again first, so
    it outlives a Grace that stopped by that much and no more; a resolve ends it now."""
    data = event.data
    if event.event_type not in ALERTMANAGER_TYPES:
        return None
    resolved = event.event_type == EventType.ALERT_RESOLVED
    opened = data.get("opened_at") or isoformat(event.timestamp)
    alert = {
        "labels": {
            "alertname": "GraceIncident",
            "incident_id": str(data.get("incident_id")),
            "model_id": str(data.get("model_id")),
            "version": str(data.get("version") or ""),
            "severity": str(data.get("severity") or ""),
            "service": "grace",
        },
        "annotations": {
            "summary": _summary(data),
            "description": str(data.get("description") or ""),
            "runbook_url": str(data.get("runbook_url") or ""),
        },
        "startsAt": opened,
        "endsAt": isoformat(now if resolved else now + firing_for),
        "generatorURL": links.incident(data.get("incident_id")),
    }
    return [alert]
