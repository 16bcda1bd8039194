"""Delivery to a real NATS server with JetStream: the stream is made when missing, each event
is published to grace.events.<event_type> with Nats-Msg-Id, and a retry is deduplicated."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import nats
import pytest
from nats.js.errors import NotFoundError

from grace.adapters.nats_sender import STREAM, NatsSender
from grace.bootstrap import Grace, build
from grace.domain.delivery import Subscription, SubscriptionKind
from grace.domain.events import Event, EventType
from tests.conftest import make_settings
from tests.helpers import register
from tests.integration.test_delivery import FAST, until


@pytest.fixture
async def clean_stream(nats_server: str) -> AsyncIterator[str]:
    """The server, without the GRACE_EVENTS stream before and after the test."""
    client = await nats.connect(nats_server)
    js = client.jetstream()
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(STREAM)
    yield nats_server
    with contextlib.suppress(NotFoundError):
        await js.delete_stream(STREAM)
    await client.close()


async def _messages(url: str) -> list[tuple[str, dict[str, str], dict[str, object]]]:
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        info = await js.stream_info(STREAM)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(STREAM, seq)
            found.append(
                (
                    message.subject or "",
                    dict(message.headers or {}),
                    json.loads(message.data or b""),
                )
            )
        return found
    finally:
        await client.close()


async def test_events_reach_jetstream_with_their_id(sqlite_url: str, clean_stream: str) -> None:
    grace: Grace = build(make_settings(sqlite_url, **FAST))
    grace.follower.start()
    grace.delivery.start()
    try:
        created = await grace.subscriptions.create("nats", clean_stream)
        assert created.generated_secret is None
        register(grace.registry, "fraud", "1", production=True)
        stored = grace.events.list_events(limit=10)
        await until(lambda: grace.subscriptions.counts(created.subscription.id)["delivered"] == 2)
        messages = await _messages(clean_stream)
    finally:
        await grace.aclose()
    assert [subject for subject, _, _ in messages] == [
        "grace.events.model.registered",
        "grace.events.model.stage_changed",
    ]
    assert [headers["Nats-Msg-Id"] for _, headers, _ in messages] == [e.event_id for e in stored]
    body = messages[0][2]
    assert body["specversion"] == "1.0"
    assert body["type"] == "grace.model.registered.v1"
    assert body["id"] == stored[0].event_id


async def test_a_retried_event_is_stored_once(clean_stream: str) -> None:
    """Sent twice (a crash between send and record), JetStream keeps one copy."""
    sender = NatsSender(timeout=5)
    subscription = Subscription(
        1, SubscriptionKind.NATS, clean_stream, None, None, datetime.now(UTC)
    )
    event = Event.of(
        EventType.MODEL_REGISTERED, "test", f"m-{uuid.uuid4().hex[:6]}", {}, datetime.now(UTC)
    ).stored(1)
    try:
        first = await sender.send(subscription, event)
        second = await sender.send(subscription, event)
    finally:
        await sender.close()
    assert first.acknowledged
    assert second.acknowledged
    assert len(await _messages(clean_stream)) == 1


async def test_an_unreachable_server_is_a_failed_attempt() -> None:
    sender = NatsSender(timeout=1)
    subscription = Subscription(
        1, SubscriptionKind.NATS, "nats://127.0.0.1:9", None, None, datetime.now(UTC)
    )
    event = Event.of(EventType.MODEL_REGISTERED, "test", "m", {}, datetime.now(UTC)).stored(1)
    outcome = await sender.send(subscription, event)
    await sender.close()
    assert not outcome.acknowledged
    assert outcome.error
