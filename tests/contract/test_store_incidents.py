"""Storage contract, incidents: opening, recurrence, the open-key invariant, status and timeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from grace.adapters.store import MAX_PAGE_SIZE, Store, StoreSession
from grace.domain.records import Incident, IncidentStatus, TimelineEntry
from grace.domain.severity import Severity
from grace.errors import ConcurrentChange, GraceError
from tests.contract.support import T0, Background, at, new_incident

OPEN = IncidentStatus.OPEN
ACKNOWLEDGED = IncidentStatus.ACKNOWLEDGED
RESOLVED = IncidentStatus.RESOLVED


def test_inserted_incident_is_open_with_one_occurrence_and_reads_back(store: Store) -> None:
    """insert_incident stores every field, opens it once at ``at``, with an empty timeline."""
    new = new_incident(
        "monitor:model:fraud_detector_v3:error_rate",
        severity=Severity.HIGH,
        context={"error_rate": 0.085, "thresholds": {"critical": 0.05}, "flags": [True, None]},
    )
    with store.write() as s:
        inserted = s.insert_incident(new, T0)
    with store.read() as s:
        read = s.get_incident(inserted.id)

    assert read == inserted
    assert read == Incident(
        id=inserted.id,
        source="monitor",
        resource_type="model",
        resource_id="fraud_detector_v3",
        severity=Severity.HIGH,
        title="Error rate above threshold",
        description="error_rate 0.085 > 0.05",
        context={"error_rate": 0.085, "thresholds": {"critical": 0.05}, "flags": [True, None]},
        status=OPEN,
        dedup_key="monitor:model:fraud_detector_v3:error_rate",
        occurrences=1,
        created_at=T0,
        updated_at=T0,
        last_seen_at=T0,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
        timeline=(),
    )


def test_find_open_incident_matches_unresolved_incidents_by_dedup_key(store: Store) -> None:
    """An open or acknowledged incident is found by its key; a resolved one no longer is."""
    with store.write() as s:
        opened = s.insert_incident(new_incident("key-a"), T0)
        s.insert_incident(new_incident("key-b"), T0)
    with store.read() as s:
        found = s.find_open_incident("key-a")
        assert s.find_open_incident("key-unknown") is None
    assert found is not None
    assert (found.id, found.dedup_key) == (opened.id, "key-a")

    with store.write() as s:
        s.set_incident_status(opened.id, ACKNOWLEDGED, "alice", at(1))
    with store.read() as s:
        acknowledged = s.find_open_incident("key-a")
    assert acknowledged is not None
    assert acknowledged.id == opened.id

    with store.write() as s:
        s.set_incident_status(opened.id, RESOLVED, "alice", at(2))
    with store.read() as s:
        assert s.find_open_incident("key-a") is None
        still_open = s.find_open_incident("key-b")
    assert still_open is not None


def test_record_occurrence_counts_raises_severity_only_upwards_and_keeps_latest_context(
    store: Store,
) -> None:
    """Each occurrence adds one, takes the higher severity and replaces the context."""
    with store.write() as s:
        opened = s.insert_incident(new_incident("key", context={"first": 1}), T0)
    with store.write() as s:
        raised = s.record_occurrence(opened.id, Severity.HIGH, {"second": 2}, at(1))
    with store.write() as s:
        kept = s.record_occurrence(opened.id, Severity.LOW, {"third": 3}, at(2))
    with store.read() as s:
        read = s.get_incident(opened.id)

    assert (raised.occurrences, raised.severity, dict(raised.context)) == (
        2,
        Severity.HIGH,
        {"second": 2},
    )
    assert read == kept
    assert (read.occurrences, read.severity, dict(read.context)) == (3, Severity.HIGH, {"third": 3})
    assert (read.created_at, read.updated_at, read.last_seen_at) == (T0, at(2), at(2))
    assert read.status is OPEN


def test_second_open_incident_for_a_key_is_refused_until_the_first_is_resolved(
    store: Store,
) -> None:
    """While the key's incident is unresolved a second insert raises; once resolved it succeeds."""
    with store.write() as s:
        first = s.insert_incident(new_incident("key"), T0)
        s.insert_incident(new_incident("other-key"), T0)
    for status in (OPEN, ACKNOWLEDGED):
        with store.write() as s:
            s.set_incident_status(first.id, status, "alice", at(1))
        with pytest.raises(ConcurrentChange), store.write() as s:
            s.insert_incident(new_incident("key", title=f"while {status}"), at(2))

    with store.write() as s:
        s.set_incident_status(first.id, RESOLVED, "alice", at(3))
    with store.write() as s:
        second = s.insert_incident(new_incident("key"), at(4))
    with store.read() as s:
        reopened = s.find_open_incident("key")
        listed = s.list_incidents()
    assert second.id != first.id
    assert reopened is not None
    assert reopened.id == second.id
    assert sorted(i.title for i in listed) == ["Error rate above threshold"] * 3


def test_concurrent_opens_of_one_key_leave_a_single_open_incident(store: Store) -> None:
    """An insert racing an uncommitted one with the same key waits, then raises ConcurrentChange."""

    def open_too() -> str:
        try:
            with store.write() as s:
                s.insert_incident(new_incident("key"), at(1))
        except ConcurrentChange:
            return "refused"
        return "opened"

    with store.write() as s:
        s.insert_incident(new_incident("key"), T0)
        rival = Background(open_too)
    assert rival.join() == "refused"
    with store.read() as s:
        assert [i.dedup_key for i in s.list_incidents()] == ["key"]


def test_set_incident_status_stamps_who_acknowledged_and_resolved_and_when(store: Store) -> None:
    """Acknowledging stamps acknowledged_at/by; resolving stamps resolved_at/by, keeping both."""
    with store.write() as s:
        opened = s.insert_incident(new_incident("key"), T0)
    with store.write() as s:
        acknowledged = s.set_incident_status(opened.id, ACKNOWLEDGED, "alice", at(1))
    with store.write() as s:
        resolved = s.set_incident_status(opened.id, RESOLVED, "bob", at(2))
    with store.read() as s:
        read = s.get_incident(opened.id)

    assert (acknowledged.status, acknowledged.acknowledged_at, acknowledged.acknowledged_by) == (
        ACKNOWLEDGED,
        at(1),
        "alice",
    )
    assert (acknowledged.resolved_at, acknowledged.resolved_by) == (None, None)
    assert read == resolved
    assert read.status is RESOLVED
    assert (read.acknowledged_at, read.acknowledged_by) == (at(1), "alice")
    assert (read.resolved_at, read.resolved_by, read.updated_at) == (at(2), "bob", at(2))
    assert read.created_at == T0


def test_naming_an_unknown_incident_raises_incident_not_found(store: Store) -> None:
    """Every method taking an incident id refuses one that does not exist."""
    with store.write() as s:
        existing = s.insert_incident(new_incident("key"), T0)
    missing = existing.id + 1000
    operations: dict[str, Callable[[StoreSession], object]] = {
        "get_incident": lambda s: s.get_incident(missing),
        "set_incident_status": lambda s: s.set_incident_status(missing, RESOLVED, "bob", T0),
        "record_occurrence": lambda s: s.record_occurrence(missing, Severity.HIGH, {}, T0),
        "append_timeline": lambda s: s.append_timeline(missing, T0, "note", "hello"),
    }
    outcomes: dict[str, tuple[str, int | None]] = {}
    with store.write() as s:
        for name, operation in operations.items():
            try:
                operation(s)
            except GraceError as exc:
                outcomes[name] = (type(exc).__name__, getattr(exc, "incident_id", None))
            else:
                outcomes[name] = ("none", None)
    assert outcomes == dict.fromkeys(operations, ("IncidentNotFound", missing))


def test_timeline_comes_back_with_the_incident_in_append_order(store: Store) -> None:
    """append_timeline entries are returned by get_incident oldest first, each as appended."""
    with store.write() as s:
        incident = s.insert_incident(new_incident("key"), T0)
        other = s.insert_incident(new_incident("other"), T0)
    appended: list[TimelineEntry] = []
    with store.write() as s:
        appended.append(
            s.append_timeline(incident.id, T0, "opened", "opened", data={"severity": "medium"})
        )
        s.append_timeline(other.id, at(1), "note", "belongs to the other incident")
        appended.append(s.append_timeline(incident.id, at(2), "note", "looking", actor="alice"))
    with store.write() as s:
        appended.append(
            s.append_timeline(
                incident.id,
                at(3, microseconds=1),
                "resolved",
                "fixed by rollback",
                actor="bob",
                data={"rolled_back_to": "3.1.5", "steps": [1, 2]},
            )
        )
    with store.read() as s:
        timeline = s.get_incident(incident.id).timeline

    assert list(timeline) == appended
    assert [e.kind for e in timeline] == ["opened", "note", "resolved"]
    assert (timeline[0].actor, dict(timeline[0].data)) == (None, {"severity": "medium"})
    assert dict(timeline[1].data) == {}
    assert timeline[2].at == at(3, microseconds=1)


def test_a_long_timeline_comes_back_as_its_newest_entries(store: Store) -> None:
    """Past MAX_PAGE_SIZE entries, get_incident keeps the newest ones, still oldest first."""
    with store.write() as s:
        incident = s.insert_incident(new_incident("long"), T0)
        for n in range(MAX_PAGE_SIZE + 3):
            s.append_timeline(incident.id, T0, "note", f"entry {n}")
    with store.read() as s:
        timeline = s.get_incident(incident.id).timeline
    assert len(timeline) == MAX_PAGE_SIZE
    assert timeline[0].message == "entry 3"
    assert timeline[-1].message == f"entry {MAX_PAGE_SIZE + 2}"


def test_list_incidents_filters_and_returns_newest_first_without_timelines(store: Store) -> None:
    """Filters by resource, status and severity combine; before_id pages back; newest first."""
    specs = [
        ("k0", "fraud_detector_v3", Severity.HIGH),
        ("k1", "churn", Severity.LOW),
        ("k2", "fraud_detector_v3", Severity.MEDIUM),
        ("k3", "fraud_detector_v3", Severity.HIGH),
        ("k4", "churn", Severity.HIGH),
    ]
    with store.write() as s:
        ids = {
            key: s.insert_incident(new_incident(key, resource_id=rid, severity=sev), T0).id
            for key, rid, sev in specs
        }
        s.append_timeline(ids["k3"], T0, "opened", "opened")
        s.set_incident_status(ids["k0"], RESOLVED, "alice", at(1))

    def keys(incidents: list[Incident]) -> list[str]:
        return [i.dedup_key for i in incidents]

    with store.read() as s:
        everything = s.list_incidents()
        assert keys(everything) == ["k4", "k3", "k2", "k1", "k0"]
        assert keys(s.list_incidents(resource_id="fraud_detector_v3")) == ["k3", "k2", "k0"]
        assert keys(s.list_incidents(status=RESOLVED)) == ["k0"]
        assert keys(s.list_incidents(severity=Severity.HIGH)) == ["k4", "k3", "k0"]
        assert keys(
            s.list_incidents(resource_id="fraud_detector_v3", status=OPEN, severity=Severity.HIGH)
        ) == ["k3"]
        assert keys(s.list_incidents(before_id=ids["k3"], limit=2)) == ["k2", "k1"]
        assert keys(s.list_incidents(limit=1)) == ["k4"]
    assert all(i.timeline == () for i in everything)


def test_a_recurrence_and_a_runbook_read_back_and_the_last_resolved_is_found(
    store: Store,
) -> None:
    with store.write() as s:
        first = s.insert_incident(new_incident("k"), T0)
        s.set_incident_status(first.id, RESOLVED, "alice", at(1))
        again = s.insert_incident(
            replace(new_incident("k"), recurrence_of=first.id, runbook_url="https://rb/x"), at(2)
        )
        s.insert_incident(new_incident("other"), at(3))
    with store.read() as s:
        found = s.last_resolved_incident("k")
        assert found is not None
        assert found.id == first.id
        assert s.last_resolved_incident("other") is None
        assert s.last_resolved_incident("nothing") is None
        read = s.get_incident(again.id)
    assert (read.recurrence_of, read.runbook_url) == (first.id, "https://rb/x")


def test_incident_times_are_the_incidents_opened_in_the_window(store: Store) -> None:
    with store.write() as s:
        a = s.insert_incident(new_incident("a", resource_id="m1"), at(0))
        s.set_incident_status(a.id, ACKNOWLEDGED, "alice", at(1))
        s.set_incident_status(a.id, RESOLVED, "alice", at(5))
        s.insert_incident(new_incident("b", resource_id="m2", severity=Severity.HIGH), at(10))
        s.insert_incident(new_incident("c", resource_id="m1"), at(20))
    with store.read() as s:
        times = s.incident_times(at(0), at(10), limit=100)
        assert [(t.resource_id, t.created_at) for t in times] == [("m1", at(0)), ("m2", at(10))]
        assert (times[0].acknowledged_at, times[0].resolved_at) == (at(1), at(5))
        assert times[1].severity is Severity.HIGH
        assert [
            t.created_at for t in s.incident_times(at(0), at(30), resource_id="m1", limit=100)
        ] == [at(0), at(20)]
        assert len(s.incident_times(at(0), at(30), limit=2)) == 2
