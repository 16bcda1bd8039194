"""Alerts where on-call people already are, through the outbox: PagerDuty's Events API v2
and Slack incoming webhooks (real HTTP receivers on loopback shaped like them), and a real
Prometheus Alertmanager started here on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from grace.bootstrap import Grace, build
from grace.errors import InvalidInput
from tests.conftest import make_settings
from tests.integration.test_delivery import FAST, until
from tests.receivers import Received, WebhookReceiver, always, webhook_receiver

MODEL = "fraud"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"


@pytest.fixture
async def alerting(sqlite_url: str) -> AsyncIterator[Grace]:
    grace = build(make_settings(sqlite_url, **FAST, public_url="https://grace.example"))
    grace.registry.register_model(MODEL, "1", tags=["payments"])
    grace.registry.register_model("other", "1")
    await grace.policies.update(MODEL, {"runbook_url": "https://wiki.example/fraud"})
    grace.follower.start()
    grace.delivery.start()
    yield grace
    await grace.aclose()


def _base(receiver: WebhookReceiver) -> str:
    return receiver.url.removesuffix("/hook")


async def _incident(grace: Grace, model: str = MODEL, severity: str = "high") -> int:
    made = await grace.incidents.create_incident(
        "test",
        "ml_model",
        model,
        severity,
        "Model performance degradation detected: Fraud",
        "error rate 8.5%",
        {"model_version": "1", "reasons": ["High error rate: 8.50%"]},
    )
    return made.id


def _bodies(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.accepted()]


async def test_pagerduty_hears_trigger_acknowledge_and_resolve(alerting: Grace) -> None:
    with webhook_receiver(behaviour=always(202, b'{"status":"success"}')) as pd:
        created = await alerting.subscriptions.create("pagerduty", _base(pd), secret=ROUTING_KEY)
        incident = await _incident(alerting)
        await alerting.incidents.acknowledge(incident, actor="alice")
        await alerting.incidents.resolve(incident, actor="alice")
        await until(lambda: len(pd.accepted()) == 3)
        await until(
            lambda: (
                created.subscription.id
                and alerting.subscriptions.counts(created.subscription.id)["delivered"] == 3
            )
        )

    kinds = [t.kind for t in alerting.incidents.get_incident(incident).timeline]
    assert kinds.count("alert_delivered") == 3  # each page's delivery is on the timeline
    trigger, ack, resolve = _bodies(pd)
    assert {r.path for r in pd.accepted()} == {"/v2/enqueue"}
    assert [b["event_action"] for b in (trigger, ack, resolve)] == [
        "trigger",
        "acknowledge",
        "resolve",
    ]
    assert {b["dedup_key"] for b in (trigger, ack, resolve)} == {f"grace-incident-{incident}"}
    assert {b["routing_key"] for b in (trigger, ack, resolve)} == {ROUTING_KEY}
    payload = trigger["payload"]
    assert payload["severity"] == "error"  # HIGH
    assert payload["component"] == MODEL
    assert payload["summary"].startswith("Model performance degradation detected")
    assert len(payload["summary"]) <= 1024
    assert payload["custom_details"]["reasons"] == ["High error rate: 8.50%"]
    assert payload["custom_details"]["incident"] == (
        f"https://grace.example/api/model-registry/incidents/{incident}"
    )
    assert {"href": "https://wiki.example/fraud", "text": "Runbook"} in trigger["links"]
    shown = created.subscription.to_dict()
    assert ROUTING_KEY not in json.dumps(shown)
    assert shown["event_types"] == [
        "alert.triggered",
        "alert.acknowledged",
        "alert.resolved",
    ]


async def test_pagerduty_400_is_not_retried_and_429_is(alerting: Grace) -> None:
    answers = iter([(429, {"retry-after": "0"}), (202, {})])

    def flaky(_: Received) -> tuple[int, dict[str, str]]:
        return next(answers, (202, {}))

    with webhook_receiver(behaviour=flaky) as pd, webhook_receiver(behaviour=always(400)) as bad:
        good = await alerting.subscriptions.create("pagerduty", _base(pd), secret=ROUTING_KEY)
        refused = await alerting.subscriptions.create("pagerduty", _base(bad), secret=ROUTING_KEY)
        await _incident(alerting)
        await until(lambda: alerting.subscriptions.counts(good.subscription.id)["delivered"] == 1)
        await until(lambda: alerting.subscriptions.counts(refused.subscription.id)["dead"] == 1)
    assert len(pd.received) == 2  # the 429, then the success
    (incident,) = alerting.incidents.list_incidents()
    notes = alerting.incidents.get_incident(incident.id).timeline
    assert sorted(t.kind for t in notes if t.kind.startswith("alert_")) == [
        "alert_dead",
        "alert_delivered",
    ]
    (dead,) = [t for t in notes if t.kind == "alert_dead"]
    assert "after 1 tries: 400" in dead.message
    assert len(bad.received) == 1  # a 400 is a dead letter at once


async def test_slack_gets_text_and_blocks_and_needs_ok(alerting: Grace) -> None:
    with (
        webhook_receiver(behaviour=always(200, b"ok")) as slack,
        webhook_receiver(behaviour=always(200, b"invalid_payload")) as wrong,
    ):
        await alerting.subscriptions.create("slack", slack.url + "/T0/B0/SECRETPART")
        broken = await alerting.subscriptions.create("slack", wrong.url + "/T0/B0/X")
        incident = await _incident(alerting)
        await until(lambda: len(slack.accepted()) == 1)
        await until(
            lambda: (
                alerting.subscriptions.deliveries(subscription_id=broken.subscription.id)[0].tries
                >= 2
            )
        )
    (message,) = _bodies(slack)
    assert message["text"].startswith("Incident: Model performance degradation detected")
    header, section = message["blocks"]
    assert header["type"] == "header"
    assert "HIGH" in header["text"]["text"]
    body = section["text"]["text"]
    assert "High error rate: 8.50%" in body
    assert f"/api/model-registry/incidents/{incident}" in body
    assert "https://wiki.example/fraud" in body
    (failed,) = alerting.subscriptions.deliveries(subscription_id=broken.subscription.id)
    assert "not 'ok'" in (failed.last_error or "")
    listed = [s.to_dict()["url"] for s in alerting.subscriptions.list_subscriptions()]
    assert all("SECRETPART" not in url for url in listed)


async def test_routing_by_severity_tags_models_and_kinds(alerting: Grace) -> None:
    with (
        webhook_receiver(behaviour=always(200, b"ok")) as critical_only,
        webhook_receiver(behaviour=always(200, b"ok")) as payments,
        webhook_receiver(behaviour=always(200, b"ok")) as approvals,
    ):
        await alerting.subscriptions.create("slack", critical_only.url, min_severity="critical")
        await alerting.subscriptions.create("slack", payments.url, tags=["payments"])
        await alerting.subscriptions.create(
            "slack", approvals.url, event_types=["remediation.approval_requested"]
        )
        await _incident(alerting, MODEL, "high")
        await _incident(alerting, "other", "critical")
        await until(lambda: len(critical_only.accepted()) == 1 and len(payments.accepted()) == 1)
    assert "other" in _bodies(critical_only)[0]["text"]
    assert MODEL in _bodies(payments)[0]["text"]
    assert approvals.received == []


@pytest.mark.parametrize(
    ("kind", "extra", "field", "words"),
    [
        ("pagerduty", {}, "secret", "routing key"),
        ("pagerduty", {"secret": "short"}, "secret", "routing key"),
        ("slack", {"secret": ROUTING_KEY}, "secret", "only webhooks are signed"),
        ("alertmanager", {"event_types": ["model.rolled_back"]}, "event_types", "cannot take"),
        ("pagerduty", {"secret": ROUTING_KEY, "min_severity": "urgent"}, "min_severity", "urgent"),
    ],
)
async def test_a_bad_alerting_subscription_names_the_field(
    alerting: Grace, kind: str, extra: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput, match=words) as refused:
        await alerting.subscriptions.create(kind, "http://127.0.0.1:9/x", **extra)
    assert refused.value.field == field
    assert alerting.subscriptions.list_subscriptions() == []


async def _active_alerts(base: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as client:
        answer = await client.get(f"{base}/api/v2/alerts", params={"active": "true"})
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    return [a for a in found if a["labels"].get("service") == "grace"]


async def _eventually_alerts(base: str, *, present: bool) -> list[dict[str, Any]]:
    """The active Grace alerts, once there are some (``present``) or none, within 10 s."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        found = await _active_alerts(base)
        if bool(found) is present or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_a_real_alertmanager_shows_the_alert_while_firing_and_not_once_resolved(
    alerting: Grace, alertmanager: str
) -> None:
    await alerting.subscriptions.create("alertmanager", alertmanager)
    incident = await _incident(alerting)

    (alert,) = await _eventually_alerts(alertmanager, present=True)
    assert alert["labels"]["alertname"] == "GraceIncident"
    assert alert["labels"]["model_id"] == MODEL
    assert alert["labels"]["severity"] == "high"
    assert alert["labels"]["incident_id"] == str(incident)
    assert alert["annotations"]["runbook_url"] == "https://wiki.example/fraud"
    assert alert["generatorURL"].endswith(f"/incidents/{incident}")
    assert alert["status"]["state"] == "active"
    assert await alerting.paging.refresh() == []  # sent just now: not due again yet

    await alerting.incidents.resolve(incident, actor="alice")

    assert await _eventually_alerts(alertmanager, present=False) == []


async def test_a_firing_alert_is_sent_again_before_alertmanager_forgets_it(
    sqlite_url: str, alertmanager: str
) -> None:
    grace = build(make_settings(sqlite_url, **FAST, alert_resend_minutes=0.001))
    grace.registry.register_model(MODEL, "1")
    grace.follower.start()
    grace.delivery.start()
    try:
        created = await grace.subscriptions.create("alertmanager", alertmanager)
        await _incident(grace)
        await asyncio.sleep(0.1)  # past the resend interval (60 ms)
        (refreshed,) = await grace.paging.refresh()
        assert refreshed.event_type == "alert.refreshed"
        await until(lambda: grace.subscriptions.counts(created.subscription.id)["delivered"] == 2)
        (alert,) = await _eventually_alerts(alertmanager, present=True)
        assert alert["status"]["state"] == "active"
    finally:
        await grace.aclose()
