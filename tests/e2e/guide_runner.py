"""Run every Python block of the integration guide, as written, against a real database.

Usage: ``GRACE_DATABASE_URL=sqlite:///... python -m tests.e2e.guide_runner GUIDE.md``

The only edit made to the guide's code is the one its readers make: ``backend.services.``
and ``backend.`` become ``grace.``.  The runner supplies what the guide leaves to the reader
(the imports its examples assume, a fake ``ml_server`` and ``track_metric``, a seeded fleet)
and drives the functions the blocks define.  It prints one JSON line per step, prefixed
with ``STEP``, for the test to check.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from grace.model_registry import DeploymentStage, ModelPerformanceSnapshot, get_registry

BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def guide_blocks(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [
        block.replace("backend.services.", "grace.").replace("backend.", "grace.")
        for block in BLOCK.findall(text)
    ]


def step(name: str, **data: Any) -> None:
    print("STEP " + json.dumps({"step": name, **data}, default=str), flush=True)


class FakeModelServer:
    """The serving infrastructure Example 2 reads metrics from: fraud_detector_v3 is degrading."""

    async def get_metrics(self, model_id: str) -> dict[str, float]:  # noqa: ARG002
        return {
            "p50_latency": 120.5,
            "p95_latency": 245.3,
            "p99_latency": 350.1,
            "rps": 250.0,
            "error_rate": 0.085,
            "ood_detection_rate": 0.22,
            "drift_score": 0.35,
        }


def seed() -> None:
    """The fleet the guide talks about, registered through the public API."""
    registry = get_registry()
    gates: dict[str, Any] = {"constitutional_compliance": True, "bias_check_passed": True}
    for version in ("3.1.5", "3.2.1"):
        registry.register_model(
            "fraud_detector_v3", version, expected_latency_p95_ms=245.3, **gates
        )
        registry.update_deployment_status("fraud_detector_v3", DeploymentStage.PRODUCTION, version)
    registry.configure_model("fraud_detector_v3", auto_remediate=True)
    registry.register_model("test_model", "1.0", expected_latency_p95_ms=50, **gates)
    registry.update_deployment_status("test_model", DeploymentStage.PRODUCTION)
    registry.register_model("churn_predictor", "2.0", expected_latency_p95_ms=80, **gates)
    registry.register_model("unvetted_model", "0.1")


async def run_block(source: str, namespace: dict[str, Any], name: str) -> None:
    code = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)  # noqa: S307 - executing the guide's own code is the point
    if inspect.iscoroutine(result):
        await result


async def main(guide: Path) -> None:
    blocks = guide_blocks(guide)
    step("blocks", count=len(blocks))
    seed()
    tracked: list[tuple[str, Any]] = []

    async def track_metric(name: str, value: Any) -> None:
        tracked.append((name, value))

    # What the guide's examples assume the reader has imported or defined.
    namespace: dict[str, Any] = {
        "__name__": "guide",
        "asyncio": asyncio,
        "datetime": datetime,
        "get_registry": get_registry,
        "ModelPerformanceSnapshot": ModelPerformanceSnapshot,
        "DeploymentStage": DeploymentStage,
        "ml_server": FakeModelServer(),
        "track_metric": track_metric,
    }
    by_marker = {
        "callbacks": next(b for b in blocks if "set_incident_callback" in b),
        "periodic": next(b for b in blocks if "monitor_models_periodically" in b),
        "playbook": next(b for b in blocks if b.lstrip().startswith("{")),
        "example1": next(b for b in blocks if "continuous_ml_monitoring" in b),
        "example2": next(b for b in blocks if "ingest_model_metrics" in b),
        "example3": next(b for b in blocks if "validate_before_production" in b),
        "testing": next(b for b in blocks if "# Test incident creation" in b),
    }
    assert len(set(by_marker.values())) == len(blocks), "every block of the guide is run"

    await run_block(by_marker["callbacks"], namespace, "guide:register-callbacks")
    step("callbacks", wired=True)

    await run_block(by_marker["periodic"], namespace, "guide:automated-monitoring")
    await asyncio.sleep(0.5)  # the background task prints one round, then sleeps 300 s
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()
    step("periodic", ran=True)

    await run_block(by_marker["playbook"], namespace, "guide:playbook-context")

    await run_block(by_marker["example2"], namespace, "guide:example-2")
    await namespace["ingest_model_metrics"]()
    registry = get_registry()
    production = registry.get_production_version("fraud_detector_v3")
    step("example2", production=production.version if production else None)

    # test_model degrades too; auto-remediation is off for it, so it stays failing.
    await registry.record_performance_snapshot(
        ModelPerformanceSnapshot(
            model_id="test_model",
            version="1.0",
            latency_p50_ms=20.0,
            latency_p95_ms=40.0,
            latency_p99_ms=60.0,
            requests_per_second=90.0,
            error_rate=0.15,
            ood_rate=0.01,
        )
    )

    await run_block(by_marker["example1"], namespace, "guide:example-1")
    with contextlib.suppress(TimeoutError):  # one round done, then it sleeps five minutes
        await asyncio.wait_for(namespace["continuous_ml_monitoring"](), timeout=1.0)
    step("example1", tracked=tracked)

    await run_block(by_marker["example3"], namespace, "guide:example-3")
    promoted = await namespace["validate_before_production"]("churn_predictor")
    refused = await namespace["validate_before_production"]("unvetted_model")
    step("example3", promoted=promoted, refused=refused)

    await run_block(by_marker["testing"], namespace, "guide:testing")
    dry_run = await registry.check_rollback_triggers("test_model", window_minutes=10)
    step("testing", summary=namespace["summary"], health=namespace["health"], dry_run=dry_run)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
