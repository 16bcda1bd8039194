"""The benchmark script runs end to end (``--quick``) and prints its figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from benchmarks import bench_core

BENCHMARKS = (
    "register_model",
    "promotion",
    "record_performance_snapshot",
    "check_rollback_triggers",
    "monitor_production_models",
)


def test_quick_benchmark_prints_every_figure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A tiny run measures every operation the issue names and writes them as JSON."""
    results = tmp_path / "bench.json"

    status = bench_core.main(["--quick", "--json", str(results)])

    out = capsys.readouterr().out
    assert status == 0
    for name in BENCHMARKS:
        assert re.search(rf"^{re.escape(name)}\s.*\d", out, re.MULTILINE), f"no row for {name}"
    assert re.search(r"record_performance_snapshot \[healthy, production.*[\d,]+ ops/s", out)
    assert re.search(r"monitor_production_models \[.*best [\d.]+ s, median [\d.]+ s", out)
    assert re.search(r"^\s+(PASS|FAIL)\s+record_performance_snapshot >= 2,000", out, re.MULTILINE)

    doc = json.loads(results.read_text())
    names = {m["name"] for m in doc["measurements"]}
    assert set(BENCHMARKS) <= names
    assert all(m["ops_per_s"] > 0 for m in doc["measurements"])
    monitor = [m for m in doc["measurements"] if m["name"] == "monitor_production_models"]
    assert len(monitor) == 2
    assert all(m["best_s"] <= m["median_s"] for m in monitor)
    assert {c["verdict"] for c in doc["checks"]} <= {"PASS", "FAIL", "SKIP"}
