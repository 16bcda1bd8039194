"""One suite, two sides: every scenario runs on the in-process registry and on the client over HTTP.

The scenarios await what the registry awaits and call plainly what it calls
plainly, so the same code drives both; the expectations are the same literals.
The only difference allowed is the actor of a change: over HTTP it is the
caller (``anonymous`` on a service running open), in-process whoever is named.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import pytest

from grace.clock import FakeClock
from grace.domain.events import EventType
from grace.domain.records import ChangeCause, ModelEntry, ModelSettings
from grace.domain.snapshots import ModelPerformanceSnapshot
from grace.domain.stages import DeploymentStage
from grace.domain.triggers import TriggerThresholds
from grace.errors import (
    Conflict,
    ExecutionNotFound,
    GovernanceRefused,
    IncidentNotFound,
    InvalidInput,
    ModelNotFound,
    NoProductionVersion,
    NoStableVersion,
    VersionExists,
    VersionNotFound,
)
from tests.client.support import GATES, Backend, RegistryAPI
from tests.helpers import DEGRADED, HEALTHY, snapshot

FRAUD = "fraud_detector_v3"
PROD = DeploymentStage.PRODUCTION
GUIDE_REASONS = [
    "High error rate: 8.50%",
    "High OOD rate: 22.00%",
    "Input distribution drift: 0.350",
]
GUIDE_METRICS = {
    "avg_error_rate": 0.085,
    "avg_latency_p95_ms": 245.3,
    "avg_ood_rate": 0.22,
    "avg_drift_score": 0.35,
    "avg_accuracy": 0.89,
    "snapshot_count": 1,
}
GUIDE_CONDITIONS = [
    {
        "kind": "error_rate",
        "severity": "medium",
        "reason": "High error rate: 8.50%",
        "value": 0.085,
        "threshold": 0.05,
    },
    {
        "kind": "ood_rate",
        "severity": "medium",
        "reason": "High OOD rate: 22.00%",
        "value": 0.22,
        "threshold": 0.2,
    },
    {
        "kind": "input_drift",
        "severity": "medium",
        "reason": "Input distribution drift: 0.350",
        "value": 0.35,
        "threshold": 0.3,
    },
]


def gated(
    registry: RegistryAPI, model_id: str, version: str, *, production: bool = False, **extra: Any
) -> ModelEntry:
    """A version that passes every governance gate, optionally promoted."""
    entry = registry.register_model(model_id, version, **{**GATES, **extra})
    if production:
        entry = registry.update_deployment_status(model_id, PROD, version)
    return entry


def _snapshot_positions(registry: RegistryAPI, model_id: str) -> list[int]:
    """The log positions of the model's snapshot events, oldest first (a snapshot's id is
    its event's position)."""
    timeline = registry.get_timeline(model_id, limit=1000)
    return [e.seq or 0 for e in reversed(timeline) if e.event_type == "model.performance_snapshot"]


def fraud_fleet(registry: RegistryAPI, clock: FakeClock, *, auto_remediate: bool) -> None:
    """The guide's model: 3.1.5 was in production, 3.2.1 replaced it."""
    for version in ("3.1.5", "3.2.1"):
        gated(registry, FRAUD, version)
        clock.advance(minutes=1)
        registry.update_deployment_status(FRAUD, PROD, version)
    registry.configure_model(FRAUD, auto_remediate=auto_remediate)
    clock.advance(minutes=1)


async def test_a_registered_version_reads_back_and_cannot_be_registered_twice(
    backend: Backend, clock: FakeClock
) -> None:
    """register_model returns the entry get_model reads; a second registration is VersionExists."""
    registry = backend.registry
    entry = registry.register_model(
        FRAUD,
        "3.2.1",
        name="Fraud detector",
        description="scores card payments",
        owner="risk-team",
        tags=("fraud", "tabular"),
        artifact_uri="s3://models/fraud/3.2.1",
        calibration_error=0.04,
        metadata={"framework": "xgboost", "features": 42},
        **GATES,
    )

    assert entry.model_id == FRAUD
    assert entry.status is DeploymentStage.DEVELOPMENT
    assert entry.tags == ("fraud", "tabular")
    assert entry.metadata == {"framework": "xgboost", "features": 42}
    assert entry.expected_latency_p95_ms == 245.3
    assert entry.registered_at == clock.now()
    assert entry.deployed_at is None
    assert registry.get_model(FRAUD) == entry
    assert registry.get_model(FRAUD, "3.2.1") == entry
    with pytest.raises(VersionExists) as refused:
        registry.register_model(FRAUD, "3.2.1")
    assert (refused.value.model_id, refused.value.version) == (FRAUD, "3.2.1")
    assert refused.value.detail == "model 'fraud_detector_v3' already has a version '3.2.1'"


@pytest.mark.parametrize("model_id", [".", ".."])
async def test_dot_segment_ids_are_invalid_input_in_both(backend: Backend, model_id: str) -> None:
    """Ids "." and ".." can never be addressed by a URL: no registry takes or looks them up."""
    with pytest.raises(InvalidInput) as refused:
        backend.registry.register_model(model_id, "1")
    assert refused.value.field == "model_id"
    with pytest.raises(InvalidInput):
        backend.registry.get_model(model_id)


@pytest.mark.parametrize("model_id", ["nope", "...", "odd id?#%&=+"])
async def test_an_unknown_model_is_model_not_found_with_the_same_attributes(
    backend: Backend, model_id: str
) -> None:
    """Every read of an unknown model raises ModelNotFound naming it (odd ids survive the URL)."""
    registry = backend.registry
    reads: list[Callable[[], object]] = [
        lambda: registry.get_model(model_id),
        lambda: registry.get_production_version(model_id),
        lambda: registry.get_model_health_summary(model_id),
        lambda: registry.get_model_settings(model_id),
        lambda: registry.get_stage_history(model_id) or registry.get_timeline(model_id),
    ]
    for read in reads:
        with pytest.raises(ModelNotFound) as missing:
            read()
        assert missing.value.model_id == model_id
        assert missing.value.detail == f"model {model_id!r} is not registered"
    with pytest.raises(ModelNotFound) as missing:
        await registry.check_rollback_triggers(model_id)
    assert missing.value.model_id == model_id


async def test_an_unknown_version_or_production_is_its_own_not_found(backend: Backend) -> None:
    """VersionNotFound names model and version; no production version is NoProductionVersion."""
    registry = backend.registry
    gated(registry, FRAUD, "3.2.1")

    with pytest.raises(VersionNotFound) as missing:
        registry.get_model(FRAUD, "9.9.9")
    assert (missing.value.model_id, missing.value.version) == (FRAUD, "9.9.9")
    assert missing.value.detail == "model 'fraud_detector_v3' has no version '9.9.9'"
    assert registry.get_production_version(FRAUD) is None
    with pytest.raises(NoProductionVersion) as none:
        registry.get_model_health_summary(FRAUD)
    assert none.value.model_id == FRAUD
    with pytest.raises(NoProductionVersion):
        await registry.check_rollback_triggers(FRAUD)
    with pytest.raises(NoProductionVersion):
        await registry.rollback(FRAUD, "bad release")


async def test_promotion_without_the_gates_is_refused_listing_every_failed_gate(
    backend: Backend,
) -> None:
    """GovernanceRefused carries the same failed_gates; an override with a reason promotes."""
    registry = backend.registry
    registry.register_model("unvetted_model", "0.1", calibration_error=0.2)

    with pytest.raises(GovernanceRefused) as refused:
        registry.update_deployment_status("unvetted_model", PROD)
    assert refused.value.failed_gates == [
        "constitutional compliance check has not passed",
        "bias check has not passed",
        "no latency SLO defined (expected_latency_p95_ms)",
        "calibration error 0.2 exceeds 0.1",
    ]
    assert registry.get_model("unvetted_model").status is DeploymentStage.DEVELOPMENT
    with pytest.raises(InvalidInput) as no_reason:
        registry.update_deployment_status("unvetted_model", PROD, override_governance=True)
    assert no_reason.value.field == "reason"

    entry = registry.update_deployment_status(
        "unvetted_model", "Production", "0.1", reason="incident 42", override_governance=True
    )
    assert entry.status is PROD
    assert registry.get_stage_history("unvetted_model")[-1].cause is ChangeCause.GOVERNANCE_OVERRIDE


async def test_the_guides_degraded_snapshot_rolls_production_back_when_auto_remediation_is_on(
    backend: Backend, clock: FakeClock
) -> None:
    """The guide's flow: snapshot, triggers, HIGH incident, model_rollback, 3.1.5 restored."""
    registry = backend.registry
    fraud_fleet(registry, clock, auto_remediate=True)

    result = await registry.record_performance_snapshot(
        snapshot(FRAUD, "3.2.1", at=clock.now(), base=DEGRADED)
    )

    assert (result.snapshot_id, result.model_id, result.version, result.judged) == (
        _snapshot_positions(registry, FRAUD)[-1],
        FRAUD,
        "3.2.1",
        True,
    )
    assert result.check == {
        "model_id": FRAUD,
        "should_rollback": True,
        "reasons": GUIDE_REASONS,
        "window_minutes": 10,
        "auto_remediate": True,
        "version": "3.2.1",
        "severity": "high",
        "snapshot_count": 1,
        "metrics": GUIDE_METRICS,
        "conditions": GUIDE_CONDITIONS,
        "incident_id": 1,
        "remediation": {
            "playbook": "model_rollback",
            "execution_id": 1,
            "status": "succeeded",
            "error": None,
            "from_version": "3.2.1",
            "to_version": "3.1.5",
        },
    }
    production = registry.get_production_version(FRAUD)
    assert production is not None
    assert production.version == "3.1.5"
    assert registry.get_model(FRAUD, "3.2.1").status is DeploymentStage.ROLLBACK
    last_two = registry.get_stage_history(FRAUD)[-2:]
    assert [(c.version, c.to_stage, c.cause, c.actor) for c in last_two] == [
        ("3.2.1", DeploymentStage.ROLLBACK, ChangeCause.AUTO_REMEDIATION, "self_healing"),
        ("3.1.5", PROD, ChangeCause.AUTO_REMEDIATION, "self_healing"),
    ]
    kinds = [e.event_type for e in registry.get_timeline(FRAUD, limit=20)]
    assert kinds[0] == EventType.OPS_NOTIFIED
    assert EventType.ROLLED_BACK in kinds


async def test_a_dry_run_check_reports_the_triggers_and_changes_nothing(
    backend: Backend, clock: FakeClock
) -> None:
    """check_rollback_triggers(auto_remediate=False) reports and acts on nothing."""
    registry = backend.registry
    fraud_fleet(registry, clock, auto_remediate=False)
    await registry.record_performance_snapshot(
        snapshot(FRAUD, "3.2.1", at=clock.now(), base=DEGRADED)
    )
    incidents_before = backend.incidents.list_incidents(FRAUD)
    events_before = registry.get_timeline(FRAUD)

    check = await registry.check_rollback_triggers(FRAUD, window_minutes=10)

    assert check == {
        "model_id": FRAUD,
        "should_rollback": True,
        "reasons": GUIDE_REASONS,
        "window_minutes": 10,
        "auto_remediate": False,
        "version": "3.2.1",
        "severity": "high",  # three conditions at once
        "snapshot_count": 1,
        "metrics": GUIDE_METRICS,
        "conditions": GUIDE_CONDITIONS,
        "incident_id": None,
        "remediation": None,
    }
    assert backend.incidents.list_incidents(FRAUD) == incidents_before
    assert registry.get_timeline(FRAUD) == events_before
    assert backend.engine.list_executions(FRAUD) == []
    assert registry.get_model(FRAUD, "3.2.1").status is PROD


async def test_a_check_with_auto_remediate_rolls_back_at_once(
    backend: Backend, clock: FakeClock
) -> None:
    """check_rollback_triggers(auto_remediate=True) acts even where the model's switch is off."""
    registry = backend.registry
    fraud_fleet(registry, clock, auto_remediate=False)
    await registry.record_performance_snapshot(
        snapshot(FRAUD, "3.2.1", at=clock.now(), base=DEGRADED)
    )

    check = await registry.check_rollback_triggers(FRAUD, 10, auto_remediate=True)

    assert check["auto_remediate"] is True
    assert check["severity"] == "high"
    assert check["incident_id"] == 1
    assert check["remediation"] is not None
    assert check["remediation"]["to_version"] == "3.1.5"
    assert registry.get_model(FRAUD, "3.2.1").status is DeploymentStage.ROLLBACK


async def test_the_health_summary_averages_the_window_of_the_production_version(
    backend: Backend, clock: FakeClock
) -> None:
    """get_model_health_summary: the guide's shape, averaged over the model's window."""
    registry = backend.registry
    gated(registry, FRAUD, "3.2.1", production=True)
    deployed_at = clock.now()
    for error_rate in (0.02, 0.04):
        clock.advance(minutes=3)
        await registry.record_performance_snapshot(
            snapshot(FRAUD, "3.2.1", at=clock.now(), error_rate=error_rate)
        )

    summary = registry.get_model_health_summary(FRAUD)

    assert summary == {
        "model_id": FRAUD,
        "version": "3.2.1",
        "status": "production",
        "deployed_at": deployed_at.isoformat().replace("+00:00", "Z"),
        "health_status": "healthy",
        "metrics": {
            "avg_error_rate": pytest.approx(0.03),
            "avg_latency_p95_ms": 200.0,
            "avg_ood_rate": 0.05,
            "avg_drift_score": 0.1,
            "avg_accuracy": 0.93,
            "snapshot_count": 2,
        },
        "window_minutes": 10,
        "severity": None,
        "reasons": [],
        "trust_score": 1.0,
    }
    assert registry.get_model_health_summary(FRAUD, window_minutes=1)["metrics"] == {
        **summary["metrics"],
        "avg_error_rate": 0.04,
        "snapshot_count": 1,
    }


async def test_monitoring_buckets_the_fleet_and_lists_the_failing(
    backend: Backend, clock: FakeClock
) -> None:
    """monitor_production_models counts healthy, degraded, failing and no-data models."""
    registry = backend.registry
    for model_id in ("healthy_model", "degraded_model", "failing_model", "quiet_model"):
        gated(registry, model_id, "1.0", production=True)
    gated(registry, "staging_model", "1.0")
    now = clock.now()
    await registry.record_performance_snapshot(snapshot("healthy_model", "1.0", at=now))
    await registry.record_performance_snapshot(
        snapshot("degraded_model", "1.0", at=now, error_rate=0.06)
    )
    await registry.record_performance_snapshot(
        snapshot("failing_model", "1.0", at=now, error_rate=0.15)
    )

    fleet = await registry.monitor_production_models(window_minutes=10)

    assert fleet == {
        "total_models": 4,
        "healthy": 1,
        "degraded": 1,
        "failing": 1,
        "no_data": 1,
        "issues": [
            {
                "model_id": "failing_model",
                "version": "1.0",
                "reasons": ["High error rate: 15.00%"],
                "severity": "high",
            }
        ],
        "window_minutes": 10,
        "checked_at": "2025-11-13T15:30:00Z",
    }


async def test_a_manual_rollback_restores_the_previous_or_named_version(
    backend: Backend, clock: FakeClock
) -> None:
    """rollback returns the guide's answer; a rolled-back version is not a target any more."""
    registry = backend.registry
    fraud_fleet(registry, clock, auto_remediate=False)

    result = await registry.rollback(FRAUD, "manual_intervention")

    assert result == {
        "status": "rolled_back",
        "model_id": FRAUD,
        "reason": "manual_intervention",
        "target_version": "3.1.5",
        "from_version": "3.2.1",
    }
    assert registry.get_stage_history(FRAUD)[-1].cause is ChangeCause.MANUAL_ROLLBACK
    with pytest.raises(NoStableVersion):
        await registry.rollback(FRAUD, "again", target_version="3.2.1")
    with pytest.raises(VersionNotFound) as missing:
        await registry.rollback(FRAUD, "again", target_version="0.0.1")
    assert (missing.value.model_id, missing.value.version) == (FRAUD, "0.0.1")

    gated(registry, FRAUD, "3.3.0", production=True)
    named = await registry.rollback(FRAUD, "bad release", "3.1.5")
    assert named == {
        "status": "rolled_back",
        "model_id": FRAUD,
        "reason": "bad release",
        "target_version": "3.1.5",
        "from_version": "3.3.0",
    }


async def test_bad_input_is_refused_naming_the_same_field(
    backend: Backend, clock: FakeClock
) -> None:
    """Each refusal is InvalidInput with the field the core names, and nothing is stored."""
    registry = backend.registry
    gated(registry, FRAUD, "3.2.1", production=True)
    future = snapshot(FRAUD, "3.2.1", at=clock.now() + timedelta(hours=1))

    async def invoke(call: Callable[[], object]) -> None:
        outcome = call()
        if inspect.isawaitable(outcome):
            await outcome

    async def refusal(call: Callable[[], object]) -> str:
        with pytest.raises(InvalidInput) as refused:
            await invoke(call)
        return refused.value.field

    assert await refusal(lambda: registry.record_performance_snapshot(future)) == "timestamp"
    assert await refusal(lambda: registry.get_model_health_summary(FRAUD, 0)) == "window_minutes"
    assert await refusal(lambda: registry.check_rollback_triggers(FRAUD, 100_000)) == (
        "window_minutes"
    )
    assert await refusal(lambda: registry.monitor_production_models(0)) == "window_minutes"
    assert await refusal(lambda: registry.rollback(FRAUD, "   ")) == "reason"
    assert await refusal(lambda: registry.register_model("m", "1", calibration_error=2.0)) == (
        "calibration_error"
    )
    assert await refusal(lambda: registry.register_model("m", "1", stage="rollback")) == "stage"
    assert await refusal(lambda: registry.register_model("m", "1", stage="prod")) == "stage"
    assert await refusal(lambda: registry.register_model("m", " 1")) == "version"
    assert await refusal(lambda: registry.register_model("m", "1", tags="fraud")) == "tags"
    assert await refusal(
        lambda: registry.register_model("m", "1", expected_latency_p95_ms="fast")  # type: ignore[arg-type]
    ) == ("expected_latency_p95_ms")
    assert await refusal(lambda: registry.update_model(FRAUD, "3.2.1")) == "changes"
    assert await refusal(lambda: registry.update_model(FRAUD, "3.2.1", colour="red")) == "colour"
    assert await refusal(
        lambda: registry.configure_model(FRAUD, thresholds={"error_rate_warnin": 0.1})
    ) == ("error_rate_warnin")
    assert await refusal(
        lambda: registry.configure_model(FRAUD, thresholds={"error_rate_warning": 0.5})
    ) == ("error_rate_warning")  # above the critical threshold
    assert await refusal(lambda: registry.configure_model(FRAUD, reset=["colour"])) == "reset"

    assert [m.model_id for m in registry.list_models()] == [FRAUD]
    assert registry.get_model_health_summary(FRAUD)["metrics"]["snapshot_count"] == 0


async def test_a_snapshot_of_an_unknown_version_is_version_not_found(
    backend: Backend, clock: FakeClock
) -> None:
    """The snapshot names a version the registry does not know: VersionNotFound, same attributes."""
    registry = backend.registry
    gated(registry, FRAUD, "3.2.1", production=True)

    with pytest.raises(VersionNotFound) as missing:
        await registry.record_performance_snapshot(snapshot(FRAUD, "9.9", at=clock.now()))
    assert (missing.value.model_id, missing.value.version) == (FRAUD, "9.9")
    with pytest.raises(ModelNotFound) as unknown:
        await registry.record_performance_snapshot(snapshot("nope", "1", at=clock.now()))
    assert unknown.value.model_id == "nope"


async def test_a_batch_stores_each_snapshot_or_refuses_it_alone(
    backend: Backend, clock: FakeClock
) -> None:
    """record_performance_snapshots: an outcome per item, one check per production version."""
    registry = backend.registry
    gated(registry, FRAUD, "3.2.1", production=True)
    now = clock.now()

    result = await registry.record_performance_snapshots(
        [
            snapshot(FRAUD, "3.2.1", at=now),
            snapshot(FRAUD, "9.9", at=now),
            snapshot(FRAUD, "3.2.1", at=now + timedelta(hours=1)),
            snapshot(FRAUD, "3.2.1", at=now, error_rate=0.03),
            cast(ModelPerformanceSnapshot, {"version": "3.2.1"}),
        ]
    )

    assert (result.stored, result.refused) == (2, 3)
    first, second = _snapshot_positions(registry, FRAUD)
    assert result.to_dict()["items"] == [
        {"index": 0, "status": "stored", "snapshot_id": first},
        {
            "index": 1,
            "status": "refused",
            "type": "urn:grace:problem:version-not-found",
            "field": "version",
            "detail": "model 'fraud_detector_v3' has no version '9.9'",
        },
        {
            "index": 2,
            "status": "refused",
            "type": "urn:grace:problem:invalid-input",
            "field": "timestamp",
            "detail": "timestamp: 2025-11-13T16:30:00Z is in the future (now 2025-11-13T15:30:00Z)",
        },
        {"index": 3, "status": "stored", "snapshot_id": second},
        {
            "index": 4,
            "status": "refused",
            "type": "urn:grace:problem:invalid-input",
            "field": "snapshot",
            "detail": "snapshot: must be a ModelPerformanceSnapshot",
        },
    ]
    (check,) = result.checks
    assert (check["version"], check["should_rollback"], check["snapshot_count"]) == (
        "3.2.1",
        False,
        2,
    )
    refused = result.items[2].error
    assert isinstance(refused, InvalidInput)
    assert refused.field == "timestamp"


async def test_list_models_filters_and_pages_by_model_then_registration(
    backend: Backend,
) -> None:
    """list_models: stage, owner and tag filters; pages continue after (model_id, version)."""
    registry = backend.registry
    gated(registry, "b_model", "1", owner="risk", tags=["tabular"])
    gated(registry, "a_model", "1", owner="risk", production=True)
    gated(registry, "a_model", "2", owner="growth", tags=["tabular", "nlp"])
    gated(registry, "c_model", "1", owner="growth", tags=["nlp"])
    gated(registry, "b_model", "2", owner="risk")

    def keys(entries: list[ModelEntry]) -> list[tuple[str, str]]:
        return [(e.model_id, e.version) for e in entries]

    everything = keys(registry.list_models())
    assert everything == [
        ("a_model", "1"),
        ("a_model", "2"),
        ("b_model", "1"),
        ("b_model", "2"),
        ("c_model", "1"),
    ]
    pages: list[tuple[str, str]] = []
    after: tuple[str, str] | None = None
    while page := keys(registry.list_models(after=after, limit=2)):
        assert len(page) <= 2
        pages += page
        after = page[-1]
    assert pages == everything
    assert keys(registry.list_models(PROD)) == [("a_model", "1")]
    assert keys(registry.list_models("development", owner="risk")) == [
        ("b_model", "1"),
        ("b_model", "2"),
    ]
    assert keys(registry.list_models(tag="nlp")) == [("a_model", "2"), ("c_model", "1")]
    assert keys(registry.list_models(model_id="b_model", after=("b_model", "1"))) == [
        ("b_model", "2")
    ]


async def test_settings_history_timeline_and_updates_read_back_as_records(
    backend: Backend, clock: FakeClock
) -> None:
    """configure_model, update_model, stage history, production_version_at and the timeline."""
    registry = backend.registry
    gated(registry, FRAUD, "3.1.5", production=True)
    promoted_at = clock.now()

    settings = registry.configure_model(
        FRAUD,
        auto_remediate=True,
        window_minutes=30,
        thresholds={"error_rate_warning": 0.02, "ood_rate": 0.5},
    )
    assert settings == ModelSettings(
        model_id=FRAUD,
        auto_remediate=True,
        window_minutes=30,
        thresholds=TriggerThresholds(error_rate_warning=0.02, ood_rate=0.5),
        overrides={"error_rate_warning": 0.02, "ood_rate": 0.5, "window_minutes": 30},
    )
    assert registry.get_model_settings(FRAUD) == settings
    reset = registry.configure_model(FRAUD, reset=["ood_rate", "window_minutes"])
    assert (reset.window_minutes, reset.thresholds.ood_rate) == (10, 0.2)
    assert reset.overrides == {"error_rate_warning": 0.02}

    clock.advance(minutes=5)
    updated = registry.update_model(FRAUD, "3.1.5", description="retrained", tags=("a", "b"))
    assert (updated.description, updated.tags, updated.updated_at) == (
        "retrained",
        ("a", "b"),
        clock.now(),
    )
    gated(registry, FRAUD, "3.2.1", production=True)

    history = registry.get_stage_history(FRAUD)
    assert [(c.version, c.from_stage, c.to_stage, c.cause) for c in history] == [
        ("3.1.5", None, DeploymentStage.DEVELOPMENT, ChangeCause.REGISTRATION),
        ("3.1.5", DeploymentStage.DEVELOPMENT, PROD, ChangeCause.MANUAL),
        ("3.2.1", None, DeploymentStage.DEVELOPMENT, ChangeCause.REGISTRATION),
        ("3.1.5", PROD, DeploymentStage.ARCHIVED, ChangeCause.REPLACED),
        ("3.2.1", DeploymentStage.DEVELOPMENT, PROD, ChangeCause.MANUAL),
    ]
    assert {c.actor for c in history} == {"anonymous" if backend.remote else None}
    assert registry.production_version_at(FRAUD, promoted_at + timedelta(minutes=1)) == "3.1.5"
    assert registry.production_version_at(FRAUD, clock.now()) == "3.2.1"
    assert registry.production_version_at(FRAUD, promoted_at - timedelta(days=1)) is None

    timeline = registry.get_timeline(FRAUD)
    assert [e.event_type for e in timeline] == [
        EventType.STAGE_CHANGED,
        EventType.STAGE_CHANGED,
        EventType.MODEL_REGISTERED,
        EventType.MODEL_UPDATED,
        EventType.MODEL_SETTINGS_CHANGED,
        EventType.MODEL_SETTINGS_CHANGED,
        EventType.STAGE_CHANGED,
        EventType.MODEL_REGISTERED,
    ]
    assert all(e.resource_id == FRAUD and e.source == "model_registry" for e in timeline)
    older = registry.get_timeline(FRAUD, before_seq=timeline[2].seq, limit=2)
    assert older == timeline[3:5]


async def test_incidents_and_playbook_runs_read_and_act_the_same(
    backend: Backend, clock: FakeClock
) -> None:
    """The remediation's incident and run: read, acknowledge, annotate, resolve."""
    registry, incidents, engine = backend.registry, backend.incidents, backend.engine
    fraud_fleet(registry, clock, auto_remediate=True)
    await registry.record_performance_snapshot(
        snapshot(FRAUD, "3.2.1", at=clock.now(), base=DEGRADED)
    )

    (listed,) = incidents.list_incidents(FRAUD, "open", severity="high")
    incident = incidents.get_incident(listed.id)
    assert incident.title == "Model performance degradation detected: Fraud Detector V3"
    assert incident.context["reasons"] == GUIDE_REASONS
    assert [t.kind for t in incident.timeline] == [
        "opened",
        "paged",
        *["remediation_step"] * 5,  # the playbook's five steps
        "remediation_succeeded",
        "ops_notified",
    ]
    assert incidents.list_incidents(FRAUD, "resolved") == []

    clock.advance(minutes=2)
    acknowledged = await incidents.acknowledge(incident.id, note="looking")
    assert acknowledged.status.value == "acknowledged"
    assert acknowledged.acknowledged_at == clock.now()
    note = await incidents.annotate(incident.id, "3.1.5 is serving", data={"ticket": "OPS-1"})
    assert (note.kind, note.message, note.data) == ("note", "3.1.5 is serving", {"ticket": "OPS-1"})
    clock.advance(minutes=3)
    resolved = await incidents.resolve(incident.id)
    assert resolved.resolution_seconds == 300.0
    assert [t.kind for t in resolved.timeline][-3:] == ["acknowledged", "note", "resolved"]
    with pytest.raises(Conflict):
        await incidents.resolve(incident.id)
    with pytest.raises(IncidentNotFound) as missing:
        incidents.get_incident(999)
    assert missing.value.incident_id == 999
    with pytest.raises(IncidentNotFound):
        await incidents.acknowledge(999)

    (run,) = engine.list_executions(FRAUD, playbook="model_rollback")
    assert engine.get_execution(run.id) == run
    assert run.status.value == "succeeded"
    assert run.result["to_version"] == "3.1.5"
    assert [s.name for s in run.steps] == [
        "find_previous_stable_version",
        "update_deployment_status",
        "notify_dependent_services",
        "verify_rollback",
        "update_trust_metrics",
    ]
    with pytest.raises(ExecutionNotFound) as no_run:
        engine.get_execution(999)
    assert no_run.value.execution_id == 999


async def test_healthy_snapshots_of_a_non_production_version_are_stored_unjudged(
    backend: Backend, clock: FakeClock
) -> None:
    """A snapshot of a staging version is stored and not judged (check is None)."""
    registry = backend.registry
    gated(registry, FRAUD, "3.2.1", stage="staging")

    result = await registry.record_performance_snapshot(
        snapshot(FRAUD, "3.2.1", at=clock.now(), base=HEALTHY)
    )

    expected = _snapshot_positions(registry, FRAUD)[-1]
    assert (result.snapshot_id, result.judged, result.check) == (expected, False, None)
