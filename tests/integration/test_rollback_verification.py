"""The guide's "verify rollback success", on each database: over a verification window the
restored version must be healthy; a failing one escalates the incident to CRITICAL (paging
again); no snapshot at all is "unverified", not a success."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from grace.bootstrap import Grace, build
from grace.clarity import EventRecorder
from grace.clock import FakeClock
from tests.conftest import make_settings
from tests.helpers import DEGRADED, HEALTHY, register, snapshot

MODEL = "fraud"


@pytest.fixture
async def verifying(database_url: str, clock: FakeClock) -> AsyncIterator[Grace]:
    grace = build(
        make_settings(
            database_url, rollback_verification_minutes=10, remediation_cooldown_minutes=0
        ),
        clock=clock,
    )
    register(grace.registry, MODEL, "1", production=True)
    register(grace.registry, MODEL, "2", production=True)
    grace.registry.configure_model(MODEL, auto_remediate=True)
    yield grace
    await grace.aclose()


async def _roll_back(grace: Grace, clock: FakeClock) -> dict[str, Any]:
    recorded = await grace.registry.record_performance_snapshot(
        snapshot(MODEL, "2", at=clock.now(), base=DEGRADED)
    )
    assert recorded.check is not None
    check: dict[str, Any] = dict(recorded.check)
    assert check["remediation"]["status"] == "succeeded"
    return check


async def _snapshots(grace: Grace, clock: FakeClock, base: dict[str, Any]) -> None:
    for _ in range(5):
        clock.advance(minutes=2)
        await grace.registry.record_performance_snapshot(
            snapshot(MODEL, "1", at=clock.now(), base=base)
        )


async def test_a_healthy_restored_version_is_verified(verifying: Grace, clock: FakeClock) -> None:
    check = await _roll_back(verifying, clock)
    assert await verifying.verification.verify_due() == []  # the window has not passed
    await _snapshots(verifying, clock, HEALTHY)

    (run,) = await verifying.verification.verify_due()

    assert run.result["verification"]["status"] == "verified"
    assert run.result["verification"]["snapshot_count"] == 5
    kinds = [t.kind for t in verifying.incidents.get_incident(check["incident_id"]).timeline]
    assert "rollback_verified" in kinds
    assert await verifying.verification.verify_due() == []  # judged once


async def test_a_failing_restored_version_escalates_the_incident_and_pages(
    verifying: Grace, clock: FakeClock
) -> None:
    check = await _roll_back(verifying, clock)
    recorder = EventRecorder()
    verifying.bus.subscribe(recorder)
    verifying.registry.configure_model(MODEL, auto_remediate=False)  # no second rollback
    await _snapshots(verifying, clock, DEGRADED)

    (run,) = await verifying.verification.verify_due()

    assert run.result["verification"]["status"] == "failed"
    incidents = verifying.incidents.list_incidents(MODEL)
    escalated = [i for i in incidents if i.severity.value == "critical"]
    assert escalated, [(i.id, i.severity) for i in incidents]
    assert "escalated" in [
        t.kind for t in verifying.incidents.get_incident(escalated[0].id).timeline
    ]
    assert "alert.triggered" in [e.event_type for e in recorder.events]
    assert "remediation.rollback_verified" in [e.event_type for e in recorder.events]
    assert check["incident_id"] is not None


async def test_no_snapshot_in_the_window_is_unverified_not_success(
    verifying: Grace, clock: FakeClock
) -> None:
    await _roll_back(verifying, clock)
    clock.advance(minutes=11)

    (run,) = await verifying.verification.verify_due()

    assert run.result["verification"]["status"] == "unverified"
    assert "not a success" in run.result["verification"]["message"]
