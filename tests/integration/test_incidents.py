"""The incident registry: persistence, de-duplication, status and timeline."""

from __future__ import annotations

from typing import Any

import pytest

from grace.bootstrap import Grace
from grace.clock import FakeClock
from grace.domain.records import IncidentStatus
from grace.errors import Conflict, IncidentNotFound, InvalidInput
from tests.helpers import DEGRADED, register, snapshot

MODEL = "fraud_detector_v3"


async def test_registry_incident_carries_the_guides_fields(
    any_grace: Grace, clock: FakeClock
) -> None:
    """The automatically opened incident reads like the guide's example."""
    register(any_grace.registry, MODEL, "3.2.1", production=True)
    await any_grace.registry.record_performance_snapshot(
        snapshot(MODEL, "3.2.1", at=clock.now(), base=DEGRADED, ood_rate=0.05)
    )
    (incident,) = any_grace.incidents.list_incidents(resource_id=MODEL)
    assert incident.source == "model_registry"
    assert incident.resource_type == "ml_model"
    assert incident.resource_id == MODEL
    assert incident.severity.value == "high"
    assert incident.title == "Model performance degradation detected: Fraud Detector V3"
    assert incident.description == (
        "Model fraud_detector_v3 (v3.2.1) triggered rollback conditions:\n"
        "- High error rate: 8.50%\n"
        "- Input distribution drift: 0.350"
    )
    context = incident.context
    assert context["model_version"] == "3.2.1"
    assert context["deploy_status"] == "production"
    assert context["reasons"] == ["High error rate: 8.50%", "Input distribution drift: 0.350"]
    assert context["avg_error_rate"] == pytest.approx(0.085)
    assert context["avg_ood_rate"] == pytest.approx(0.05)
    assert context["window_minutes"] == 10
    assert incident.status is IncidentStatus.OPEN
    assert incident.to_dict()["status"] == "open"


async def test_repeat_of_an_open_incident_is_an_occurrence_not_a_duplicate(
    any_grace: Grace, clock: FakeClock
) -> None:
    """Three bad snapshots make one incident with three occurrences."""
    register(any_grace.registry, MODEL, "1", production=True)
    for _ in range(3):
        await any_grace.registry.record_performance_snapshot(
            snapshot(MODEL, "1", at=clock.now(), base=DEGRADED)
        )
        clock.advance(seconds=30)
    (incident,) = any_grace.incidents.list_incidents()
    assert incident.occurrences == 3
    full = any_grace.incidents.get_incident(incident.id)
    assert [t.kind for t in full.timeline] == ["opened", "paged"]  # plain repeats only count
    assert full.last_seen_at > full.created_at


async def test_occurrence_raises_severity_but_never_lowers_it(grace: Grace) -> None:
    """A HIGH repeat of a MEDIUM incident raises it; a LOW repeat leaves it HIGH."""
    incidents = grace.incidents
    args: dict[str, Any] = {
        "source": "tests",
        "resource_type": "ml_model",
        "resource_id": "m",
        "title": "t",
    }
    first = await incidents.create_incident(severity="medium", description="d", **args)
    raised = await incidents.create_incident(severity="high", description="d", **args)
    kept = await incidents.create_incident(severity="low", description="d", **args)
    assert first.id == raised.id == kept.id
    assert raised.severity.value == "high"
    assert kept.severity.value == "high"
    timeline = incidents.get_incident(first.id).timeline
    assert [t.kind for t in timeline] == ["opened", "paged", "severity_raised", "paged"]
    assert "occurrence 2: severity raised from medium to high" in timeline[2].message


async def test_acknowledge_resolve_and_annotate(any_grace: Grace, clock: FakeClock) -> None:
    """Status moves open -> acknowledged -> resolved with who and when on the timeline."""
    incidents = any_grace.incidents
    incident = await incidents.create_incident(
        source="tests", resource_type="ml_model", resource_id="m", severity="high", title="t"
    )
    clock.advance(minutes=2)
    acked = await incidents.acknowledge(incident.id, actor="alice", note="looking")
    assert acked.status is IncidentStatus.ACKNOWLEDGED
    assert acked.acknowledged_by == "alice"
    await incidents.annotate(incident.id, "root cause: bad feature pipeline", actor="alice")
    clock.advance(minutes=8)
    resolved = await incidents.resolve(incident.id, actor="bob")
    assert resolved.status is IncidentStatus.RESOLVED
    assert resolved.resolved_by == "bob"
    assert resolved.resolution_seconds == 600
    assert [t.kind for t in resolved.timeline] == [
        "opened",
        "paged",
        "acknowledged",
        "note",
        "resolved",
    ]
    with pytest.raises(Conflict, match="already resolved"):
        await incidents.acknowledge(incident.id)
    assert [i.id for i in incidents.list_incidents(status="resolved")] == [incident.id]
    assert incidents.list_incidents(status="open") == []


async def test_after_resolution_a_new_incident_opens(grace: Grace) -> None:
    """A resolved incident does not absorb later trouble: the next one is new."""
    args: dict[str, Any] = {
        "source": "s",
        "resource_type": "ml_model",
        "resource_id": "m",
        "title": "t",
    }
    first = await grace.incidents.create_incident(severity="high", **args)
    await grace.incidents.resolve(first.id)
    second = await grace.incidents.create_incident(severity="high", **args)
    assert second.id != first.id
    assert second.occurrences == 1


async def test_bad_incident_input_is_refused(grace: Grace) -> None:
    """Unknown severity, empty title and unserialisable context are refused by field."""
    base: dict[str, Any] = {"source": "s", "resource_type": "ml_model", "resource_id": "m"}
    with pytest.raises(InvalidInput) as caught:
        await grace.incidents.create_incident(severity="apocalyptic", title="t", **base)
    assert caught.value.field == "severity"
    with pytest.raises(InvalidInput) as caught:
        await grace.incidents.create_incident(severity="low", title=" ", **base)
    assert caught.value.field == "title"
    with pytest.raises(InvalidInput) as caught:
        await grace.incidents.create_incident(
            severity="low", title="t", context={"x": {1, 2}}, **base
        )
    assert caught.value.field == "context"
    with pytest.raises(IncidentNotFound):
        await grace.incidents.resolve(999)
    assert grace.incidents.list_incidents() == []
