"""The guide's main flow on both databases: a degraded production model is rolled back."""

from __future__ import annotations

from grace.bootstrap import Grace
from grace.clock import FakeClock
from tests.helpers import DEGRADED, register, snapshot


async def test_degraded_production_model_is_rolled_back_to_last_stable_version(
    any_grace: Grace, clock: FakeClock
) -> None:
    """With auto-remediation on, one degraded snapshot opens a HIGH incident and rolls back."""
    registry = any_grace.registry
    register(registry, "fraud_detector_v3", "3.1.5", production=True)
    register(registry, "fraud_detector_v3", "3.2.1", production=True)
    registry.configure_model("fraud_detector_v3", auto_remediate=True)

    result = await registry.record_performance_snapshot(
        snapshot("fraud_detector_v3", "3.2.1", at=clock.now(), base=DEGRADED)
    )

    assert result.check is not None
    assert result.check["should_rollback"]
    production = registry.get_production_version("fraud_detector_v3")
    assert production is not None
    assert production.version == "3.1.5"
    assert registry.get_model("fraud_detector_v3", "3.2.1").status.value == "rollback"
    (incident,) = any_grace.incidents.list_incidents(resource_id="fraud_detector_v3")
    assert incident.severity.value == "high"
