"""``grace demo``: a small fleet, healthy traffic, one model degrading, and Grace healing it.

Everything shown at the end is read back from the database by a second,
freshly built Grace, so what you see is what was persisted.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta

from grace.bootstrap import Grace, build
from grace.domain.snapshots import ModelPerformanceSnapshot
from grace.domain.stages import DeploymentStage
from grace.settings import Settings

__all__ = ["FLEET", "run_demo"]

# (model_id, versions in release order, expected p95 in ms)
FLEET: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("fraud_detector_v3", ("3.1.5", "3.2.1"), 245.3),
    ("churn_predictor", ("1.0.0", "1.1.0"), 120.0),
    ("product_recommender", ("2.4.0",), 80.0),
    ("credit_scorer", ("5.0.2",), 310.0),
    ("support_router", ("0.9.1",), 60.0),
)
DEGRADING = "fraud_detector_v3"

Printer = Callable[[str], None]


def _snapshot(
    model_id: str,
    version: str,
    expected_p95: float,
    minutes_ago: float,
    rng: random.Random,
    grace: Grace,
    *,
    bad: bool = False,
) -> ModelPerformanceSnapshot:
    p95 = expected_p95 * rng.uniform(0.85, 1.05)
    return ModelPerformanceSnapshot(
        model_id=model_id,
        version=version,
        timestamp=grace.clock.now() - timedelta(minutes=minutes_ago),
        latency_p50_ms=round(p95 * 0.5, 1),
        latency_p95_ms=round(p95, 1),
        latency_p99_ms=round(p95 * 1.4, 1),
        requests_per_second=round(rng.uniform(150, 300), 1),
        error_rate=0.085 if bad else round(rng.uniform(0.001, 0.02), 4),
        ood_rate=0.22 if bad else round(rng.uniform(0.01, 0.08), 4),
        input_drift_score=0.35 if bad else round(rng.uniform(0.02, 0.12), 3),
        accuracy=0.81 if bad else round(rng.uniform(0.9, 0.95), 3),
    )


async def _scenario(grace: Grace, say: Printer) -> None:
    registry = grace.registry
    rng = random.Random(7)
    say("1. Registering the fleet and promoting each release through the governance gates")
    for model_id, versions, p95 in FLEET:
        for version in versions:
            registry.register_model(
                model_id,
                version,
                owner="ml-platform",
                tags=["demo"],
                expected_latency_p95_ms=p95,
                constitutional_compliance=True,
                bias_check_passed=True,
                calibration_error=0.04,
                stage=DeploymentStage.STAGING,
            )
            registry.update_deployment_status(
                model_id, DeploymentStage.PRODUCTION, version, reason="release", actor="demo"
            )
        say(f"   {model_id}: {', '.join(versions)} -> {versions[-1]} in production")
    registry.configure_model(DEGRADING, auto_remediate=True)
    say(f"   auto-remediation switched on for {DEGRADING} (off by default for the others)")

    say("2. Healthy traffic for every production model, from 25 to 11 minutes ago")
    for model_id, versions, p95 in FLEET:
        for minute in range(25, 10, -1):
            await registry.record_performance_snapshot(
                _snapshot(model_id, versions[-1], p95, minute, rng, grace)
            )
    fleet = await registry.monitor_production_models(window_minutes=30)
    say(
        f"   monitor over 30 minutes: {fleet['healthy']} healthy, {fleet['degraded']} degraded, "
        f"{fleet['failing']} failing"
    )

    say(f"3. {DEGRADING} 3.2.1 starts failing: 8.5% errors, 22% OOD, drift 0.35")
    for _ in range(12):
        result = await registry.record_performance_snapshot(
            _snapshot(DEGRADING, "3.2.1", 245.3, 0, rng, grace, bad=True)
        )
        done = result.check.get("remediation") if result.check else None
        if result.check and done:
            say(f"   triggers fired: {', '.join(result.check['reasons'])}")
            say(
                f"   remediation: playbook {done['playbook']} run #{done['execution_id']} "
                f"{done['status']}, {done['from_version']} -> {done['to_version']}"
            )
            break

    say("4. Traffic continues on the restored version")
    for minute in (3, 2, 1):
        await registry.record_performance_snapshot(
            _snapshot(DEGRADING, "3.1.5", 245.3, minute, rng, grace)
        )
    fleet = await registry.monitor_production_models(window_minutes=10)
    say(
        f"   monitor over 10 minutes: {fleet['healthy']} healthy, {fleet['degraded']} degraded, "
        f"{fleet['failing']} failing, {fleet['no_data']} without recent data"
    )


def _report(grace: Grace, say: Printer) -> None:
    registry, incidents, engine = grace.registry, grace.incidents, grace.engine
    say("5. Read back from the database by a freshly started Grace")
    production = registry.get_production_version(DEGRADING)
    rolled = registry.get_model(DEGRADING, "3.2.1")
    say(
        f"   {DEGRADING}: production is now {production.version if production else None}; "
        f"3.2.1 is {rolled.status.value} (trust score {rolled.trust_score:.2f})"
    )
    for incident in incidents.list_incidents(resource_id=DEGRADING):
        say(f"   incident #{incident.id} [{incident.severity.value}, {incident.status.value}]")
        say(f"     {incident.title}")
        for line in incident.description.splitlines():
            say(f"     {line}")
        for entry in incidents.get_incident(incident.id).timeline:
            say(f"     - {entry.kind}: {entry.message}")
    for run in engine.list_executions(DEGRADING):
        say(f"   playbook run #{run.id} {run.playbook}: {run.status.value}")
        for step in run.steps:
            say(f"     {step.name:<30} {step.status.value:<9} {step.duration_ms:7.2f} ms")
    say("   stage history:")
    for change in registry.get_stage_history(DEGRADING):
        origin = change.from_stage.value if change.from_stage else "(new)"
        say(
            f"     {change.version:<6} {origin:>11} -> {change.to_stage.value:<11} "
            f"{change.cause.value}"
        )
    health = registry.get_model_health_summary(DEGRADING)
    say(f"   health of {DEGRADING} {health['version']}: {health['health_status']}")


def run_demo(settings: Settings, say: Printer = print) -> None:
    grace = build(settings)
    try:
        asyncio.run(_scenario(grace, say))
    finally:
        grace.close()
    reread = build(settings)
    try:
        _report(reread, say)
    finally:
        reread.close()
