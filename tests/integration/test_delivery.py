"""Delivery to real receivers on loopback: signed CloudEvents, retries and their rules, dead
letters and replays, per-model order, filters, refused targets, misbehaving receivers and a
model's dependents told of its rollback."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from grace.adapters.http_post import AddressRefused, HttpPoster, check_target
from grace.adapters.webhook import WebhookSender
from grace.bootstrap import Grace, build
from grace.domain.delivery import DeliveryStatus, Subscription, SubscriptionKind
from grace.domain.events import Event, EventType
from grace.errors import InvalidInput
from tests.conftest import make_settings
from tests.helpers import DEGRADED, HEALTHY, register, snapshot
from tests.receivers import Received, WebhookReceiver, always, webhook_receiver

MODEL = "fraud_detector_v3"

FAST = {
    "webhook_allowed_hosts": "127.0.0.1",
    "delivery_retry_base_seconds": 0.05,
    "delivery_retry_cap_seconds": 0.2,
    "delivery_poll_seconds": 0.02,
    "delivery_lease_seconds": 2.0,
    "webhook_timeout_seconds": 1.0,
}


@pytest.fixture
async def delivering(sqlite_url: str) -> AsyncIterator[Grace]:
    """A Grace on the real clock whose delivery worker runs, retrying quickly."""
    async for instance in _delivering(sqlite_url):
        yield instance


@pytest.fixture
async def delivering_anywhere(database_url: str) -> AsyncIterator[Grace]:
    """As ``delivering``, on each database in turn."""
    async for instance in _delivering(database_url):
        yield instance


async def _delivering(url: str) -> AsyncIterator[Grace]:
    instance = build(make_settings(url, **FAST))
    instance.follower.start()
    instance.delivery.start()
    yield instance
    await instance.aclose()


async def until(condition: Callable[[], Any], seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


async def subscribe(grace: Grace, receiver: WebhookReceiver, **filters: Any) -> Subscription:
    created = await grace.subscriptions.create("webhook", receiver.url, **filters)
    receiver.secret = created.generated_secret
    return created.subscription


async def snapshots(grace: Grace, count: int, model: str = MODEL) -> None:
    for _ in range(count):
        await grace.registry.record_performance_snapshot(
            snapshot(model, "1", at=grace.clock.now(), base=HEALTHY)
        )


def statuses(grace: Grace, subscription: Subscription) -> dict[str, int]:
    return grace.subscriptions.counts(subscription.id)


async def test_signed_cloud_events_reach_a_real_receiver_in_seq_order(
    delivering_anywhere: Grace,
) -> None:
    grace = delivering_anywhere
    with webhook_receiver() as receiver:
        await subscribe(grace, receiver)
        register(grace.registry, MODEL, "1", production=True)
        await snapshots(grace, 3)
        stored = grace.events.list_events(limit=100)
        await until(lambda: len(receiver.accepted()) == len(stored))
    got = receiver.accepted()
    assert all(r.verified for r in got), "every signature verifies with standardwebhooks"
    assert [r.headers["webhook-id"] for r in got] == [e.event_id for e in stored]
    assert {r.headers["content-type"] for r in got} == {"application/cloudevents+json"}
    first = got[0].cloud_event
    assert first["specversion"] == "1.0"
    assert first["id"] == stored[0].event_id
    assert first["type"] == "grace.model.registered.v1"
    assert first["subject"] == MODEL
    assert first["source"] == "/grace/model_registry"
    assert first["data"]["event_type"] == "model.registered"
    assert first["data"]["seq"] == stored[0].seq
    assert [r.cloud_event["data"]["seq"] for r in got] == [e.seq for e in stored]


async def test_a_failing_receiver_is_retried_and_every_attempt_is_stored(
    delivering: Grace,
) -> None:
    answers = itertools.chain([(503, {}), (429, {"Retry-After": "0"})], itertools.repeat((204, {})))
    with webhook_receiver(behaviour=lambda _r: next(answers)) as receiver:
        subscription = await subscribe(delivering, receiver)
        register(delivering.registry, MODEL, "1")
        await until(lambda: len(receiver.accepted()) == 1)
        await until(lambda: statuses(delivering, subscription)["delivered"] == 1)
    (delivery,) = delivering.subscriptions.deliveries(subscription_id=subscription.id)
    full = delivering.subscriptions.delivery(delivery.id)
    assert full.status is DeliveryStatus.DELIVERED
    assert full.tries == 3
    assert [a.status_code for a in full.attempts] == [503, 429, 204]
    assert all(a.duration_ms > 0 for a in full.attempts)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # the same id each try


async def test_retry_after_is_honoured(delivering: Grace) -> None:
    answers = itertools.chain([(503, {"Retry-After": "1"})], itertools.repeat((200, {})))
    with webhook_receiver(behaviour=lambda _r: next(answers)) as receiver:
        await subscribe(delivering, receiver)
        register(delivering.registry, MODEL, "1")
        await until(lambda: len(receiver.accepted()) == 1)
    first, second = receiver.received
    assert second.at - first.at >= 0.95


async def test_a_refusal_is_a_dead_letter_at_once_and_a_replay_delivers_it(
    delivering: Grace,
) -> None:
    refusing = True

    def answer(_: Received) -> tuple[int, dict[str, str]]:
        return (400, {}) if refusing else (200, {})

    with webhook_receiver(behaviour=answer) as receiver:
        subscription = await subscribe(delivering, receiver)
        register(delivering.registry, MODEL, "1")
        await until(lambda: statuses(delivering, subscription)["dead"] == 1)
        (dead,) = delivering.subscriptions.deliveries(status="dead")
        assert (dead.tries, dead.last_status_code) == (1, 400)
        refusing = False
        replayed = delivering.subscriptions.replay_delivery(dead.id)
        assert replayed.status is DeliveryStatus.PENDING
        await until(lambda: statuses(delivering, subscription)["delivered"] == 1)
    assert len(receiver.received) == 2
    with pytest.raises(Exception, match="only a dead letter is replayed"):
        delivering.subscriptions.replay_delivery(dead.id)


async def test_out_of_tries_is_a_dead_letter(sqlite_url: str) -> None:
    grace = build(make_settings(sqlite_url, **FAST, delivery_max_tries=3))
    grace.follower.start()
    grace.delivery.start()
    try:
        with webhook_receiver(behaviour=always(500)) as receiver:
            subscription = await subscribe(grace, receiver)
            register(grace.registry, MODEL, "1")
            await until(lambda: statuses(grace, subscription)["dead"] == 1)
        (dead,) = grace.subscriptions.deliveries(status="dead")
        assert dead.tries == 3
        assert len(receiver.received) == 3
    finally:
        await grace.aclose()


async def test_410_gone_disables_the_subscription(delivering: Grace) -> None:
    with webhook_receiver(behaviour=always(410)) as receiver:
        subscription = await subscribe(delivering, receiver)
        register(delivering.registry, MODEL, "1")
        register(delivering.registry, MODEL, "2")
        await until(lambda: not delivering.subscriptions.get(subscription.id).active)
        await asyncio.sleep(0.2)
    disabled = delivering.subscriptions.get(subscription.id)
    assert disabled.disabled_reason == "the receiver answered 410 Gone"
    assert len(receiver.received) == 1  # nothing more is sent to it


async def test_a_retrying_model_holds_back_only_its_own_later_events(
    delivering_anywhere: Grace,
) -> None:
    """Model a's first event fails three times; model b's events go on meanwhile; a's arrive
    in order once its first succeeds."""
    delivering = delivering_anywhere
    failures = {"left": 3}

    def answer(received: Received) -> tuple[int, dict[str, str]]:
        if received.cloud_event["subject"] == "a" and failures["left"] > 0:
            failures["left"] -= 1
            return (503, {})
        return (204, {})

    with webhook_receiver(behaviour=answer) as receiver:
        await subscribe(delivering, receiver)
        register(delivering.registry, "a", "1")
        register(delivering.registry, "a", "2")
        register(delivering.registry, "b", "1")
        register(delivering.registry, "b", "2")
        await until(lambda: len(receiver.accepted()) == 4)
    order = [(r.cloud_event["subject"], r.cloud_event["data"]["seq"]) for r in receiver.accepted()]
    a = [seq for subject, seq in order if subject == "a"]
    b = [seq for subject, seq in order if subject == "b"]
    assert a == sorted(a)
    assert b == sorted(b)
    assert order.index(("b", b[-1])) < order.index(("a", a[0])), "b was not held back by a"


async def test_filters_choose_the_events(delivering: Grace) -> None:
    with webhook_receiver() as receiver:
        subscription = await subscribe(
            delivering, receiver, event_types=["model.stage_changed"], model_ids=["a"]
        )
        register(delivering.registry, "a", "1", production=True)
        register(delivering.registry, "b", "1", production=True)
        await until(lambda: delivering.subscriptions.get(subscription.id).cursor >= 4)
        await until(lambda: len(receiver.accepted()) == 1)
    (got,) = receiver.accepted()
    assert (got.cloud_event["subject"], got.cloud_event["type"]) == (
        "a",
        "grace.model.stage_changed.v1",
    )


async def test_a_subscription_is_replayed_from_a_seq(delivering: Grace) -> None:
    with webhook_receiver() as receiver:
        subscription = await subscribe(delivering, receiver)
        register(delivering.registry, MODEL, "1")
        register(delivering.registry, MODEL, "2")
        await until(lambda: len(receiver.accepted()) == 2)
        second = receiver.accepted()[1].cloud_event["data"]["seq"]
        assert delivering.subscriptions.replay(subscription.id, second) == 1
        await until(lambda: len(receiver.accepted()) == 3)
    assert receiver.accepted()[2].cloud_event["data"]["seq"] == second


async def test_a_subscription_starts_at_the_head_of_the_log(delivering: Grace) -> None:
    register(delivering.registry, MODEL, "1")
    with webhook_receiver() as receiver:
        await subscribe(delivering, receiver)
        register(delivering.registry, MODEL, "2")
        await until(lambda: len(receiver.accepted()) == 1)
        await asyncio.sleep(0.1)
    assert [r.cloud_event["data"]["version"] for r in receiver.accepted()] == ["2"]


async def test_internal_targets_are_refused_when_subscribing(sqlite_url: str) -> None:
    """Without GRACE_WEBHOOK_ALLOWED_HOSTS loopback, private and metadata targets are 422s."""
    grace = build(make_settings(sqlite_url))
    try:
        for url in (
            "http://127.0.0.1:9/hook",
            "http://localhost:9/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/x",
            "http://10.0.0.1/x",
        ):
            with pytest.raises(InvalidInput) as refused:
                await grace.subscriptions.create("webhook", url)
            assert refused.value.field == "url"
        assert grace.subscriptions.list_subscriptions() == []
    finally:
        grace.close()


async def test_the_target_is_checked_again_at_each_connection() -> None:
    """A name that resolved to a public address when subscribing and now resolves to a
    private one is refused at the connection (DNS rebinding)."""

    async def rebound(_host: str, _port: int) -> list[str]:
        return ["10.0.0.7"]

    with pytest.raises(AddressRefused, match=r"10\.0\.0\.7"):
        await check_target(
            "http://hooks.example.com/x",
            allowed_hosts=frozenset(),
            allowed_networks=(),
            resolve=rebound,
        )
    sender = WebhookSender(HttpPoster(resolve=rebound))
    event = Event.of(EventType.MODEL_REGISTERED, "test", "m", {}, _now()).stored(1)
    outcome = await sender.send(_webhook("http://hooks.example.com/x"), event)
    await sender.close()
    assert outcome.status_code is None
    assert outcome.error is not None
    assert "10.0.0.7" in outcome.error


def _now() -> Any:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.now(UTC)


def _webhook(url: str) -> Subscription:
    return Subscription(1, SubscriptionKind.WEBHOOK, url, None, None, _now())


async def _raw_server(answer: bytes | None) -> tuple[asyncio.Server, int]:
    """A TCP server that answers ``answer`` (garbage), hangs (None) or closes (b'')."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(65536)
            if answer is None:
                await asyncio.sleep(2)
            elif answer:
                writer.write(answer)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


@pytest.mark.parametrize(
    ("answer", "words"),
    [(None, "timed out"), (b"garbage\r\n\r\n", "Protocol"), (b"", "disconnected")],
)
async def test_a_misbehaving_receiver_is_a_recorded_failed_attempt(
    answer: bytes | None, words: str
) -> None:
    server, port = await _raw_server(answer)
    sender = WebhookSender(
        HttpPoster(
            timeout=0.5, allowed_networks=(__import__("ipaddress").ip_network("127.0.0.0/8"),)
        )
    )
    event = Event.of(EventType.MODEL_REGISTERED, "test", "m", {}, _now()).stored(1)
    try:
        outcome = await sender.send(_webhook(f"http://127.0.0.1:{port}/x"), event)
    finally:
        await sender.close()
        server.close()
        await asyncio.sleep(2.1 if answer is None else 0)  # the hanging handler ends
        await server.wait_closed()
    assert outcome.status_code is None
    assert outcome.error is not None
    assert words in outcome.error
    assert outcome.duration_ms < 2000


async def test_dependents_hear_of_a_rollback_and_the_run_shows_their_delivery(
    delivering: Grace,
) -> None:
    grace = delivering
    register(grace.registry, MODEL, "3.1.5", production=True)
    register(grace.registry, MODEL, "3.2.1", production=True)
    grace.registry.configure_model(MODEL, auto_remediate=True)
    with webhook_receiver() as billing:
        created = await grace.subscriptions.add_dependent(MODEL, "billing", billing.url)
        billing.secret = created.generated_secret
        result = await grace.registry.record_performance_snapshot(
            snapshot(MODEL, "3.2.1", at=grace.clock.now(), base=DEGRADED)
        )
        assert result.check is not None
        remediation = result.check["remediation"]
        assert remediation is not None
        await until(lambda: len(billing.accepted()) == 1)
        execution = grace.engine.get_execution(remediation["execution_id"])
        await until(
            lambda: (
                (grace.subscriptions.dependents_told(execution) or [{}])[0]["delivery"]["status"]
                == "delivered"
            )
        )
    (got,) = billing.accepted()
    assert got.verified
    event = got.cloud_event
    assert event["type"] == "grace.model.rolled_back.v1"
    assert event["subject"] == MODEL
    data = event["data"]
    assert (data["from_version"], data["to_version"]) == ("3.2.1", "3.1.5")
    assert data["reason"].startswith("auto-remediation")
    assert data["incident_id"] == result.check["incident_id"]
    (told,) = grace.subscriptions.dependents_told(execution) or []
    assert told["name"] == "billing"
    step = next(s for s in execution.steps if s.name == "notify_dependent_services")
    assert step.detail["dependents"][0]["name"] == "billing"


async def test_a_manual_rollback_tells_the_dependents_too(delivering: Grace) -> None:
    grace = delivering
    register(grace.registry, MODEL, "1", production=True)
    register(grace.registry, MODEL, "2", production=True)
    with webhook_receiver() as search:
        created = await grace.subscriptions.add_dependent(MODEL, "search", search.url)
        search.secret = created.generated_secret
        await grace.registry.rollback(MODEL, reason="bad release", target_version="1")
        await until(lambda: len(search.accepted()) == 1)
    data = search.accepted()[0].cloud_event["data"]
    assert (data["from_version"], data["to_version"], data["reason"]) == ("2", "1", "bad release")
    assert data["incident_id"] is None
    with pytest.raises(InvalidInput, match="already has a dependent"):
        await grace.subscriptions.add_dependent(MODEL, "search", search.url)
    assert [d.dependent_name for d in grace.subscriptions.dependents(MODEL)] == ["search"]
    grace.subscriptions.remove_dependent(MODEL, "search")
    assert grace.subscriptions.dependents(MODEL) == []


async def test_during_a_secret_rotation_both_secrets_sign(delivering: Grace) -> None:
    """Receivers holding the old or the new secret both verify until the rotation ends."""
    grace = delivering
    with webhook_receiver() as old_holder:
        subscription = await subscribe(grace, old_holder)
        old_secret = old_holder.secret
        rotated = grace.subscriptions.rotate_secret(subscription.id)
        assert rotated.generated_secret is not None
        assert rotated.subscription.to_dict()["secrets_in_use"] == 2
        register(grace.registry, MODEL, "1")
        await until(lambda: len(old_holder.accepted()) == 1)
        (got,) = old_holder.accepted()
        assert got.verified  # with the old secret
        assert got.headers["webhook-signature"].count("v1,") == 2
        old_holder.secret = rotated.generated_secret
        old_holder.received.clear()
        grace.subscriptions.drop_previous_secret(subscription.id)
        register(grace.registry, MODEL, "2")
        await until(lambda: len(old_holder.accepted()) == 1)
        (after,) = old_holder.accepted()
    assert after.verified  # with the new one
    assert after.headers["webhook-signature"].count("v1,") == 1
    assert old_secret
    assert old_secret not in str(grace.subscriptions.get(subscription.id).to_dict())
