"""Webhook deliveries: a CloudEvent POSTed to the subscription's URL, signed per Standard
Webhooks 1.0, through the checked, pinned, bounded POST of :mod:`grace.adapters.http_post`."""

from __future__ import annotations

import time

from grace.adapters.http_post import HttpPoster
from grace.domain.delivery import (
    CLOUDEVENTS_CONTENT_TYPE,
    Outcome,
    Subscription,
    cloud_event,
    encode,
    sign,
)
from grace.domain.events import Event

__all__ = ["WebhookSender"]


class WebhookSender:
    def __init__(self, poster: HttpPoster, *, source_prefix: str = "/grace") -> None:
        self._poster = poster
        self._source = source_prefix

    async def send(self, subscription: Subscription, event: Event) -> Outcome:
        body = encode(cloud_event(event, self._source))
        timestamp = int(time.time())
        headers = {
            "content-type": CLOUDEVENTS_CONTENT_TYPE,
            "webhook-id": event.event_id,
            "webhook-timestamp": str(timestamp),
        }
        if subscription.secrets:
            headers["webhook-signature"] = sign(
                subscription.secrets, event.event_id, timestamp, body
            )
        return (await self._poster.post(subscription.url, body, headers)).outcome

    async def close(self) -> None:
        await self._poster.close()
