"""The delivery benchmark runs end to end: the worker against a bare loop, latency and time to
heal under ``grace serve``, and the snapshot path with and without subscriptions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks import bench_delivery

pytestmark = pytest.mark.slow


def test_quick_delivery_benchmark_measures_all_four_figures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results = tmp_path / "delivery.json"
    status = bench_delivery.main(["--quick", "--json", str(results)])
    out = capsys.readouterr().out
    assert status == 0, out
    report = json.loads(results.read_text())
    assert report["throughput_rounds"][0]["grace_per_s"] > 0
    assert report["throughput_rounds"][0]["bare_per_s"] > 0
    assert report["latency_ms"]["events"] >= 200  # every event arrived
    assert report["heal_ms"]["rollbacks"] == 10  # every dependent heard of its rollback
    assert report["snapshot_rounds"][0]["ratio"] > 0
    assert len(report["checks"]) == 4
