"""Trust metrics, on each database: an incident about a version lowers its score, a rollback
lowers it more, healthy hours in production raise it, and a model's minimum gates promotion."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from grace.bootstrap import Grace, build
from grace.clock import FakeClock
from grace.errors import GovernanceRefused
from grace.model_registry import DeploymentStage
from tests.conftest import make_settings
from tests.helpers import DEGRADED, HEALTHY, register, snapshot

MODEL = "fraud"


@pytest.fixture
async def trusted(database_url: str, clock: FakeClock) -> AsyncIterator[Grace]:
    grace = build(make_settings(database_url), clock=clock)
    register(grace.registry, MODEL, "1", production=True)
    register(grace.registry, MODEL, "2", production=True)
    yield grace
    await grace.aclose()


def _trust(grace: Grace, version: str) -> float:
    return grace.registry.get_model(MODEL, version).trust_score


async def test_an_incident_lowers_trust_once_and_a_rollback_more(
    trusted: Grace, clock: FakeClock
) -> None:
    for _ in range(2):  # the second is an occurrence of the same incident: no second penalty
        await trusted.registry.record_performance_snapshot(
            snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
        )
    assert _trust(trusted, "2") == 0.95  # a HIGH incident (the guide's degraded snapshot)
    await trusted.registry.check_rollback_triggers(MODEL, auto_remediate=True)
    assert _trust(trusted, "2") == 0.7  # and a HIGH rollback (0.25)
    assert trusted.registry.get_model_health_summary(MODEL)["trust_score"] == _trust(trusted, "1")


async def test_healthy_hours_in_production_raise_trust(trusted: Grace, clock: FakeClock) -> None:
    await trusted.registry.record_performance_snapshot(
        snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
    )
    assert _trust(trusted, "2") == 0.95
    assert await trusted.trust.credit_healthy() == {}  # the clock starts
    for _ in range(13):
        clock.advance(minutes=10)
        await trusted.registry.record_performance_snapshot(
            snapshot(MODEL, "2", at=clock.now(), base=HEALTHY)
        )
    assert await trusted.trust.credit_healthy() == {MODEL: 0.97}  # two healthy hours
    assert await trusted.trust.credit_healthy() == {}  # nothing more is due


async def test_an_unhealthy_hour_earns_nothing(trusted: Grace, clock: FakeClock) -> None:
    await trusted.trust.credit_healthy()
    for _ in range(7):
        clock.advance(minutes=10)
        await trusted.registry.record_performance_snapshot(
            snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
        )
    before = _trust(trusted, "2")
    assert await trusted.trust.credit_healthy() == {}
    assert _trust(trusted, "2") == before


async def test_a_models_minimum_trust_gates_promotion(trusted: Grace) -> None:
    await trusted.registry.rollback(MODEL, reason="bad")  # 2 -> rollback; 1 restored
    register(trusted.registry, MODEL, "3")
    await trusted.policies.update(MODEL, {"min_trust": 0.99})
    with trusted.store.write() as s:
        s.set_trust(MODEL, "3", 0.5, credited_at=None, at=trusted.clock.now())
    with pytest.raises(GovernanceRefused, match=r"trust score 0\.50 is below"):
        trusted.registry.update_deployment_status(MODEL, DeploymentStage.PRODUCTION, "3")
    await trusted.policies.update(MODEL, {"min_trust": 0.4})
    trusted.registry.update_deployment_status(MODEL, DeploymentStage.PRODUCTION, "3")
    production = trusted.registry.get_production_version(MODEL)
    assert production is not None
    assert production.version == "3"
