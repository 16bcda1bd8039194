"""Storage contract, the append-only stage history and the per-model settings."""

from __future__ import annotations

from grace.adapters.store import Store
from grace.domain.records import ChangeCause, StageChange, StoredSettings
from grace.domain.stages import DeploymentStage
from tests.contract.support import at, register

DEV = DeploymentStage.DEVELOPMENT
STAGING = DeploymentStage.STAGING
PROD = DeploymentStage.PRODUCTION
ROLLBACK = DeploymentStage.ROLLBACK
ARCHIVED = DeploymentStage.ARCHIVED


def test_stage_history_returns_every_change_oldest_first_with_its_cause(store: Store) -> None:
    """Appended stage changes read back unchanged, in append order, only for the model asked."""
    register(store, "fraud_detector_v3", "3.1.5", "3.2.1")
    register(store, "churn", "1.0")
    register(store, "quiet", "1.0")
    fraud = "fraud_detector_v3"
    changes: list[tuple[str, str, DeploymentStage | None, DeploymentStage, ChangeCause]] = [
        (fraud, "3.1.5", None, DEV, ChangeCause.REGISTRATION),
        ("churn", "1.0", None, DEV, ChangeCause.REGISTRATION),
        (fraud, "3.1.5", DEV, PROD, ChangeCause.MANUAL),
        (fraud, "3.2.1", None, STAGING, ChangeCause.REGISTRATION),
        (fraud, "3.2.1", STAGING, PROD, ChangeCause.GOVERNANCE_OVERRIDE),
        (fraud, "3.1.5", PROD, ARCHIVED, ChangeCause.REPLACED),
        ("churn", "1.0", DEV, PROD, ChangeCause.MANUAL),
        (fraud, "3.2.1", PROD, ROLLBACK, ChangeCause.AUTO_REMEDIATION),
        (fraud, "3.1.5", ARCHIVED, PROD, ChangeCause.MANUAL_ROLLBACK),
    ]
    appended: list[StageChange] = []
    with store.write() as s:
        for minute, (model_id, version, from_stage, to_stage, cause) in enumerate(changes):
            appended.append(
                s.append_stage_change(
                    model_id,
                    version,
                    from_stage,
                    to_stage,
                    at(minute, microseconds=minute),
                    actor=None if cause is ChangeCause.AUTO_REMEDIATION else f"user{minute}",
                    reason=None if minute % 2 else f"reason {minute}",
                    cause=cause,
                )
            )
    with store.read() as s:
        history = s.stage_history(fraud)
        churn_history = s.stage_history("churn")
        assert s.stage_history("quiet") == []

    assert history == [c for c in appended if c.model_id == fraud]
    assert churn_history == [c for c in appended if c.model_id == "churn"]
    assert [c.cause for c in history] == [
        ChangeCause.REGISTRATION,
        ChangeCause.MANUAL,
        ChangeCause.REGISTRATION,
        ChangeCause.GOVERNANCE_OVERRIDE,
        ChangeCause.REPLACED,
        ChangeCause.AUTO_REMEDIATION,
        ChangeCause.MANUAL_ROLLBACK,
    ]
    assert history[0].from_stage is None
    assert history[-1].at == at(8, microseconds=8)
    ids = [c.id for c in appended]
    assert ids == sorted(set(ids))


def test_settings_default_to_no_auto_remediation_and_no_overrides(store: Store) -> None:
    """A newly created model follows every service-wide default."""
    register(store, "fraud_detector_v3")
    with store.read() as s:
        assert s.get_settings("fraud_detector_v3") == StoredSettings()


def test_save_settings_sets_overrides_and_none_clears_one(store: Store) -> None:
    """Saved overrides persist with their types, None clears one, and omitted ones are kept."""
    register(store, "fraud_detector_v3")
    register(store, "churn")
    with store.write() as s:
        saved = s.save_settings(
            "fraud_detector_v3",
            auto_remediate=True,
            overrides={"window_minutes": 30, "error_rate_warning": 0.05, "min_snapshots": 3},
            at=at(1),
        )
    with store.read() as s:
        assert s.get_settings("fraud_detector_v3") == saved
    assert saved == StoredSettings(
        auto_remediate=True,
        overrides={"window_minutes": 30, "error_rate_warning": 0.05, "min_snapshots": 3},
    )
    assert isinstance(saved.overrides["window_minutes"], int)

    with store.write() as s:
        cleared = s.save_settings(
            "fraud_detector_v3",
            auto_remediate=None,
            overrides={"error_rate_warning": None, "latency_factor": 1.75},
            at=at(2),
        )
    with store.read() as s:
        assert s.get_settings("fraud_detector_v3") == cleared
        assert s.get_settings("churn") == StoredSettings()
    assert cleared == StoredSettings(
        auto_remediate=True,
        overrides={"window_minutes": 30, "min_snapshots": 3, "latency_factor": 1.75},
    )

    with store.write() as s:
        s.save_settings("fraud_detector_v3", auto_remediate=False, overrides={}, at=at(3))
    with store.read() as s:
        assert s.get_settings("fraud_detector_v3") == StoredSettings(
            auto_remediate=False,
            overrides={"window_minutes": 30, "min_snapshots": 3, "latency_factor": 1.75},
        )
