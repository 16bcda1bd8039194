"""The HTTP benchmark runs end to end against a real ``grace serve`` and prints its figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from benchmarks import bench_http

LABELS = [(label, bench_http.target_ratio(op)) for op, label in bench_http.TARGET_OPS]


def test_quick_http_benchmark_prints_and_writes_every_figure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A tiny run (Grace only) times the five operations, the batch and concurrent clients."""
    results = tmp_path / "bench.json"

    status = bench_http.main(
        [
            "--quick",
            "--no-mlflow",
            "--requests",
            "15",
            "--warmup",
            "20",
            "--batch-size",
            "500",
            "--batch-models",
            "5",
            "--batch-repeats",
            "2",
            "--concurrency",
            "5",
            "--seconds",
            "2",
            "--json",
            str(results),
        ]
    )

    out = capsys.readouterr().out
    assert status == 0, out
    for label, ratio in LABELS:
        assert re.search(rf"^{re.escape(label)}\s+\d+\.\d{{3}}\s", out, re.MULTILINE), label
        assert re.search(rf"^\s+SKIP\s+{re.escape(label)} >= {ratio:g}x MLflow", out, re.MULTILINE)
    assert re.search(r"client floor .*GET \d+\.\d+ ms, POST \d+\.\d+ ms", out)
    assert re.search(r"bare FastAPI app .*key \d+\.\d+ ms, POST of one insert \d+\.\d+ ms", out)
    assert re.search(r"PASS\s+batch of 500 snapshots in one request < 1 s: best [\d.]+ s", out)
    assert re.search(r"PASS\s+5 concurrent clients posting snapshots: no errors: 0 errors", out)
    assert re.search(r"commit \S+; load average [\d.]+ [\d.]+ [\d.]+", out)

    doc = json.loads(results.read_text())
    assert doc["environment"]["load_average_at_start"]
    assert "grace_commit" in doc["environment"]
    grace = doc["servers"]["grace"]
    assert "mlflow" not in doc["servers"]
    assert grace["warmup_requests"] >= 20
    assert grace["warmup_block_rates"]
    for op, _ in bench_http.TARGET_OPS:
        stats = grace["ops"][op]
        assert stats["count"] >= 15
        assert 0 < stats["median_ms"] <= stats["p95_ms"] <= stats["p99_ms"]
    for method in ("get", "post"):
        bare = doc["framework_floor"][method]
        assert bare["count"] >= 15
        assert 0 < bare["median_ms"] <= bare["p99_ms"]
    batch = doc["batch"]
    assert batch["stored"] == 500
    assert batch["checks"] == 5
    assert len(batch["runs_s"]) == 2
    concurrency = doc["concurrency"]
    assert concurrency["clients"] == 5
    assert concurrency["errors"] == 0
    assert concurrency["requests"] > 0
    assert concurrency["throughput_per_s"] > 0
    assert concurrency["p50_ms"] <= concurrency["p99_ms"]
    assert {c["verdict"] for c in doc["checks"]} <= {"PASS", "FAIL", "SKIP"}
