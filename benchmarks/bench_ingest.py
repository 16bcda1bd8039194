"""Snapshot ingestion over HTTP: ``grace serve`` beside a bare FastAPI app, in the same run.

The peer (``benchmarks/bare_app.py``) is FastAPI on uvicorn validating the guide's snapshot
body and inserting it as one committed SQLite row (WAL, synchronous NORMAL): what the
framework, the server and one durable insert cost.  Grace (SQLite, open mode on 127.0.0.1)
does the whole snapshot path: validation, the version lookup, the row, the window aggregate,
the event and the trigger check, committed before it answers.

Snapshots go to ``--models`` production models in turn (100 by default, as in
``bench_core.py``).

1. One keep-alive ``httpx.Client`` per server posts ``--requests`` single snapshots, one
   after another (after ``--warmup``); the two servers take turns in three rounds, so that
   the machine's drift hits both alike.  Target: Grace at least 0.67 of the bare app's rate.
2. ``wrk`` (one thread, ``--connections`` connections, ``--seconds`` seconds, a Lua script
   posting the guide's body) against each; target: Grace on one process at least 0.5 of the
   bare app's rate, with no error and no answer other than 201.  Every acknowledged snapshot
   must be in Grace's database afterwards (counted with sqlite3).
3. The same ``wrk`` run against ``grace serve --workers 2``, reported beside them.

    python benchmarks/bench_ingest.py
    python benchmarks/bench_ingest.py --quick          # a smoke run of a few seconds
    python benchmarks/bench_ingest.py --json results.json

``wrk`` is the Debian package of that name (``apt-get install wrk``); without it the second
and third parts are skipped, and the script says so.
"""

from __future__ import annotations

if __package__ in (None, ""):  # run as a script: make the repository's packages importable
    import sys as _sys
    from pathlib import Path as _Path

    _sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from benchmarks.bench_http import (
    GRACE_API,
    HEALTHY,
    BenchError,
    Server,
    _prepare_production_models,
    bare_server,
    free_port,
    grace_command,
    percentile,
    running,
    say,
)

SINGLE_TARGET = 0.67  # one keep-alive client: Grace / bare app
CONCURRENT_TARGET = 0.5  # wrk, 50 connections, one process: Grace / bare app
ROUNDS = 3  # the single clients take turns, this many times each
PREFIX = "ingest"
BODY = {"version": "1.0.0", **HEALTHY}

# Round robin over the models, as the single client does.
WRK_SCRIPT = """\
local body = '{body}'
local headers = {{["Content-Type"] = "application/json"}}
local i = 0
request = function()
  i = i + 1
  local path = string.format("{api}/models/{prefix}-%04d/performance", i % {models})
  return wrk.format("POST", path, headers, body)
end
"""


@dataclass
class Single:
    server: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds


@dataclass
class Loaded:
    server: str
    requests: int
    seconds: float
    per_s: float
    non_2xx: int
    socket_errors: int
    p50_ms: float | None
    p99_ms: float | None
    stored: int | None = None


@dataclass
class Report:
    single: list[Single] = field(default_factory=list)
    loaded: list[Loaded] = field(default_factory=list)
    checks: list[tuple[str, str, bool | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _path(i: int, models: int) -> str:
    return f"{GRACE_API}/models/{PREFIX}-{i % models:04d}/performance"


def grace_server(workdir: Path, name: str, workers: int) -> Server:
    port = free_port()
    database = workdir / f"{name}.db"
    argv = [grace_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--database-url", f"sqlite:///{database}", "--workers", str(workers)]
    return Server(name, argv, cwd=workdir, port=port, ready_path="/healthz")


def single_clients(
    servers: Sequence[Server], requests: int, warmup: int, models: int
) -> tuple[list[Single], list[list[float]]]:
    """One keep-alive client per server; the servers take turns in ROUNDS rounds of
    ``requests / ROUNDS`` snapshots each, so that the machine's drift hits them alike.
    Returns each server's totals and each one's rate per round."""
    clients = [httpx.Client(base_url=server.base_url, timeout=30.0) for server in servers]
    latencies: list[list[float]] = [[] for _ in servers]
    seconds = [0.0 for _ in servers]
    rates: list[list[float]] = [[] for _ in servers]
    try:
        for client in clients:
            for i in range(warmup):
                _post(client, _path(i, models))
        size = max(1, requests // ROUNDS)
        for r in range(ROUNDS):
            count = size if r < ROUNDS - 1 else requests - size * (ROUNDS - 1)
            for k, client in enumerate(clients):
                started = time.perf_counter()
                for i in range(r * size, r * size + count):
                    begun = time.perf_counter()
                    _post(client, _path(i, models))
                    latencies[k].append(time.perf_counter() - begun)
                took = time.perf_counter() - started
                seconds[k] += took
                rates[k].append(count / took)
    finally:
        for client in clients:
            client.close()
    results = []
    for k, server in enumerate(servers):
        result = Single(
            server.name,
            requests,
            seconds[k],
            percentile(latencies[k], 50) * 1000,
            percentile(latencies[k], 99) * 1000,
        )
        per_round = ", ".join(f"{rate:,.0f}" for rate in rates[k])
        say(
            f"  {server.name}, one keep-alive client: {requests:,} snapshots in "
            f"{seconds[k]:.2f} s = {result.per_s:,.0f}/s (p50 {result.p50_ms:.2f} ms, "
            f"p99 {result.p99_ms:.2f} ms; per round {per_round})"
        )
        results.append(result)
    return results, rates


def _post(client: httpx.Client, path: str) -> None:
    response = client.post(path, json=BODY)
    if response.status_code != 201:
        raise BenchError(f"snapshot answered {response.status_code}: {response.text[:300]}")


def wrk(server: Server, workdir: Path, connections: int, seconds: int, models: int) -> Loaded:
    script = workdir / "post.lua"
    script.write_text(
        WRK_SCRIPT.format(body=json.dumps(BODY), api=GRACE_API, prefix=PREFIX, models=models)
    )
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        server.base_url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True)
    text = out.stdout
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", text)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if total is None or rate is None:
        raise BenchError(f"cannot read wrk's output:\n{text}\n{out.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    elapsed = float(total.group(2)) / (1000 if total.group(3) == "ms" else 1)
    result = Loaded(
        server.name,
        int(total.group(1)),
        elapsed,
        float(rate.group(1)),
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(int(n) for n in sockets.groups()) if sockets else 0,
        _latency(text, "50%"),
        _latency(text, "99%"),
    )
    say(
        f"  {server.name}, wrk {connections} connections: {result.requests:,} in "
        f"{elapsed:.1f} s = {result.per_s:,.0f}/s, {result.non_2xx} non-2xx, "
        f"{result.socket_errors} socket errors, p50 {result.p50_ms} ms, p99 {result.p99_ms} ms"
    )
    return result


def _latency(text: str, label: str) -> float | None:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if found is None:
        return None
    value, unit = float(found.group(1)), found.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def stored_snapshots(database: Path) -> int:
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute("SELECT count(*) FROM snapshots").fetchone()[0])
    finally:
        conn.close()


def run(args: argparse.Namespace) -> Report:
    report = Report()
    have_wrk = shutil.which("wrk") is not None
    if not have_wrk:
        report.notes.append("wrk is not installed (apt-get install wrk): the load runs skipped")
    with tempfile.TemporaryDirectory(prefix="grace-ingest-") as tmp:
        workdir = Path(tmp)
        say("\nbare FastAPI app (one SQLite row per request) and grace serve (one process)")
        with (
            running(bare_server(workdir), 60) as bare,
            running(grace_server(workdir, "grace", 1), 60) as grace,
        ):
            with httpx.Client(base_url=grace.base_url, timeout=30.0) as client:
                _prepare_production_models(client, PREFIX, args.models)
            before = stored_snapshots(workdir / "grace.db")
            singles, rates = single_clients([bare, grace], args.requests, args.warmup, args.models)
            report.single += singles
            ratios = ", ".join(f"{g / b:.2f}" for b, g in zip(*rates, strict=True))
            report.notes.append(f"one keep-alive client, Grace / bare app per round: {ratios}")
            if have_wrk:
                report.loaded.append(
                    wrk(bare, workdir, args.connections, args.seconds, args.models)
                )
                loaded = wrk(grace, workdir, args.connections, args.seconds, args.models)
                loaded.stored = stored_snapshots(workdir / "grace.db") - before
                loaded.stored -= args.requests + args.warmup
                report.loaded.append(loaded)
        if have_wrk:
            name = "grace-workers-2"
            say(f"\n{name} (grace serve, 2 processes)")
            with running(grace_server(workdir, name, 2), 60) as two:
                with httpx.Client(base_url=two.base_url, timeout=30.0) as client:
                    _prepare_production_models(client, PREFIX, args.models)
                before = stored_snapshots(workdir / f"{name}.db")
                loaded = wrk(two, workdir, args.connections, args.seconds, args.models)
                loaded.stored = stored_snapshots(workdir / f"{name}.db") - before
                report.loaded.append(loaded)
    evaluate(report)
    return report


def evaluate(report: Report) -> None:
    singles = {s.server: s for s in report.single}
    loads = {r.server: r for r in report.loaded}
    if "grace" in singles and "bare-fastapi" in singles:
        ratio = singles["grace"].per_s / singles["bare-fastapi"].per_s
        report.checks.append(
            (
                f"one keep-alive client: Grace >= {SINGLE_TARGET:g} x the bare app",
                f"{singles['grace'].per_s:,.0f} vs {singles['bare-fastapi'].per_s:,.0f}/s "
                f"= {ratio:.2f}",
                ratio >= SINGLE_TARGET,
            )
        )
    if "grace" in loads and "bare-fastapi" in loads:
        grace, bare = loads["grace"], loads["bare-fastapi"]
        ratio = grace.per_s / bare.per_s
        report.checks.append(
            (
                f"wrk, one process: Grace >= {CONCURRENT_TARGET:g} x the bare app",
                f"{grace.per_s:,.0f} vs {bare.per_s:,.0f}/s = {ratio:.2f}",
                ratio >= CONCURRENT_TARGET,
            )
        )
    for loaded in report.loaded:
        if loaded.server == "bare-fastapi":
            continue
        errors = loaded.non_2xx + loaded.socket_errors
        report.checks.append((f"wrk, {loaded.server}: no errors", f"{errors} errors", errors == 0))
        if loaded.stored is not None:
            report.checks.append(
                (
                    f"wrk, {loaded.server}: every acknowledged snapshot is stored",
                    f"{loaded.stored:,} stored, {loaded.requests:,} acknowledged",
                    loaded.stored >= loaded.requests,
                )
            )
    if "grace-workers-2" in loads and "bare-fastapi" in loads:
        two, bare = loads["grace-workers-2"], loads["bare-fastapi"]
        report.notes.append(
            f"grace serve --workers 2 under wrk: {two.per_s:,.0f}/s = "
            f"{two.per_s / bare.per_s:.2f} of the bare app (one process)"
        )


def print_report(report: Report) -> None:
    say("\nResults (SQLite, loopback)")
    for s in report.single:
        say(f"  one client  {s.server:16} {s.per_s:9,.0f}/s  p50 {s.p50_ms:.2f} ms")
    for r in report.loaded:
        say(
            f"  wrk         {r.server:16} {r.per_s:9,.0f}/s  p50 {r.p50_ms} ms  p99 {r.p99_ms} ms"
            f"  errors {r.non_2xx + r.socket_errors}"
        )
    say("\nTargets")
    for label, figure, passed in report.checks:
        verdict = "SKIP" if passed is None else "PASS" if passed else "FAIL"
        say(f"  {verdict}  {label}: {figure}")
    for note in report.notes:
        say(f"  note: {note}")
    say(f"  note: load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench_ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="single-client snapshots")
    parser.add_argument("--warmup", type=int, default=500, help="single-client warm-up")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument(
        "--models",
        type=int,
        default=100,
        help="production models the snapshots go to, in turn (default 100; each snapshot's "
        "trigger check aggregates its model's window, so one model posting thousands a "
        "second makes every check read a window of that many rows)",
    )
    parser.add_argument("--seconds", type=int, default=15, help="wrk duration")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument(
        "--fail-on-miss", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.warmup, args.seconds = 100, 20, 2
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    print_report(report)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "single": [asdict(s) | {"per_s": s.per_s} for s in report.single],
                    "loaded": [asdict(r) for r in report.loaded],
                    "checks": [
                        {"target": label, "figure": figure, "passed": passed}
                        for label, figure, passed in report.checks
                    ],
                    "notes": report.notes,
                },
                indent=2,
            )
        )
    missed = any(passed is False for _, _, passed in report.checks)
    return 1 if args.fail_on_miss and missed else 0


if __name__ == "__main__":
    sys.exit(main())
