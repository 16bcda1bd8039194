"""Registration, stages, governance gates and the stage history, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from grace.bootstrap import Grace
from grace.clock import FakeClock
from grace.domain.records import ChangeCause
from grace.errors import (
    GovernanceRefused,
    InvalidInput,
    InvalidTransition,
    ModelNotFound,
    VersionExists,
    VersionNotFound,
)
from grace.model_registry import DeploymentStage
from tests.helpers import register

PROD = DeploymentStage.PRODUCTION


def test_registered_version_reads_back_with_every_field(any_grace: Grace) -> None:
    """register_model returns the entry and get_model reads the same fields from the database."""
    registry = any_grace.registry
    entry = registry.register_model(
        "fraud_detector_v3",
        "3.2.1",
        name="Fraud Detector V3",
        description="gradient boosted",
        owner="risk-team",
        tags=["fraud", "tabular"],
        artifact_uri="s3://models/fraud/3.2.1",
        expected_latency_p95_ms=245.3,
        constitutional_compliance=True,
        bias_check_passed=True,
        calibration_error=0.04,
        metadata={"framework": "xgboost"},
    )
    again = registry.get_model("fraud_detector_v3", "3.2.1")
    assert again == entry
    assert again.status is DeploymentStage.DEVELOPMENT
    assert again.tags == ("fraud", "tabular")
    assert again.trust_score == 1.0
    assert again.deployed_at is None
    assert again.to_dict()["metadata"] == {"framework": "xgboost"}


def test_registering_an_existing_version_is_refused(any_grace: Grace) -> None:
    """A second registration of the same version raises VersionExists and changes nothing."""
    registry = any_grace.registry
    registry.register_model("m", "1", owner="a")
    with pytest.raises(VersionExists, match="already has a version '1'"):
        registry.register_model("m", "1", owner="b")
    assert registry.get_model("m", "1").owner == "a"


def test_get_model_without_version_is_the_latest_registered(any_grace: Grace) -> None:
    """get_model(model_id) returns the most recently registered version."""
    registry = any_grace.registry
    for version in ("1.0", "2.0", "1.5"):
        registry.register_model("m", version)
    assert registry.get_model("m").version == "1.5"


def test_unknown_model_and_version_raise_typed_errors(any_grace: Grace) -> None:
    """Reading an unknown model or version names what is missing."""
    registry = any_grace.registry
    registry.register_model("m", "1")
    with pytest.raises(ModelNotFound, match="'nope'"):
        registry.get_model("nope")
    with pytest.raises(VersionNotFound, match="no version '9'"):
        registry.get_model("m", "9")


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("model_id", {"model_id": ""}),
        ("version", {"version": " 1"}),
        ("expected_latency_p95_ms", {"expected_latency_p95_ms": -5}),
        ("calibration_error", {"calibration_error": 1.5}),
        ("tags", {"tags": "not-a-list"}),
        ("constitutional_compliance", {"constitutional_compliance": "yes"}),
        ("stage", {"stage": "nowhere"}),
        ("stage", {"stage": "rollback"}),
    ],
)
def test_bad_registration_names_the_field_and_stores_nothing(
    any_grace: Grace, field: str, kwargs: dict[str, object]
) -> None:
    """Each invalid registration raises InvalidInput naming the field; no model appears."""
    args: dict[str, object] = {"model_id": "m", "version": "1", **kwargs}
    model_id, version = args.pop("model_id"), args.pop("version")
    with pytest.raises(InvalidInput) as caught:
        any_grace.registry.register_model(model_id, version, **args)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert any_grace.registry.list_models() == []


def test_promotion_without_version_acts_on_latest_and_archives_the_replaced(
    any_grace: Grace,
) -> None:
    """Promoting moves the previous production version to ARCHIVED in the same change."""
    registry = any_grace.registry
    register(registry, "m", "1", production=True)
    register(registry, "m", "2")
    promoted = registry.update_deployment_status("m", PROD)
    assert promoted.version == "2"
    assert promoted.status is PROD
    assert promoted.deployed_at is not None
    assert registry.get_model("m", "1").status is DeploymentStage.ARCHIVED
    assert [e.version for e in registry.list_models(PROD)] == ["2"]


def test_invalid_transitions_are_refused(any_grace: Grace) -> None:
    """Production cannot go back to staging, and a stage cannot move to itself."""
    registry = any_grace.registry
    register(registry, "m", "1", production=True)
    with pytest.raises(InvalidTransition, match="from production to staging"):
        registry.update_deployment_status("m", "staging", "1")
    with pytest.raises(InvalidTransition, match="from production to production"):
        registry.update_deployment_status("m", PROD, "1")
    assert registry.get_model("m", "1").status is PROD


def test_rolled_back_version_cannot_return_straight_to_production(any_grace: Grace) -> None:
    """ROLLBACK is latched: the version must be re-qualified through staging first."""
    registry = any_grace.registry
    register(registry, "m", "1", production=True)
    registry.update_deployment_status("m", DeploymentStage.ROLLBACK, "1")
    with pytest.raises(InvalidTransition):
        registry.update_deployment_status("m", PROD, "1")
    registry.update_deployment_status("m", DeploymentStage.STAGING, "1")
    assert registry.update_deployment_status("m", PROD, "1").status is PROD


def test_archiving_a_rolled_back_version_does_not_requalify_it(any_grace: Grace) -> None:
    """ROLLBACK -> ARCHIVED -> PRODUCTION is refused; the latch holds until staging."""
    registry = any_grace.registry
    register(registry, "m", "1", production=True)
    registry.update_deployment_status("m", DeploymentStage.ROLLBACK, "1")
    registry.update_deployment_status("m", DeploymentStage.ARCHIVED, "1")
    with pytest.raises(InvalidTransition, match="has not been re-qualified"):
        registry.update_deployment_status("m", PROD, "1")
    registry.update_deployment_status("m", DeploymentStage.STAGING, "1")
    assert registry.update_deployment_status("m", PROD, "1").status is PROD


def test_governance_refusal_names_every_failed_gate(any_grace: Grace) -> None:
    """A version failing all four gates is refused with all four named, and stays where it was."""
    registry = any_grace.registry
    registry.register_model("m", "1", calibration_error=0.2)
    with pytest.raises(GovernanceRefused) as caught:
        registry.update_deployment_status("m", PROD)
    gates = caught.value.failed_gates
    assert len(gates) == 4
    assert any("constitutional" in g for g in gates)
    assert any("bias" in g for g in gates)
    assert any("SLO" in g for g in gates)
    assert any("calibration error 0.2 exceeds 0.1" in g for g in gates)
    assert registry.get_model("m", "1").status is DeploymentStage.DEVELOPMENT


def test_calibration_error_at_the_limit_passes_the_gate(any_grace: Grace) -> None:
    """calibration_error of exactly 0.1 is allowed ("at most 0.1")."""
    registry = any_grace.registry
    register(registry, "m", "1", calibration_error=0.1)
    assert registry.update_deployment_status("m", PROD).status is PROD


def test_governance_override_needs_a_reason_and_is_recorded(any_grace: Grace) -> None:
    """override_governance=True goes through only with a reason, recorded in the history."""
    registry = any_grace.registry
    registry.register_model("m", "1")
    with pytest.raises(InvalidInput) as caught:
        registry.update_deployment_status("m", PROD, override_governance=True)
    assert caught.value.field == "reason"
    registry.update_deployment_status(
        "m", PROD, override_governance=True, reason="hotfix approved by CTO", actor="alice"
    )
    last = registry.get_stage_history("m")[-1]
    assert last.cause is ChangeCause.GOVERNANCE_OVERRIDE
    assert last.actor == "alice"
    assert last.reason is not None
    assert last.reason.startswith("hotfix approved by CTO [overrode:")


def test_registering_straight_into_production_passes_the_gates(any_grace: Grace) -> None:
    """stage=PRODUCTION at registration is a promotion: gated, and it replaces the current one."""
    registry = any_grace.registry
    with pytest.raises(GovernanceRefused):
        registry.register_model("m", "0", stage=PROD)
    register(registry, "m", "1", production=True)
    entry = registry.register_model(
        "m",
        "2",
        stage=PROD,
        expected_latency_p95_ms=100,
        constitutional_compliance=True,
        bias_check_passed=True,
    )
    assert entry.status is PROD
    assert registry.get_model("m", "1").status is DeploymentStage.ARCHIVED


def test_history_answers_which_version_was_in_production_when(
    any_grace: Grace, clock: FakeClock
) -> None:
    """Every stage change is kept, so the production version at any past instant is known."""
    registry = any_grace.registry
    start = clock.now()
    register(registry, "m", "1")
    clock.advance(minutes=1)
    registry.update_deployment_status("m", PROD, "1", actor="ci", reason="release 1")
    t1 = clock.now()
    clock.advance(minutes=10)
    register(registry, "m", "2", production=True)
    t2 = clock.now()
    clock.advance(minutes=10)

    assert registry.production_version_at("m", start) is None
    assert registry.production_version_at("m", t1) == "1"
    assert registry.production_version_at("m", t1 + timedelta(minutes=5)) == "1"
    assert registry.production_version_at("m", t2) == "2"
    assert registry.production_version_at("m", clock.now()) == "2"

    history = registry.get_stage_history("m")
    assert [(c.version, c.from_stage, c.to_stage, c.cause) for c in history] == [
        ("1", None, DeploymentStage.DEVELOPMENT, ChangeCause.REGISTRATION),
        ("1", DeploymentStage.DEVELOPMENT, PROD, ChangeCause.MANUAL),
        ("2", None, DeploymentStage.DEVELOPMENT, ChangeCause.REGISTRATION),
        ("1", PROD, DeploymentStage.ARCHIVED, ChangeCause.REPLACED),
        ("2", DeploymentStage.DEVELOPMENT, PROD, ChangeCause.MANUAL),
    ]
    assert history[1].actor == "ci"
    assert history[1].reason == "release 1"
    assert history[1].to_dict()["to_stage"] == "production"


def test_list_models_filters_and_pages(any_grace: Grace) -> None:
    """list_models filters by stage, owner and tag and pages with a keyset cursor."""
    registry = any_grace.registry
    for i in range(5):
        register(registry, f"m{i}", "1", owner="team-a" if i % 2 else "team-b", tags=[f"t{i}"])
    register(registry, "m1", "2", production=True)
    assert [e.model_id for e in registry.list_models(PROD)] == ["m1"]
    assert {e.model_id for e in registry.list_models(owner="team-a")} == {"m1", "m3"}
    assert [e.model_id for e in registry.list_models(tag="t4")] == ["m4"]
    first = registry.list_models(limit=3)
    rest = registry.list_models(after=(first[-1].model_id, first[-1].version), limit=10)
    keys = [(e.model_id, e.version) for e in first + rest]
    assert keys == [("m0", "1"), ("m1", "1"), ("m1", "2"), ("m2", "1"), ("m3", "1"), ("m4", "1")]


def test_metadata_update_changes_fields_not_stage(any_grace: Grace) -> None:
    """update_model edits descriptive fields and refuses unknown or invalid ones."""
    registry = any_grace.registry
    register(registry, "m", "1", production=True)
    updated = registry.update_model("m", "1", description="v1", tags=["x"], calibration_error=0.05)
    assert updated.description == "v1"
    assert updated.tags == ("x",)
    assert updated.status is PROD
    with pytest.raises(InvalidInput) as caught:
        registry.update_model("m", "1", stage="archived")
    assert caught.value.field == "stage"
