"""Storage contract, models and versions: registration, lookups, updates and listing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from grace.adapters.store import Store, StoreSession
from grace.domain.records import ChangeCause, ModelEntry, StoredSettings
from grace.domain.stages import DeploymentStage
from grace.errors import ConcurrentChange, GraceError, VersionExists
from tests.contract.support import T0, Background, at, new_version, register
from tests.helpers import snapshot

DEV = DeploymentStage.DEVELOPMENT
STAGING = DeploymentStage.STAGING
PROD = DeploymentStage.PRODUCTION

Operation = Callable[[StoreSession], object]


# -- models -------------------------------------------------------------------------------------
def test_ensure_model_is_idempotent_and_keeps_what_the_model_has(store: Store) -> None:
    """Ensuring an existing model, in the same or a later session, neither fails nor resets it."""
    with store.write() as s:
        s.ensure_model("fraud_detector_v3", T0)
        s.ensure_model("fraud_detector_v3", T0)
        s.insert_version(new_version("fraud_detector_v3", "3.1.5"), T0)
        s.save_settings("fraud_detector_v3", auto_remediate=True, overrides={}, at=T0)
    with store.write() as s:
        s.ensure_model("fraud_detector_v3", at(5))

    with store.read() as s:
        assert [e.version for e in s.list_versions(model_id="fraud_detector_v3")] == ["3.1.5"]
        assert s.get_settings("fraud_detector_v3").auto_remediate is True
        assert len(s.list_versions()) == 1


def test_concurrent_ensure_model_of_one_model_lets_both_writers_proceed(store: Store) -> None:
    """Two transactions creating the same model at once both succeed and share one model."""

    def second_writer() -> None:
        with store.write() as s:
            s.ensure_model("fraud_detector_v3", T0)
            s.insert_version(new_version("fraud_detector_v3", "b"), T0)

    with store.write() as s:
        s.ensure_model("fraud_detector_v3", T0)
        s.insert_version(new_version("fraud_detector_v3", "a"), T0)
        other = Background(second_writer)
    other.join()

    with store.read() as s:
        versions = s.list_versions()
    assert [(e.model_id, e.version) for e in versions] == [
        ("fraud_detector_v3", "a"),
        ("fraud_detector_v3", "b"),
    ]


# -- insert and read back ------------------------------------------------------------------------
def test_inserted_version_reads_back_with_every_field(store: Store) -> None:
    """insert_version returns the stored entry and a later session reads exactly the same values."""
    registered_at = T0.replace(microsecond=987654)
    new = new_version(
        "fraud_detector_v3",
        "3.2.1",
        stage=STAGING,
        owner="ml-platform",
        tags=("zeta", "alpha", "fraud", "alpha-2"),
        name="Fraud Detector",
        description="Gradient boosted trees over card transactions",
        artifact_uri="s3://models/fraud/3.2.1/model.bin",
        expected_latency_p95_ms=245.3,
        constitutional_compliance=False,
        bias_check_passed=True,
        calibration_error=0.012345678901234567,
        trust_score=0.8765432109876543,
        metadata={
            "framework": "xgboost",
            "features": 142,
            "auc": 0.9731,
            "calibrated": False,
            "nested": {"layers": [1, 2.5, None, True], "empty": {}},
            "unicode": "naïve café ☃",
        },
    )
    expected = ModelEntry(
        model_id="fraud_detector_v3",
        version="3.2.1",
        status=STAGING,
        name="Fraud Detector",
        description="Gradient boosted trees over card transactions",
        owner="ml-platform",
        tags=("zeta", "alpha", "fraud", "alpha-2"),
        artifact_uri="s3://models/fraud/3.2.1/model.bin",
        expected_latency_p95_ms=245.3,
        constitutional_compliance=False,
        bias_check_passed=True,
        calibration_error=0.012345678901234567,
        trust_score=0.8765432109876543,
        metadata=dict(new.metadata),
        registered_at=registered_at,
        updated_at=registered_at,
        stage_changed_at=registered_at,
        deployed_at=None,
    )
    with store.write() as s:
        s.ensure_model("fraud_detector_v3", registered_at)
        inserted = s.insert_version(new, registered_at)

    with store.read() as s:
        read = s.get_version("fraud_detector_v3", "3.2.1")

    assert inserted == expected
    assert read == expected
    assert isinstance(read.constitutional_compliance, bool)
    assert isinstance(read.bias_check_passed, bool)
    assert read.registered_at.utcoffset() == timedelta(0)


def test_version_registered_into_production_is_stamped_as_deployed(store: Store) -> None:
    """A version inserted straight into production carries deployed_at = its registration time."""
    with store.write() as s:
        s.ensure_model("fraud_detector_v3", T0)
        s.insert_version(new_version("fraud_detector_v3", "3.1.5", stage=PROD), T0)
    with store.read() as s:
        entry = s.get_version("fraud_detector_v3", "3.1.5")
        production = s.production_version("fraud_detector_v3")
    assert entry.status is PROD
    assert entry.deployed_at == T0
    assert production == entry


def test_get_version_with_settings_returns_the_entry_and_its_model_settings(store: Store) -> None:
    """The combined lookup returns the same entry as get_version and the model's stored settings."""
    register(store, "fraud_detector_v3", "3.1.5")
    register(store, "churn", "1.0")
    with store.write() as s:
        s.save_settings(
            "fraud_detector_v3", auto_remediate=True, overrides={"window_minutes": 15}, at=T0
        )
    with store.read() as s:
        entry, settings = s.get_version_with_settings("fraud_detector_v3", "3.1.5")
        assert entry == s.get_version("fraud_detector_v3", "3.1.5")
        _, churn_settings = s.get_version_with_settings("churn", "1.0")
    assert settings == StoredSettings(auto_remediate=True, overrides={"window_minutes": 15})
    assert churn_settings == StoredSettings()


# -- refusals -------------------------------------------------------------------------------------
def test_duplicate_version_raises_version_exists_and_the_transaction_goes_on(store: Store) -> None:
    """A duplicate insert fails alone: the session's earlier and later writes are committed."""
    with store.write() as s:
        s.ensure_model("fraud_detector_v3", T0)
        s.insert_version(new_version("fraud_detector_v3", "3.1.5", name="first"), T0)
        with pytest.raises(VersionExists) as refused:
            s.insert_version(new_version("fraud_detector_v3", "3.1.5", name="second"), at(1))
        s.insert_version(new_version("fraud_detector_v3", "3.2.1"), at(2))
        s.save_settings("fraud_detector_v3", auto_remediate=True, overrides={}, at=at(2))

    assert (refused.value.model_id, refused.value.version) == ("fraud_detector_v3", "3.1.5")
    with store.read() as s:
        first = s.get_version("fraud_detector_v3", "3.1.5")
        assert [e.version for e in s.list_versions()] == ["3.1.5", "3.2.1"]
        assert s.get_settings("fraud_detector_v3").auto_remediate is True
    assert first.name == "first"
    assert first.registered_at == T0


def test_duplicate_of_a_committed_version_is_refused_in_a_later_session(store: Store) -> None:
    """VersionExists also guards versions committed by an earlier transaction."""
    register(store, "fraud_detector_v3", "3.1.5")
    with store.write() as s:
        with pytest.raises(VersionExists):
            s.insert_version(new_version("fraud_detector_v3", "3.1.5"), at(1))
        s.insert_version(new_version("fraud_detector_v3", "3.2.1"), at(1))
    with store.read() as s:
        assert [e.version for e in s.list_versions()] == ["3.1.5", "3.2.1"]


def test_registering_into_production_beside_a_production_version_is_refused(
    store: Store,
) -> None:
    """A second version inserted directly as PRODUCTION raises ConcurrentChange; the first stays."""
    register(store, "fraud_detector_v3", "3.1.5", stage=PROD)
    with pytest.raises(ConcurrentChange), store.write() as s:
        s.insert_version(new_version("fraud_detector_v3", "3.2.1", stage=PROD), at(1))
    with store.read() as s:
        production = s.production_version("fraud_detector_v3")
        assert [e.version for e in s.list_versions()] == ["3.1.5"]
    assert production is not None
    assert production.version == "3.1.5"


UNKNOWN_MODEL_OPERATIONS: dict[str, Operation] = {
    "insert_version": lambda s: s.insert_version(new_version("ghost", "1.0"), T0),
    "get_version": lambda s: s.get_version("ghost", "1.0"),
    "get_version_with_settings": lambda s: s.get_version_with_settings("ghost", "1.0"),
    "latest_version": lambda s: s.latest_version("ghost"),
    "production_version": lambda s: s.production_version("ghost"),
    "lock_model": lambda s: s.lock_model("ghost"),
    "update_version": lambda s: s.update_version("ghost", "1.0", {"name": "x"}, T0),
    "set_stage": lambda s: s.set_stage("ghost", "1.0", STAGING, T0),
    "append_stage_change": lambda s: s.append_stage_change(
        "ghost", "1.0", None, DEV, T0, actor=None, reason=None, cause=ChangeCause.REGISTRATION
    ),
    "stage_history": lambda s: s.stage_history("ghost"),
    "get_settings": lambda s: s.get_settings("ghost"),
    "save_settings": lambda s: s.save_settings("ghost", auto_remediate=True, overrides={}, at=T0),
    "snapshot_target": lambda s: s.snapshot_target("ghost", "1.0"),
    "insert_snapshot": lambda s: s.insert_snapshot(snapshot("ghost", "1.0", at=T0), T0),
    "window_stats": lambda s: s.window_stats("ghost", "1.0", T0),
}


def refusal(operation: Operation, session: StoreSession) -> tuple[str, str | None, str | None]:
    """What ``operation`` raised, as (error type, model_id, version); ("none", ...) if nothing."""
    try:
        operation(session)
    except GraceError as exc:
        return type(exc).__name__, getattr(exc, "model_id", None), getattr(exc, "version", None)
    return "none", None, None


def test_naming_an_unregistered_model_raises_model_not_found(store: Store) -> None:
    """Every method that names a model refuses one that is not registered, whatever others exist."""
    register(store, "fraud_detector_v3", "1.0")
    with store.write() as s:
        outcomes = {name: refusal(op, s) for name, op in UNKNOWN_MODEL_OPERATIONS.items()}
    assert outcomes == dict.fromkeys(UNKNOWN_MODEL_OPERATIONS, ("ModelNotFound", "ghost", None))


UNKNOWN_VERSION_OPERATIONS: dict[str, Operation] = {
    "get_version": lambda s: s.get_version("fraud_detector_v3", "9.9.9"),
    "get_version_with_settings": lambda s: s.get_version_with_settings(
        "fraud_detector_v3", "9.9.9"
    ),
    "update_version": lambda s: s.update_version("fraud_detector_v3", "9.9.9", {"name": "x"}, T0),
    "set_stage": lambda s: s.set_stage("fraud_detector_v3", "9.9.9", STAGING, T0),
    "append_stage_change": lambda s: s.append_stage_change(
        "fraud_detector_v3",
        "9.9.9",
        None,
        DEV,
        T0,
        actor=None,
        reason=None,
        cause=ChangeCause.REGISTRATION,
    ),
    "snapshot_target": lambda s: s.snapshot_target("fraud_detector_v3", "9.9.9"),
    "insert_snapshot": lambda s: s.insert_snapshot(
        snapshot("fraud_detector_v3", "9.9.9", at=T0), T0
    ),
    "window_stats": lambda s: s.window_stats("fraud_detector_v3", "9.9.9", T0),
}


def test_naming_an_unregistered_version_raises_version_not_found(store: Store) -> None:
    """A version registered only under another model is still unknown to this one."""
    register(store, "fraud_detector_v3", "3.1.5")
    register(store, "churn", "9.9.9")
    with store.write() as s:
        outcomes = {name: refusal(op, s) for name, op in UNKNOWN_VERSION_OPERATIONS.items()}
    expected = ("VersionNotFound", "fraud_detector_v3", "9.9.9")
    assert outcomes == dict.fromkeys(UNKNOWN_VERSION_OPERATIONS, expected)


# -- latest, production, update, stage --------------------------------------------------------
def test_latest_version_is_the_most_recently_registered_not_the_highest_name(
    store: Store,
) -> None:
    """latest_version follows registration order, per model, across sessions."""
    register(store, "fraud_detector_v3", "2.0", when=at(0))
    register(store, "fraud_detector_v3", "10.0", when=at(1))
    with store.read() as s:
        assert s.latest_version("fraud_detector_v3").version == "10.0"
    register(store, "fraud_detector_v3", "1.5", when=at(2))
    register(store, "churn", "99.0", when=at(3))
    with store.read() as s:
        latest = s.latest_version("fraud_detector_v3")
    assert (latest.version, latest.registered_at) == ("1.5", at(2))


def test_production_version_is_none_until_a_version_is_promoted(store: Store) -> None:
    """production_version returns nothing for a model without one, then the promoted version."""
    register(store, "fraud_detector_v3", "3.1.5", "3.2.1")
    with store.read() as s:
        assert s.production_version("fraud_detector_v3") is None
    with store.write() as s:
        s.set_stage("fraud_detector_v3", "3.1.5", PROD, at(1))
    with store.read() as s:
        production = s.production_version("fraud_detector_v3")
    assert production is not None
    assert production.version == "3.1.5"


def test_set_stage_moves_the_version_and_stamps_the_change(store: Store) -> None:
    """set_stage returns the moved version with stage_changed_at, updated_at and deployed_at set."""
    register(store, "fraud_detector_v3", "3.1.5")
    with store.write() as s:
        staged = s.set_stage("fraud_detector_v3", "3.1.5", STAGING, at(1))
        promoted = s.set_stage("fraud_detector_v3", "3.1.5", PROD, at(2))
    with store.read() as s:
        read = s.get_version("fraud_detector_v3", "3.1.5")

    assert (staged.status, staged.stage_changed_at, staged.deployed_at) == (STAGING, at(1), None)
    assert read == promoted
    assert read.status is PROD
    assert (read.stage_changed_at, read.updated_at, read.deployed_at) == (at(2), at(2), at(2))
    assert read.registered_at == T0


def test_update_version_sets_descriptive_fields_but_never_the_stage(store: Store) -> None:
    """update_version changes the given fields and updated_at; a stage change is refused."""
    register(store, "fraud_detector_v3", "3.1.5")
    with store.write() as s:
        updated = s.update_version(
            "fraud_detector_v3",
            "3.1.5",
            {
                "description": "retrained",
                "tags": ["b", "a"],
                "metadata": {"auc": 0.97},
                "trust_score": 0.5,
                "bias_check_passed": False,
            },
            at(1),
        )
    with pytest.raises(ValueError, match="stage"), store.write() as s:
        s.update_version("fraud_detector_v3", "3.1.5", {"stage": "production"}, at(2))
    with store.read() as s:
        read = s.get_version("fraud_detector_v3", "3.1.5")

    assert read == updated
    assert (read.description, read.tags) == ("retrained", ("b", "a"))
    assert dict(read.metadata) == {"auc": 0.97}
    assert (read.trust_score, read.bias_check_passed) == (0.5, False)
    assert (read.status, read.registered_at, read.updated_at) == (DEV, T0, at(1))
