"""The alerting senders: PagerDuty (Events API v2), Slack (incoming webhooks) and
Alertmanager (``/api/v2/alerts``), each a :class:`grace.adapters.senders.Sender` over the
checked, pinned, bounded POST of :mod:`grace.adapters.http_post`.  What they send is built by
the pure :mod:`grace.domain.alerts`; whether an answer is success, a retry or a dead letter
is the outbox's rule (:func:`grace.domain.delivery.verdict`) with each receiver's own
success: PagerDuty's 202, Slack's plain ``ok``, Alertmanager's 200."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from grace.adapters.http_post import HttpPoster
from grace.domain.alerts import AlertLinks, alertmanager_alerts, pagerduty_event, slack_message
from grace.domain.delivery import Outcome, Subscription, encode
from grace.domain.events import Event

__all__ = ["AlertmanagerSender", "PagerDutySender", "SlackSender"]

_JSON = {"content-type": "application/json"}
# Not something this receiver is told of (its subscription routes only what it can take):
# nothing to send, and nothing to retry.
_NOTHING = Outcome(acknowledged=True)


class PagerDutySender:
    """``POST {url}/v2/enqueue``; the subscription's secret is the routing key."""

    def __init__(self, poster: HttpPoster, links: AlertLinks) -> None:
        self._poster = poster
        self._links = links

    async def send(self, subscription: Subscription, event: Event) -> Outcome:
        key = subscription.secrets[0] if subscription.secrets else ""
        body = pagerduty_event(event, key, self._links)
        if body is None:
            return _NOTHING
        url = subscription.url.rstrip("/") + "/v2/enqueue"
        return (await self._poster.post(url, encode(body), _JSON)).outcome

    async def close(self) -> None:
        await self._poster.close()


class SlackSender:
    """``POST {url}`` (the incoming webhook); success is a 2xx whose body is ``ok``."""

    def __init__(self, poster: HttpPoster, links: AlertLinks) -> None:
        self._poster = poster
        self._links = links

    async def send(self, subscription: Subscription, event: Event) -> Outcome:
        answer = await self._poster.post(
            subscription.url, encode(slack_message(event, self._links)), _JSON
        )
        outcome = answer.outcome
        code = outcome.status_code
        if code is not None and 200 <= code < 300 and answer.body.strip() != b"ok":
            said = answer.body[:200].decode("utf-8", "replace")
            return Outcome(
                error=f"Slack answered {code} with {said!r}, not 'ok'",
                duration_ms=outcome.duration_ms,
            )
        return outcome

    async def close(self) -> None:
        await self._poster.close()


class AlertmanagerSender:
    """``POST {url}/api/v2/alerts``: a firing alert ends ``firing_for`` after it was sent
    unless sent again (``alert.refreshed``), a resolve ends it now."""

    def __init__(self, poster: HttpPoster, links: AlertLinks, *, firing_for: timedelta) -> None:
        self._poster = poster
        self._links = links
        self._firing_for = firing_for

    async def send(self, subscription: Subscription, event: Event) -> Outcome:
        alerts = alertmanager_alerts(
            event, self._links, firing_for=self._firing_for, now=datetime.now(UTC)
        )
        if alerts is None:
            return _NOTHING
        url = subscription.url.rstrip("/") + "/api/v2/alerts"
        return (await self._poster.post(url, encode(alerts), _JSON)).outcome

    async def close(self) -> None:
        await self._poster.close()
