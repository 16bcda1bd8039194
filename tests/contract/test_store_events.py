"""Storage contract, the event log: sequence numbers, round trips, filters and cursors."""

from __future__ import annotations

from collections.abc import Callable

from grace.adapters.store import MAX_PAGE_SIZE, RecordedSnapshot, SnapshotWrite, Store
from grace.domain.events import Event, EventType
from grace.domain.stages import DeploymentStage
from tests.contract.support import Background, at, register
from tests.helpers import snapshot


def event(event_type: str, resource_id: str | None, n: int) -> Event:
    return Event(
        event_type,
        "contract-test",
        {"resource_id": resource_id, "n": n} if resource_id else {"n": n},
        at(n, microseconds=n),
    )


def test_append_event_assigns_increasing_seq_and_reads_back_unchanged(store: Store) -> None:
    """Each stored event gets a larger seq than the last and reads back field for field."""
    payload = {
        "resource_id": "fraud_detector_v3",
        "version": "3.2.1",
        "error_rate": 0.085,
        "count": 3,
        "healthy": False,
        "reasons": ["error_rate", "ood_rate", None],
        "nested": {"thresholds": {"warning": 0.05}, "empty": []},
        "note": "dérive ☃",
    }
    originals = [
        Event("model.performance_snapshot", "monitor", payload, at(1, microseconds=654321)),
        Event("ops.notified", "notifier", {}, at(2)),
        Event("incident.opened", "incidents", {"resource_id": "churn"}, at(3)),
    ]
    with store.write() as s:
        first = [s.append_event(e) for e in originals[:2]]
    with store.write() as s:
        stored = [*first, s.append_event(originals[2])]
    with store.read() as s:
        listed = s.list_events()

    seqs = [e.seq for e in stored if e.seq is not None]
    assert len(seqs) == len(stored)
    assert seqs == sorted(set(seqs))
    assert stored == [e.stored(seq) for e, seq in zip(originals, seqs, strict=True)]
    assert listed == stored
    assert dict(listed[0].payload) == payload
    assert (listed[0].resource_id, listed[1].resource_id) == ("fraud_detector_v3", None)


def test_list_events_filters_by_resource_and_event_types(store: Store) -> None:
    """resource_id and event_types each narrow the log, together with AND, in seq order."""
    with store.write() as s:
        for n, (kind, resource) in enumerate(
            [
                ("model.registered", "fraud_detector_v3"),
                ("model.registered", "churn"),
                ("model.stage_changed", "fraud_detector_v3"),
                ("incident.opened", "fraud_detector_v3"),
                ("model.stage_changed", "churn"),
                ("ops.notified", None),
            ]
        ):
            s.append_event(event(kind, resource, n))

    def ns(events: list[Event]) -> list[int]:
        return [e.payload["n"] for e in events]

    with store.read() as s:
        assert ns(s.list_events(resource_id="fraud_detector_v3")) == [0, 2, 3]
        assert ns(s.list_events(event_types=["model.stage_changed", "ops.notified"])) == [2, 4, 5]
        assert ns(
            s.list_events(
                resource_id="fraud_detector_v3",
                event_types=["model.registered", "incident.opened"],
            )
        ) == [0, 3]
        assert s.list_events(resource_id="unknown") == []


def test_list_events_pages_ascending_after_and_descending_before_a_seq(store: Store) -> None:
    """after_seq walks forward in seq order; before_seq walks backward, newest first."""
    with store.write() as s:
        stored = [
            s.append_event(event("model.updated", "fraud_detector_v3" if n % 2 else "churn", n))
            for n in range(10)
        ]
    seqs = [e.seq for e in stored if e.seq is not None]
    assert len(seqs) == len(stored)

    with store.read() as s:
        forward = s.list_events(after_seq=seqs[2], limit=4)
        backward = s.list_events(before_seq=seqs[8], limit=3)
        backward_of_one = s.list_events(resource_id="fraud_detector_v3", before_seq=seqs[7])
        to_the_end = s.list_events(after_seq=seqs[-1])

    assert [e.seq for e in forward] == seqs[3:7]
    assert [e.seq for e in backward] == [seqs[7], seqs[6], seqs[5]]
    assert [e.seq for e in backward_of_one] == [seqs[5], seqs[3], seqs[1]]
    assert to_the_end == []


def test_event_page_size_is_capped_at_the_maximum(store: Store) -> None:
    """A limit above 1000 returns at most 1000 events, in either direction."""
    with store.write() as s:
        for n in range(MAX_PAGE_SIZE + 5):
            s.append_event(Event("model.updated", "bulk", {"n": n}, at(0)))
    with store.read() as s:
        forward = s.list_events(limit=10 * MAX_PAGE_SIZE)
        backward = s.list_events(before_seq=2**62, limit=10 * MAX_PAGE_SIZE)
    assert [e.payload["n"] for e in forward] == list(range(MAX_PAGE_SIZE))
    assert [e.payload["n"] for e in backward] == list(range(MAX_PAGE_SIZE + 4, 4, -1))


def follow_past_a_late_commit(store: Store, second: Callable[[], str]) -> tuple[set[str], str, str]:
    """Append an event and, while its transaction is open, start ``second`` (which writes to
    the log and returns its event id) in the background; a reader pages by seq meanwhile and
    after.  Returns the ids the reader saw, the first's id and the second's."""
    seen: list[Event] = []
    with store.write() as s:
        first = s.append_event(Event("model.updated", "first", {}))
        late = Background(second)
        late.finished.wait(0.5)  # PostgreSQL commits it now; SQLite queues it behind us
        with store.read() as r:
            seen += r.list_events(after_seq=0)
    second_id = str(late.join())
    cursor = max((e.seq or 0 for e in seen), default=0)
    with store.read() as r:
        seen += r.list_events(after_seq=cursor)
    return {e.event_id for e in seen}, first.event_id, second_id


def test_reader_following_after_seq_sees_every_committed_event(store: Store) -> None:
    """A consumer that pages with after_seq never skips an event that commits after a later one."""

    def append_second() -> str:
        with store.write() as s:
            return s.append_event(Event("model.updated", "second", {})).event_id

    seen, first, second = follow_past_a_late_commit(store, append_second)
    assert seen == {first, second}


def _snapshot_write(model_id: str, minutes: float) -> SnapshotWrite:
    return SnapshotWrite(snapshot(model_id, "1.0", at=at(minutes)), at(minutes, microseconds=7))


def test_snapshots_and_events_share_one_log_in_order(store: Store) -> None:
    """A stored snapshot is its own monitoring event in the log: events and snapshots (from
    both the session and the snapshot path) get one run of positions, and each snapshot's
    event reads back exactly as it was returned when stored."""
    register(store, "fraud", "1.0", stage=DeploymentStage.PRODUCTION)
    with store.write() as s:
        head = s.append_event(event("model.updated", "fraud", 1))
        (from_session,) = s.insert_snapshots([_snapshot_write("fraud", 1)])
        middle = s.append_event(event("model.updated", "fraud", 2))
    (from_path,) = store.record_snapshots([_snapshot_write("fraud", 2)], lambda _t, _at: None)
    assert isinstance(from_path, RecordedSnapshot)
    with store.write() as s:
        tail = s.append_event(event("model.updated", "fraud", 3))

    with store.read() as s:
        logged = s.list_events(after_seq=0)
        newest_first = s.list_events(before_seq=2**62)
    expected = [head, from_session, middle, from_path.event, tail]
    assert [e.to_dict() for e in logged[-5:]] == [e.to_dict() for e in expected]
    seqs = [e.seq or 0 for e in expected]
    assert seqs == list(range(seqs[0], seqs[0] + 5))
    assert from_path.snapshot_id == from_path.event.seq
    assert [e.seq for e in newest_first] == [e.seq for e in reversed(logged)]
    assert from_session.payload == {
        "resource_id": "fraud",
        **snapshot("fraud", "1.0", at=at(1)).event_data(),
    }
    assert from_session.timestamp == at(1, microseconds=7)


def test_filters_and_pages_cover_snapshot_events(store: Store) -> None:
    """Resource and type filters, both directions and the page limit apply across events and
    snapshots alike."""
    register(store, "fraud", "1.0", stage=DeploymentStage.PRODUCTION)
    register(store, "churn", "1.0", stage=DeploymentStage.PRODUCTION)
    with store.write() as s:
        for n in range(4):
            s.append_event(event("model.updated", "fraud", n))
            s.insert_snapshots([_snapshot_write("fraud", n), _snapshot_write("churn", n)])
    snap = EventType.PERFORMANCE_SNAPSHOT

    with store.read() as s:
        fraud = s.list_events(resource_id="fraud")
        churn_only = s.list_events(resource_id="churn", event_types=[snap])
        no_snapshots = s.list_events(event_types=["model.updated"])
        page = s.list_events(resource_id="fraud", after_seq=fraud[2].seq, limit=3)
        newest = s.list_events(resource_id="fraud", before_seq=fraud[-1].seq, limit=3)
    fraud_types = [e.event_type for e in fraud if e.event_type != "model.registered"]
    assert fraud_types == ["model.updated", snap] * 4
    assert [e.resource_id for e in churn_only] == ["churn"] * 4
    assert {e.event_type for e in no_snapshots} == {"model.updated"}
    assert [e.seq for e in page] == [e.seq for e in fraud[3:6]]
    assert [e.seq for e in newest] == [e.seq for e in reversed(fraud[-4:-1])]


def test_a_follower_sees_a_snapshot_that_commits_behind_an_event(store: Store) -> None:
    """A snapshot recorded while another transaction holds an unfinished event commits after
    it, at a later position: a reader paging by seq sees both."""
    register(store, "fraud", "1.0", stage=DeploymentStage.PRODUCTION)

    def record() -> str:
        result = store.record_snapshots([_snapshot_write("fraud", 1)], lambda _t, _at: None)
        assert isinstance(result[0], RecordedSnapshot)
        return result[0].event.event_id

    seen, first, second = follow_past_a_late_commit(store, record)
    assert {first, second} <= seen
