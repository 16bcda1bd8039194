"""The ingestion benchmark runs end to end: a bare FastAPI app and ``grace serve`` under one
keep-alive client and under ``wrk``, with every acknowledged snapshot found stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks import bench_ingest

from tests.conftest import debian_package

pytestmark = pytest.mark.slow


def test_quick_ingest_benchmark_reports_both_servers_and_stores_every_ack(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    debian_package("wrk", "wrk")
    results = tmp_path / "ingest.json"
    status = bench_ingest.main(["--quick", "--json", str(results)])
    out = capsys.readouterr().out
    assert status == 0, out
    report = json.loads(results.read_text())
    assert {s["server"] for s in report["single"]} == {"bare-fastapi", "grace"}
    assert {r["server"] for r in report["loaded"]} == {"bare-fastapi", "grace", "grace-workers-2"}
    checks = {c["target"]: c for c in report["checks"]}
    # The ratios are the benchmark's to judge; errors and lost snapshots are never acceptable.
    for target, check in checks.items():
        if "no errors" in target or "stored" in target:
            assert check["passed"] is True, check
    assert any("0.67" in target for target in checks)
    assert any("0.5" in target for target in checks)
    assert "Targets" in out
