"""Every Python block of the integration guide runs, as written, and does what the guide says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from grace.bootstrap import build
from grace.model_registry import DeploymentStage
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "model-registry-integration-guide.md"


def _run_guide(database_url: str) -> tuple[dict[str, dict[str, Any]], str]:
    env = {**os.environ, "GRACE_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.guide_runner", str(GUIDE)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    steps = {}
    for line in done.stdout.splitlines():
        if line.startswith("STEP "):
            record = json.loads(line.removeprefix("STEP "))
            steps[record["step"]] = record
    return steps, done.stdout


def test_the_guides_examples_run_against_a_real_database(tmp_path: Path) -> None:
    """Callbacks, monitoring loop, Examples 1-3 and the testing block all run and persist."""
    url = f"sqlite:///{tmp_path / 'guide.db'}"
    steps, stdout = _run_guide(url)

    assert steps["blocks"]["count"] == 7
    assert "Production Health: 0 healthy, 0 degraded, 0 failing" in stdout
    # Example 2 ingests the guide's degraded metrics: the callbacks open an incident and heal.
    assert steps["example2"]["production"] == "3.1.5"
    tracked = dict(map(tuple, steps["example1"]["tracked"]))
    assert tracked == {
        "models.production.healthy": 0,
        "models.production.degraded": 0,
        "models.production.failing": 1,
    }
    assert "🚨 Model test_model requires attention!" in stdout
    assert steps["example3"] == {"step": "example3", "promoted": True, "refused": False}
    assert "❌ Constitutional compliance check required" in stdout
    assert "⚠️ No latency SLO defined" in stdout
    assert steps["testing"]["summary"]["model_id"] == "fraud_detector_v3"
    assert steps["testing"]["health"]["total_models"] == 3
    assert steps["testing"]["health"]["failing"] == 1
    assert steps["testing"]["dry_run"]["reasons"] == ["High error rate: 15.00%"]

    # What the guide's code did is in the database, read by a fresh process's worth of Grace.
    grace = build(make_settings(url))
    try:
        (incident,) = grace.incidents.list_incidents(resource_id="fraud_detector_v3")
        assert incident.severity.value == "high"
        assert incident.title == "Model performance degradation detected: Fraud Detector V3"
        (run,) = grace.engine.list_executions("fraud_detector_v3")
        assert run.status.value == "succeeded"
        rolled = grace.registry.get_model("fraud_detector_v3", "3.2.1")
        assert rolled.status is DeploymentStage.ROLLBACK
        churn = grace.registry.get_model("churn_predictor")
        assert churn.status is DeploymentStage.PRODUCTION
        assert grace.registry.get_model("unvetted_model").status is DeploymentStage.DEVELOPMENT
        # The dry run of the testing block changed nothing: test_model is still in production.
        assert grace.registry.get_model("test_model").status is DeploymentStage.PRODUCTION
    finally:
        grace.close()
