"""Delivery of events to a local webhook, against what the transport alone can do.

The receiver (``benchmarks/receiver.py``, its own process) answers every POST with 204 and
notes when each CloudEvent arrived.  Four figures, each beside its peer or target:

1. Throughput: Grace's delivery worker draining ``--events`` logged events (100 models) to
   the receiver, against a bare loop posting the same bodies (CloudEvent, signed) to the same
   receiver through the same HTTP clients (the webhook sender's lanes) and the same number in
   flight (16), no durability; three alternating rounds.  Target: at least 0.5 of the bare loop.
2. End-to-end latency under ``grace serve``: snapshots POSTed at ``--rate`` a second for
   ``--seconds``; from each event's time (stamped as its snapshot is written, just before the
   commit) to its receipt; p50 and p99.  Target: p99 under 100 ms.
3. Time to heal under ``grace serve``: ``--rollbacks`` models, each with a dependent webhook
   and auto-remediation on; from sending the breaching snapshot's POST to the receipt of the
   ``grace.model.rolled_back.v1`` CloudEvent by the dependent; p50 and p99.  Target: p99 under
   100 ms (Flagger's analysis alone takes at least one 60 s interval).
4. The snapshot path's cost: ``record_performance_snapshot`` with two active subscriptions
   (their deliveries made meanwhile by a ``grace deliver`` process, as ``grace serve`` runs
   it) against none, alternating rounds in the same run, each after the deliveries of the
   one before have drained.  Target: at least 0.8 of the rate with none.

    python benchmarks/bench_delivery.py
    python benchmarks/bench_delivery.py --quick      # a smoke run of a few seconds
    python benchmarks/bench_delivery.py --json results.json
"""

from __future__ import annotations

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import httpx

from benchmarks.bench_http import HEALTHY, free_port, percentile, say
from grace.adapters.http_post import Lanes
from grace.bootstrap import Grace, build
from grace.domain.delivery import CLOUDEVENTS_CONTENT_TYPE, cloud_event, encode, sign
from grace.domain.events import Event
from grace.model_registry import DeploymentStage, ModelPerformanceSnapshot
from grace.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEGRADED = {**HEALTHY, "error_rate": 0.2, "ood_rate": 0.3}


def settings(path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{path}", webhook_allowed_hosts="127.0.0.1", access_log=False
    )


@dataclass
class Results:
    load_average: list[float] = field(default_factory=list)
    throughput_rounds: list[dict[str, float]] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    heal_ms: dict[str, float] = field(default_factory=dict)
    snapshot_rounds: list[dict[str, float]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)


# -- processes -------------------------------------------------------------------------------
def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with status {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def process(argv: list[str], ready: str, env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("w") as out:
        child = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            _wait_ready(ready, child)
            yield
        finally:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)


@contextmanager
def receiver(workdir: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, str(ROOT / "benchmarks" / "receiver.py"), str(port)]
    with process(argv, f"{base}/healthz", dict(os.environ), workdir / "receiver.log"):
        yield base


@contextmanager
def grace_serve(workdir: Path, name: str) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRACE_")}
    env |= {
        "GRACE_DATABASE_URL": f"sqlite:///{workdir / name}.db",
        "GRACE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "GRACE_ACCESS_LOG": "false",
        "GRACE_REMEDIATION_COOLDOWN_MINUTES": "0",
        # 200 rollbacks in a minute: past the fleet's default limit of 20 an hour
        "GRACE_REMEDIATION_MAX_FLEET_PER_HOUR": "100000",
    }
    argv = [str(Path(sys.executable).parent / "grace"), "serve", "--port", str(port)]
    with process(argv, f"{base}/healthz", env, workdir / f"{name}.log"):
        yield base


def notes(base: str) -> list[list[Any]]:
    found: list[list[Any]] = httpx.get(f"{base}/dump", timeout=30).json()
    return found


def count(base: str) -> int:
    return int(httpx.get(f"{base}/count", timeout=10).text)


def reset(base: str) -> None:
    httpx.post(f"{base}/reset", timeout=10)


def _production(grace: Grace, model: str) -> None:
    grace.registry.register_model(
        model, "1", expected_latency_p95_ms=245.3, constitutional_compliance=True,
        bias_check_passed=True,
    )  # fmt: skip
    grace.registry.update_deployment_status(model, DeploymentStage.PRODUCTION, "1")


# -- 1. throughput ---------------------------------------------------------------------------
def _snapshot(model: str) -> ModelPerformanceSnapshot:
    return ModelPerformanceSnapshot(model_id=model, version="1", **cast(Any, HEALTHY))


async def _fill(grace: Grace, events: int, models: Sequence[str]) -> list[Event]:
    head = grace.events.latest_seq()
    for n in range(events):
        await grace.registry.record_performance_snapshot(_snapshot(models[n % len(models)]))
    logged: list[Event] = []
    while len(logged) < events:  # a page holds at most 1,000
        after = logged[-1].seq if logged else head
        logged += grace.events.list_events(after_seq=after, limit=events - len(logged))
    return logged


async def _wait_count(base: str, expected: int) -> float:
    async with httpx.AsyncClient(timeout=10) as probe:
        deadline = time.perf_counter() + 120
        while True:
            got = int((await probe.get(f"{base}/count")).text)
            if got >= expected:
                return time.perf_counter()
            if time.perf_counter() > deadline:
                raise RuntimeError(f"only {got} of {expected} events arrived")
            await asyncio.sleep(0.05)  # a coarse poll, not to take the worker's loop


async def bare_loop(base: str, events: Sequence[Event], secret: str, concurrency: int) -> float:
    """The same bodies and headers, the same HTTP clients (the webhook sender's lanes), the
    same number in flight; no durability, no order."""
    limit = asyncio.Semaphore(concurrency)
    lanes = Lanes(timeout=10.0)
    origin = ("http", base.removeprefix("http://"))

    async def post(event: Event) -> None:
        async with limit:
            body = encode(cloud_event(event))
            now = int(time.time())
            headers = {
                "content-type": CLOUDEVENTS_CONTENT_TYPE,
                "webhook-id": event.event_id,
                "webhook-timestamp": str(now),
                "webhook-signature": sign([secret], event.event_id, now, body),
            }
            async with lanes.lend(origin) as client:
                answer = await client.post(f"{base}/hook", content=body, headers=headers)
            answer.raise_for_status()

    try:
        started = time.perf_counter()
        await asyncio.gather(*(post(e) for e in events))
        return time.perf_counter() - started
    finally:
        await lanes.close()


async def throughput(workdir: Path, base: str, events: int, rounds: int, res: Results) -> None:
    grace = build(settings(workdir / "throughput.db"))
    models = [f"model_{i:03d}" for i in range(100)]
    for model in models:
        _production(grace, model)
    created = await grace.subscriptions.create("webhook", f"{base}/hook")
    secret = created.generated_secret or ""
    grace.follower.start()
    try:
        for n in range(rounds):
            logged = await _fill(grace, events, models)  # the worker is not running: queued
            reset(base)
            started = time.perf_counter()
            grace.delivery.start()
            done = await _wait_count(base, events)
            await grace.delivery.stop()
            grace_s = done - started
            reset(base)
            bare_s = await bare_loop(base, logged, secret, concurrency=16)
            if count(base) != events:
                raise RuntimeError(f"the bare loop delivered {count(base)} of {events} events")
            row = {
                "grace_per_s": events / grace_s,
                "bare_per_s": events / bare_s,
                "ratio": bare_s / grace_s,
            }
            res.throughput_rounds.append(row)
            say(
                f"  round {n + 1}: Grace {row['grace_per_s']:,.0f} events/s, bare loop "
                f"{row['bare_per_s']:,.0f} /s, ratio {row['ratio']:.2f}"
            )
    finally:
        grace.close()


def _warm_up(client: httpx.Client, api: str, base: str, model: str) -> None:
    """One event through to the receiver, so that the delivery process is up and holds the
    subscriptions before anything is timed."""
    client.post(f"{api}/models/{model}/performance", json={"version": "1", **HEALTHY})
    client.post(f"{api}/models/{model}/rollback", params={"reason": "warm-up"})
    deadline = time.monotonic() + 60
    while count(base) < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the delivery process delivered nothing within 60 s")
        time.sleep(0.05)
    time.sleep(0.5)
    reset(base)


# -- 2. end-to-end latency -----------------------------------------------------------------
def _time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def latency(workdir: Path, base: str, rate: int, seconds: float, res: Results) -> None:
    with grace_serve(workdir, "latency") as api_base, httpx.Client(timeout=10) as client:
        api = f"{api_base}/api/model-registry"
        for i in range(10):
            client.post(f"{api}/models", json={"model_id": f"m{i}", "version": "1"})
        made = client.post(f"{api}/subscriptions", json={"kind": "webhook", "url": f"{base}/hook"})
        made.raise_for_status()
        _warm_up(client, api, base, "m0")
        total = int(rate * seconds)
        started = time.perf_counter()
        for n in range(total):
            due = started + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            body = {"version": "1", **HEALTHY}
            client.post(f"{api}/models/m{n % 10}/performance", json=body).raise_for_status()
        deadline = time.monotonic() + 60
        while count(base) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        got = [n for n in notes(base) if n[1] == "grace.model.performance_snapshot.v1"]
    delays = [(at - _time(stamp)) * 1000 for at, _, _, _, stamp in got]
    res.latency_ms = {
        "events": len(delays),
        "p50": percentile(delays, 50),
        "p99": percentile(delays, 99),
        "max": max(delays),
    }
    say(
        f"  {len(delays)} events at {rate}/s: p50 {res.latency_ms['p50']:.1f} ms, "
        f"p99 {res.latency_ms['p99']:.1f} ms, max {res.latency_ms['max']:.1f} ms"
    )


# -- 3. time to heal -------------------------------------------------------------------------
def heal(workdir: Path, base: str, rollbacks: int, res: Results) -> None:
    with grace_serve(workdir, "heal") as api_base, httpx.Client(timeout=10) as client:
        api = f"{api_base}/api/model-registry"
        models = [f"svc_{i:03d}" for i in range(rollbacks + 1)]  # the first warms up
        for model in models:
            for version in ("1", "2"):
                client.post(f"{api}/models", json={"model_id": model, "version": version})
                client.post(
                    f"{api}/models/{model}/versions/{version}/stage",
                    json={"stage": "production", "override_governance": True, "reason": "b"},
                ).raise_for_status()
            client.patch(f"{api}/models/{model}/settings", json={"auto_remediate": True})
            client.post(
                f"{api}/models/{model}/dependents", json={"name": "billing", "url": f"{base}/hook"}
            ).raise_for_status()
        _warm_up(client, api, base, models[0])
        models = models[1:]
        sent: dict[str, float] = {}
        for model in models:
            sent[model] = time.time()
            answer = client.post(
                f"{api}/models/{model}/performance", json={"version": "2", **DEGRADED}
            )
            answer.raise_for_status()
            time.sleep(0.05)
        deadline = time.monotonic() + 60
        while count(base) < rollbacks and time.monotonic() < deadline:
            time.sleep(0.05)
        got = {n[2]: n[0] for n in notes(base) if n[1] == "grace.model.rolled_back.v1"}
    delays = [(got[m] - sent[m]) * 1000 for m in models if m in got]
    res.heal_ms = {
        "rollbacks": len(delays),
        "p50": percentile(delays, 50),
        "p99": percentile(delays, 99),
        "max": max(delays),
    }
    say(
        f"  {len(delays)} of {rollbacks} rollbacks heard: p50 {res.heal_ms['p50']:.1f} ms, "
        f"p99 {res.heal_ms['p99']:.1f} ms, max {res.heal_ms['max']:.1f} ms"
    )


# -- 4. the snapshot path's cost -------------------------------------------------------------
async def snapshot_cost(
    workdir: Path, base: str, snapshots: int, rounds: int, res: Results
) -> None:
    async def make(name: str, subscriptions: int) -> Grace:
        grace = build(settings(workdir / f"{name}.db"))
        for i in range(100):
            _production(grace, f"m{i}")
        for _ in range(subscriptions):
            await grace.subscriptions.create("webhook", f"{base}/hook")
        grace.follower.start()
        return grace

    async def timed(grace: Grace) -> float:
        started = time.perf_counter()
        for n in range(snapshots):
            await grace.registry.record_performance_snapshot(_snapshot(f"m{n % 100}"))
            await asyncio.sleep(0)  # a turn of the loop, as a server gives between requests
        return snapshots / (time.perf_counter() - started)

    async def drained(grace: Grace) -> None:
        """Wait until the worker has caught up, so that no round pays for another's work."""
        head = grace.events.latest_seq()
        while any(  # noqa: ASYNC110 - the state polled is in the database
            s.cursor < head for s in grace.subscriptions.list_subscriptions()
        ) or grace.subscriptions.deliveries(status="pending", limit=1):
            await asyncio.sleep(0.05)

    quiet, busy = await make("none", 0), await make("two", 2)
    deliverer = _deliver_process(workdir / "two.db")
    try:
        await timed(quiet)  # warm-up
        await timed(busy)
        for n in range(rounds):
            await drained(busy)
            none_rate = await timed(quiet)
            two_rate = await timed(busy)
            row = {"none_per_s": none_rate, "two_per_s": two_rate, "ratio": two_rate / none_rate}
            res.snapshot_rounds.append(row)
            say(
                f"  round {n + 1}: no subscription {none_rate:,.0f} /s, two subscriptions "
                f"{two_rate:,.0f} /s, ratio {row['ratio']:.2f}"
            )
        await asyncio.sleep(1)
        delivered = busy.subscriptions.deliveries(status="delivered", limit=1)
        say(f"  deliveries made meanwhile: up to id {delivered[0].id if delivered else 0}")
    finally:
        deliverer.terminate()
        deliverer.wait(15)
        for grace in (quiet, busy):
            grace.close()


def _deliver_process(database: Path) -> subprocess.Popen[bytes]:
    """``grace deliver`` over ``database``: the delivery process ``grace serve`` runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRACE_")}
    env["GRACE_WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    argv = [str(Path(sys.executable).parent / "grace"), "deliver"]
    return subprocess.Popen([*argv, "--database-url", f"sqlite:///{database}"], env=env)


# -- the run ---------------------------------------------------------------------------------
def check(res: Results, target: str, measured: str, passed: bool) -> None:
    res.checks.append({"target": target, "measured": measured, "passed": passed})
    say(f"  {'PASS' if passed else 'MISS'}  {target}: {measured}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rollbacks", type=int, default=200)
    parser.add_argument("--snapshots", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.seconds, args.rollbacks, args.snapshots, args.rounds = 200, 1, 10, 300, 1
    res = Results(load_average=list(os.getloadavg()))
    say(f"load average {res.load_average[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="grace-delivery-") as tmp:
        workdir = Path(tmp)
        with receiver(workdir) as base:
            say("1. throughput to one local webhook (Grace's worker against a bare loop)")
            asyncio.run(throughput(workdir, base, args.events, args.rounds, res))
            say(f"2. end-to-end latency at {args.rate} events/s under grace serve")
            latency(workdir, base, args.rate, args.seconds, res)
            say(f"3. time to heal over {args.rollbacks} rollbacks under grace serve")
            heal(workdir, base, args.rollbacks, res)
            say("4. record_performance_snapshot with two subscriptions against none")
            asyncio.run(snapshot_cost(workdir, base, args.snapshots, args.rounds, res))
    ratio = statistics.median(r["ratio"] for r in res.throughput_rounds)
    cost = statistics.median(r["ratio"] for r in res.snapshot_rounds)
    say(f"load average {os.getloadavg()[0]:.2f}")
    check(res, "throughput >= 0.5 of the bare loop", f"{ratio:.2f} (median)", ratio >= 0.5)
    p99 = res.latency_ms["p99"]
    check(res, "end-to-end p99 < 100 ms at 200/s", f"{p99:.1f} ms", p99 < 100)
    heal_p99 = res.heal_ms["p99"]
    check(res, "time to heal p99 < 100 ms", f"{heal_p99:.1f} ms", heal_p99 < 100)
    check(res, "snapshot path >= 0.8 with two subscriptions", f"{cost:.2f} (median)", cost >= 0.8)
    if args.json:
        args.json.write_text(json.dumps(asdict(res), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
