"""The alert payloads (grace.domain.alerts) and alert routing (Subscription.matches), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from grace.domain.alerts import (
    AlertLinks,
    alertmanager_alerts,
    pagerduty_event,
    routed_types,
    slack_message,
)
from grace.domain.delivery import Subscription, SubscriptionKind
from grace.domain.events import Event, EventType
from grace.domain.severity import Severity
from grace.errors import InvalidInput

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LINKS = AlertLinks("https://grace.example/")


def _alert(event_type: str, **data: Any) -> Event:
    base = {
        "incident_id": 7,
        "dedup_key": "grace-incident-7",
        "severity": "high",
        "title": "Model performance degradation detected: Fraud",
        "model_id": "fraud",
        "version": "3.2.1",
        "reasons": ["High error rate: 8.50%"],
        "runbook_url": None,
        "opened_at": "2026-12-03T11:59:00Z",
    }
    return Event.of(event_type, "remediation", "fraud", {**base, **data}, AT)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("critical", "critical"), ("high", "error"), ("medium", "warning"), ("low", "info")],
)
def test_pagerduty_severity_is_mapped(severity: str, expected: str) -> None:
    body = pagerduty_event(_alert(EventType.ALERT_TRIGGERED, severity=severity), "key", LINKS)
    assert body is not None
    assert body["payload"]["severity"] == expected


def test_a_pagerduty_summary_is_at_most_1024_characters() -> None:
    event = _alert(EventType.ALERT_TRIGGERED, reasons=["x" * 3000])
    body = pagerduty_event(event, "key", LINKS)
    assert body is not None
    assert len(body["payload"]["summary"]) == 1024
    assert body["payload"]["summary"].endswith("…")
    assert body["client_url"] == "https://grace.example/api/model-registry/incidents/7"


def test_pagerduty_acknowledge_and_resolve_carry_only_what_they_need() -> None:
    for event_type, action in [
        (EventType.ALERT_ACKNOWLEDGED, "acknowledge"),
        (EventType.ALERT_RESOLVED, "resolve"),
    ]:
        body = pagerduty_event(_alert(event_type), "key", LINKS)
        assert body is not None
        assert body["event_action"] == action
        assert body["dedup_key"] == "grace-incident-7"
        assert "payload" not in body
    assert pagerduty_event(_alert(EventType.PLAYBOOK_STARTED), "key", LINKS) is None


def test_slack_has_a_fallback_text_and_blocks_and_approval_links() -> None:
    message = slack_message(_alert(EventType.ALERT_TRIGGERED), LINKS)
    assert message["text"].startswith("Incident: Model performance degradation")
    assert [b["type"] for b in message["blocks"]] == ["header", "section"]
    asked = Event.of(
        EventType.APPROVAL_REQUESTED,
        "remediation",
        "fraud",
        {"execution_id": 12, "version": "3.2.1", "message": "waiting for approval"},
        AT,
    )
    text = slack_message(asked, LINKS)["blocks"][1]["text"]["text"]
    assert "/api/model-registry/executions/12/approve" in text
    assert "/api/model-registry/executions/12/deny" in text


def test_alertmanager_firing_ends_later_and_resolved_ends_now() -> None:
    later = timedelta(minutes=15)
    (firing,) = alertmanager_alerts(
        _alert(EventType.ALERT_TRIGGERED), LINKS, firing_for=later, now=AT
    ) or [{}]
    (resolved,) = alertmanager_alerts(
        _alert(EventType.ALERT_RESOLVED), LINKS, firing_for=later, now=AT
    ) or [{}]
    assert firing["endsAt"] == "2026-12-03T12:15:00Z"
    assert resolved["endsAt"] == "2026-12-03T12:00:00Z"
    assert firing["startsAt"] == "2026-12-03T11:59:00Z"
    assert firing["labels"]["alertname"] == "GraceIncident"
    assert (
        alertmanager_alerts(_alert(EventType.PLAYBOOK_STARTED), LINKS, firing_for=later, now=AT)
        is None
    )


def _sub(**routing: Any) -> Subscription:
    return Subscription(1, SubscriptionKind.SLACK, "https://x/y", None, None, AT, **routing)


def test_routing_by_severity_passes_events_that_say_none() -> None:
    sub = _sub(min_severity=Severity.HIGH)
    assert sub.matches(_alert(EventType.ALERT_TRIGGERED, severity="critical"))
    assert sub.matches(_alert(EventType.ALERT_TRIGGERED, severity="high"))
    assert not sub.matches(_alert(EventType.ALERT_TRIGGERED, severity="medium"))
    assert sub.matches(Event.of(EventType.PLAYBOOK_STARTED, "x", "fraud", {}, AT))


def test_routing_by_tags_needs_the_tagged_models() -> None:
    sub = _sub(tags=("payments",))
    event = _alert(EventType.ALERT_TRIGGERED)
    assert sub.matches(event, frozenset({"fraud"}))
    assert not sub.matches(event, frozenset({"other"}))
    assert not sub.matches(event)


def test_an_alerting_kind_takes_only_what_it_can_carry() -> None:
    assert routed_types(SubscriptionKind.PAGERDUTY, None) == (
        EventType.ALERT_TRIGGERED,
        EventType.ALERT_ACKNOWLEDGED,
        EventType.ALERT_RESOLVED,
    )
    assert routed_types(SubscriptionKind.WEBHOOK, None) is None
    with pytest.raises(InvalidInput, match=r"cannot take model\.rolled_back"):
        routed_types(SubscriptionKind.PAGERDUTY, ("model.rolled_back",))
