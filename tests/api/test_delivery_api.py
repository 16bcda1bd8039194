"""Subscriptions, dependents and deliveries over HTTP: the secret is write-only, credentials
are masked, bad input is a 422 naming the field, and nothing is half made."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import BuildApi
from tests.api.support import API, MODEL, client_for, ok, problem
from tests.helpers import register

HOOK = "https://ops:hunter2@93.184.215.14:8443/grace?x=1"


async def test_a_subscription_shows_its_generated_secret_once_and_masks_credentials(
    build_api: BuildApi,
) -> None:
    grace, app = build_api()
    async with client_for(app) as c:
        created = ok(
            await c.post(
                f"{API}/subscriptions",
                json={"kind": "webhook", "url": HOOK, "model_ids": [MODEL]},
            ),
            201,
        )
        assert created["secret"].startswith("whsec_")
        assert created["url"] == "https://***@93.184.215.14:8443/grace?x=1"
        assert created["signed"] is True
        listed = ok(await c.get(f"{API}/subscriptions"))
        one = ok(await c.get(f"{API}/subscriptions/{created['id']}"))
        given = ok(
            await c.post(
                f"{API}/subscriptions",
                json={"kind": "webhook", "url": HOOK, "secret": "whsec_" + "QUJD" * 8},
            ),
            201,
        )
    for shown in (*listed, one, given):
        text = str(shown)
        assert "hunter2" not in text
        assert created["secret"] not in text
        assert "QUJD" not in text
    assert given["secret"] is None
    assert one["deliveries"] == {"pending": 0, "delivered": 0, "dead": 0}
    assert one["cursor"] == grace.events.latest_seq()


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"kind": "webhook", "url": "not a url"}, "url", ""),
        ({"kind": "webhook", "url": "ftp://93.184.215.14/x"}, "url", ""),
        ({"kind": "nats", "url": "https://93.184.215.14/x"}, "url", "needs a nats URL"),
        ({"kind": "carrier-pigeon", "url": HOOK}, "kind", ""),
        ({"kind": "webhook", "url": HOOK, "event_types": ["model.exploded"]}, "event_types", ""),
        ({"kind": "webhook", "url": "http://127.0.0.1:8000/x"}, "url", "loopback"),
        ({"kind": "webhook", "url": "http://169.254.169.254/latest"}, "url", "metadata"),
        ({"kind": "webhook", "url": "http://[fe80::1]/x"}, "url", "link-local"),
        ({"kind": "webhook", "url": HOOK, "secret": "whsec_QUJD"}, "secret", "must hold"),
        ({"kind": "nats", "url": "nats://127.0.0.1:4222", "secret": "whsec_" + "QUJD" * 8},
         "secret", "only webhooks"),
    ],
)  # fmt: skip
async def test_a_bad_subscription_is_a_422_naming_the_field_and_makes_nothing(
    build_api: BuildApi, body: dict[str, Any], field: str, words: str
) -> None:
    grace, app = build_api()
    async with client_for(app) as c:
        answer = problem(await c.post(f"{API}/subscriptions", json=body), 422)
    assert answer["field"] == field
    assert words in answer["detail"]
    assert grace.subscriptions.list_subscriptions() == []


async def test_allowed_hosts_open_internal_targets(build_api: BuildApi) -> None:
    _, app = build_api(webhook_allowed_hosts="10.0.0.0/8,hooks.internal")
    async with client_for(app) as c:
        for url in ("http://10.1.2.3/x", "http://hooks.internal/x"):
            ok(await c.post(f"{API}/subscriptions", json={"kind": "webhook", "url": url}), 201)
        refused = await c.post(
            f"{API}/subscriptions", json={"kind": "webhook", "url": "http://192.168.0.1/"}
        )
        problem(refused, 422)


async def test_removing_and_missing_things_answer_as_they_should(build_api: BuildApi) -> None:
    _, app = build_api()
    async with client_for(app) as c:
        made = ok(await c.post(f"{API}/subscriptions", json={"kind": "webhook", "url": HOOK}), 201)
        removed = ok(await c.delete(f"{API}/subscriptions/{made['id']}"))
        assert removed["id"] == made["id"]
        problem(await c.get(f"{API}/subscriptions/{made['id']}"), 404)
        problem(await c.delete(f"{API}/subscriptions/{made['id']}"), 404)
        problem(await c.get(f"{API}/deliveries/7"), 404)
        problem(await c.post(f"{API}/deliveries/7/replay"), 404)
        problem(await c.post(f"{API}/subscriptions/7/replay", json={"from_seq": 1}), 404)
        problem(await c.post(f"{API}/subscriptions/7/replay", json={"from_seq": 0}), 422)
        page = ok(await c.get(f"{API}/deliveries", params={"status": "dead"}))
        assert page == {"items": [], "next_before": None}
        problem(await c.get(f"{API}/deliveries", params={"status": "lost"}), 422)


async def test_dependents_over_http(build_api: BuildApi) -> None:
    grace, app = build_api()
    register(grace.registry, MODEL, "1")
    url = f"{API}/models/{MODEL}/dependents"
    async with client_for(app) as c:
        made = ok(await c.post(url, json={"name": "billing", "url": HOOK}), 201)
        assert made["dependent_name"] == "billing"
        assert made["event_types"] == ["model.rolled_back"]
        assert made["model_ids"] == [MODEL]
        problem(await c.post(url, json={"name": "billing", "url": HOOK}), 422)
        problem(await c.post(f"{API}/models/nope/dependents", json={"name": "x", "url": HOOK}), 404)
        assert [d["dependent_name"] for d in ok(await c.get(url))] == ["billing"]
        ok(await c.delete(f"{url}/billing"))
        problem(await c.delete(f"{url}/billing"), 404)
        assert ok(await c.get(url)) == []
