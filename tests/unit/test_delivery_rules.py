"""The pure rules of delivery: verdicts, backoff, the CloudEvent, signatures, URLs and the
addresses a webhook may not reach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from grace.domain.delivery import (
    Outcome,
    RetryPolicy,
    SubscriptionKind,
    Verdict,
    check_filter_list,
    check_secret,
    check_url,
    cloud_event,
    encode,
    is_refused_address,
    mask_url,
    new_secret,
    parse_allowed_hosts,
    sign,
    verdict,
)
from grace.domain.events import Event, EventType
from grace.errors import InvalidInput

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome(status_code=200), Verdict.DELIVERED),
        (Outcome(status_code=204), Verdict.DELIVERED),
        (Outcome(acknowledged=True), Verdict.DELIVERED),
        (Outcome(status_code=408), Verdict.RETRY),
        (Outcome(status_code=425), Verdict.RETRY),
        (Outcome(status_code=429), Verdict.RETRY),
        (Outcome(status_code=500), Verdict.RETRY),
        (Outcome(status_code=503), Verdict.RETRY),
        (Outcome(error="timed out after 10s"), Verdict.RETRY),
        (Outcome(error="ConnectError: refused"), Verdict.RETRY),
        (Outcome(status_code=410), Verdict.GONE),
        (Outcome(status_code=400), Verdict.GIVE_UP),
        (Outcome(status_code=404), Verdict.GIVE_UP),
        (Outcome(status_code=302), Verdict.GIVE_UP),
    ],
)
def test_what_an_answer_means(outcome: Outcome, expected: Verdict) -> None:
    """2xx delivered; 408, 425, 429, 5xx and errors retried; 410 gone; others refused."""
    assert verdict(outcome) is expected


def test_backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=60)
    assert policy.delay(1, None, 0.0) == timedelta(seconds=0.5)
    assert policy.delay(1, None, 0.999).total_seconds() == pytest.approx(1.0, abs=0.01)
    assert policy.delay(4, None, 0.0) == timedelta(seconds=4)
    assert policy.delay(30, None, 0.999).total_seconds() == pytest.approx(60, abs=0.1)
    assert policy.delay(1, 120, 0.0) == timedelta(seconds=120)  # the receiver asks for more
    assert policy.delay(1, 10**9, 0.0) == timedelta(seconds=policy.max_retry_after)


def _event() -> Event:
    return Event.of(
        EventType.PERFORMANCE_SNAPSHOT, "model_registry", "fraud", {"version": "1"}, AT
    ).stored(42)


def test_the_cloud_event_carries_the_guides_payload() -> None:
    event = _event()
    body = cloud_event(event)
    assert body == {
        "specversion": "1.0",
        "id": event.event_id,
        "source": "/grace/model_registry",
        "type": "grace.model.performance_snapshot.v1",
        "time": "2026-12-03T12:00:00Z",
        "subject": "fraud",
        "datacontenttype": "application/json",
        "data": {
            "resource_id": "fraud",
            "version": "1",
            "event_type": "model.performance_snapshot",
            "seq": 42,
        },
    }


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    """Several secrets during a rotation: the receiver holding either verifies."""
    old, new = new_secret(), new_secret()
    body = encode(cloud_event(_event()))
    timestamp = int(datetime.now(UTC).timestamp())
    header = sign([new, old], "msg_1", timestamp, body)
    assert header.count("v1,") == 2
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp)}
    for secret in (old, new):
        Webhook(secret).verify(body, {**headers, "webhook-signature": header})
    assert check_secret(new) == new


@pytest.mark.parametrize("secret", ["whsec_", "whsec_!!!", "whsec_" + "QUFB", 12])
def test_a_bad_secret_is_refused(secret: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_secret(secret)
    assert refused.value.field == "secret"


@pytest.mark.parametrize(
    ("kind", "url", "words"),
    [
        (SubscriptionKind.WEBHOOK, "ftp://example.com/x", "needs a http or https URL"),
        (SubscriptionKind.WEBHOOK, "nats://example.com", "needs a http or https URL"),
        (SubscriptionKind.NATS, "https://example.com", "needs a nats URL"),
        (SubscriptionKind.WEBHOOK, "https://", "names no host"),
        (SubscriptionKind.WEBHOOK, "https://example.com:99999/", "not a valid URL"),
        (SubscriptionKind.WEBHOOK, "https://exa mple.com/", "no spaces"),
        (SubscriptionKind.WEBHOOK, "https://example.com/#x", "#fragment"),
        (SubscriptionKind.WEBHOOK, "", "non-empty"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_field(
    kind: SubscriptionKind, url: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_url(kind, url)
    assert refused.value.field == "url"
    assert words in refused.value.detail


def test_an_unknown_event_type_is_refused() -> None:
    assert check_filter_list("event_types", ["model.rolled_back"]) == ("model.rolled_back",)
    with pytest.raises(InvalidInput, match=r"unknown event type 'model\.exploded'"):
        check_filter_list("event_types", ["model.exploded"])
    with pytest.raises(InvalidInput, match="must not be empty"):
        check_filter_list("model_ids", [])


def test_credentials_in_a_url_are_masked() -> None:
    assert mask_url("https://user:pw@hooks.example.com:8443/x?y=1") == (
        "https://***@hooks.example.com:8443/x?y=1"
    )
    assert mask_url("nats://token@127.0.0.1:4222") == "nats://***@127.0.0.1:4222"
    assert mask_url("https://hooks.example.com/x") == "https://hooks.example.com/x"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.1.1",
        "fe80::1",
        "fd00:ec2::254",
        "100.100.100.200",
        "0.0.0.0",  # noqa: S104 - an address refused, not one bound
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "100.64.0.1",
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    assert is_refused_address(address)


def test_public_addresses_pass_and_the_allow_list_opens_internal_ones() -> None:
    assert not is_refused_address("93.184.215.14")
    assert not is_refused_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    hosts, networks = parse_allowed_hosts("127.0.0.1, 10.0.0.0/8,hooks.internal")
    assert hosts == frozenset({"hooks.internal"})
    assert not is_refused_address("127.0.0.1", networks)
    assert not is_refused_address("10.9.9.9", networks)
    assert is_refused_address("192.168.0.1", networks)
    assert is_refused_address("169.254.169.254", networks)
