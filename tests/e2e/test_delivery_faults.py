"""Delivery under faults, against a real receiver on loopback: one that fails half its
requests at random, one that is down for a while, and ``grace serve`` killed with SIGKILL in
the middle of delivering and started again.  Each ends with every event delivered (each id
received at least once) and each model's events first received in seq order."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from grace.bootstrap import Grace, build
from tests.conftest import make_settings
from tests.e2e.test_serve import GRACE, _free_port
from tests.helpers import HEALTHY, register, snapshot
from tests.integration.test_delivery import FAST, subscribe, until
from tests.receivers import Received, WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.slow

MODELS = ("a", "b", "c", "d", "e")


def check_complete_and_ordered(receiver: WebhookReceiver, expected: dict[str, int]) -> None:
    """Every expected id accepted at least once; per model, first acceptances in seq order."""
    first: dict[str, tuple[str, int]] = {}
    for got in receiver.accepted():
        event = got.cloud_event
        first.setdefault(event["id"], (event["subject"], event["data"]["seq"]))
    assert set(first) == set(expected), "every event delivered, none lost"
    by_model: dict[str, list[int]] = defaultdict(list)
    for event_id in dict.fromkeys(r.cloud_event["id"] for r in receiver.accepted()):
        model, seq = first[event_id]
        by_model[model].append(seq)
    for model, seqs in by_model.items():
        assert seqs == sorted(seqs), f"{model}'s events arrived out of order"


async def _fleet(grace: Grace, per_model: int) -> dict[str, int]:
    for model in MODELS:
        register(grace.registry, model, "1", production=True)
    for _ in range(per_model):
        for model in MODELS:
            await grace.registry.record_performance_snapshot(
                snapshot(model, "1", at=grace.clock.now(), base=HEALTHY)
            )
    return {e.event_id: e.seq or 0 for e in grace.events.list_events(limit=1000)}


async def test_a_receiver_failing_half_its_requests_gets_everything_in_order(
    sqlite_url: str,
) -> None:
    chance = random.Random(7)

    def flaky(_: Received) -> tuple[int, dict[str, str]] | None:
        roll = chance.random()
        if roll < 0.25:
            return (503, {})
        if roll < 0.4:
            return None  # the connection closes unanswered
        if roll < 0.5:
            return (429, {"Retry-After": "0"})
        return (204, {})

    grace = build(make_settings(sqlite_url, **FAST, delivery_max_tries=100))
    grace.follower.start()
    grace.delivery.start()
    try:
        with webhook_receiver(behaviour=flaky) as receiver:
            await subscribe(grace, receiver)
            expected = await _fleet(grace, 20)
            await until(lambda: len({*receiver.accepted_ids()}) >= len(expected), 60)
        check_complete_and_ordered(receiver, expected)
        assert len(receiver.received) > len(expected)  # there were failures to retry
    finally:
        await grace.aclose()


async def test_a_receiver_down_for_a_while_gets_everything_once_back(sqlite_url: str) -> None:
    grace = build(make_settings(sqlite_url, **FAST, delivery_max_tries=100))
    grace.follower.start()
    grace.delivery.start()
    receiver = WebhookReceiver()
    receiver.start()
    try:
        await subscribe(grace, receiver)
        receiver.stop()  # down: connections are refused
        expected = await _fleet(grace, 6)
        await asyncio.sleep(1.5)
        assert receiver.accepted() == []
        receiver.start()  # back, on the same port
        await until(lambda: len({*receiver.accepted_ids()}) >= len(expected), 60)
        check_complete_and_ordered(receiver, expected)
    finally:
        receiver.stop()
        await grace.aclose()


def _delivery_children(parent: int) -> list[int]:
    """The delivery processes that ``parent`` started and that still run (Linux /proc)."""
    mark = f"GRACE_DELIVERY_PARENT_PID={parent}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _serve(database: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "GRACE_DATABASE_URL": f"sqlite:///{database}",
        "GRACE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "GRACE_DELIVERY_LEASE_SECONDS": "2",
        "GRACE_DELIVERY_RETRY_BASE_SECONDS": "0.05",
        "GRACE_DELIVERY_RETRY_CAP_SECONDS": "0.5",
        "GRACE_DELIVERY_MAX_TRIES": "100",
    }
    process = subprocess.Popen(
        [GRACE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("grace serve did not start")


def test_grace_serve_killed_mid_delivery_delivers_everything_after_a_restart(
    tmp_path: Path,
) -> None:
    def slow(_: Received) -> tuple[int, dict[str, str]]:
        time.sleep(0.01)  # deliveries are in flight when the kill comes
        return (204, {})

    database = tmp_path / "g.db"
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api/model-registry"
    with webhook_receiver(behaviour=slow) as receiver:
        process = _serve(database, port)
        try:
            made = httpx.post(
                f"{api}/subscriptions", json={"kind": "webhook", "url": receiver.url}, timeout=10
            ).json()
            receiver.secret = made["secret"]
            for model in MODELS:
                httpx.post(f"{api}/models", json={"model_id": model, "version": "1"}, timeout=10)
            for n in range(60):
                model = MODELS[n % len(MODELS)]
                body = {"version": "1", **HEALTHY}
                answer = httpx.post(f"{api}/models/{model}/performance", json=body, timeout=10)
                assert answer.status_code == 201, answer.text
            while len(receiver.accepted()) < 10:
                time.sleep(0.01)
            killed = process.pid
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            received_before = len(receiver.accepted())
            deadline = time.monotonic() + 10
            while _delivery_children(killed):  # its delivery process dies with it
                assert time.monotonic() < deadline, "the delivery process outlived grace serve"
                time.sleep(0.1)
            process = _serve(database, port)
            events = httpx.get(f"{api}/events", params={"limit": 1000}, timeout=10).json()
            expected = {e["id"]: e["seq"] for e in events["items"]}
            deadline = time.monotonic() + 60
            while len({*receiver.accepted_ids()}) < len(expected):
                assert time.monotonic() < deadline, "not everything arrived after the restart"
                time.sleep(0.05)
        finally:
            process.kill()
            process.wait(10)
    assert received_before < len(expected), "the kill came in the middle of delivering"
    check_complete_and_ordered(receiver, expected)
    assert all(r.verified for r in receiver.accepted())
