"""Storage contract, delivery: subscriptions and their leases, deliveries derived with the
cursor, per-model holds, attempts, dead letters and replays."""

from __future__ import annotations

from datetime import timedelta

import pytest

from grace.adapters.store import AttemptResult, Store
from grace.domain.delivery import Attempt, DeliveryStatus, Subscription, SubscriptionKind
from grace.domain.events import Event
from grace.errors import Conflict, DeliveryNotFound, SubscriptionNotFound
from tests.contract.support import at


def _subscription(store: Store, **overrides: object) -> Subscription:
    values: dict[str, object] = {
        "secrets": ["whsec_" + "A" * 44],
        "event_types": None,
        "model_ids": None,
        "dependent_name": None,
        "cursor": 0,
        "at": at(0),
    }
    values.update(overrides)
    with store.write() as s:
        return s.insert_subscription(
            SubscriptionKind.WEBHOOK,
            "https://hooks.example.com/x",
            **values,  # type: ignore[arg-type]
        )


def _events(store: Store, *models: str) -> list[Event]:
    with store.write() as s:
        return s.append_events(
            [Event.of("model.registered", "test", m, {"n": i}, at(i)) for i, m in enumerate(models)]
        )


def test_a_subscription_keeps_what_it_was_given_and_is_removed_with_its_deliveries(
    store: Store,
) -> None:
    made = _subscription(store, event_types=["model.registered"], model_ids=["a"], cursor=7)
    with store.read() as s:
        found = s.get_subscription(made.id)
    assert found == made
    assert (found.event_types, found.model_ids, found.cursor) == (("model.registered",), ("a",), 7)
    assert found.secrets
    assert found.active
    events = _events(store, "a")
    with store.write() as s:
        s.queue_deliveries([made.id], events, at(1))
    with store.write() as s:
        s.delete_subscription(made.id)
    with store.read() as s:
        with pytest.raises(SubscriptionNotFound):
            s.get_subscription(made.id)
        assert s.list_deliveries(subscription_id=made.id) == []


def test_a_lease_is_held_until_it_expires(store: Store) -> None:
    made = _subscription(store)
    with store.write() as s:
        assert [x.id for x in s.lease_subscriptions("w1", at(0), at(10))] == [made.id]
    with store.write() as s:
        assert s.lease_subscriptions("w2", at(5), at(15)) == []  # w1 holds it
        assert [x.id for x in s.lease_subscriptions("w1", at(5), at(15))] == [made.id]  # renewed
    with store.write() as s:
        assert [x.id for x in s.lease_subscriptions("w2", at(16), at(26))] == [made.id]
    with store.write() as s:
        s.release_leases("w2")
        assert [x.id for x in s.lease_subscriptions("w3", at(17), at(27))] == [made.id]
    with store.write() as s:
        s.disable_subscription(made.id, "gone", at(18))
    with store.write() as s:
        assert s.lease_subscriptions("w3", at(19), at(29)) == []


def test_deliveries_are_derived_with_the_cursor_and_only_once(store: Store) -> None:
    made = _subscription(store)
    events = _events(store, "a", "b")
    last = events[-1].seq or 0
    with store.write() as s:
        assert s.derive_deliveries({made.id: 0}, last, {made.id: events}, at(1)) == set()
    with store.write() as s:  # a second worker that read the old cursor changes nothing
        assert s.derive_deliveries({made.id: 0}, last, {made.id: events}, at(1)) == {made.id}
    with store.write() as s:
        s.queue_deliveries([made.id], events, at(1))  # already there: kept as they are
    with store.read() as s:
        assert s.get_subscription(made.id).cursor == last
        found = s.list_deliveries(subscription_id=made.id)
        assert sorted(d.seq for d in found) == [e.seq for e in events]
        assert {d.status for d in found} == {DeliveryStatus.PENDING}
        assert s.count_deliveries(made.id) == {"pending": 2}
        assert set(s.events_at([e.seq or 0 for e in events])) == {e.seq for e in events}


def test_a_model_waiting_for_a_retry_holds_back_only_its_own_later_events(store: Store) -> None:
    made = _subscription(store)
    events = _events(store, "a", "a", "b")
    with store.write() as s:
        s.queue_deliveries([made.id], events, at(0))
    with store.read() as s:
        ready, _ = s.open_deliveries([made.id], at(1), 100)
    first_a = ready[0]
    assert [d.model_id for d in ready] == ["a", "a", "b"]
    failed = Attempt(at(1), 12.5, 503, None)
    retry_at = at(1) + timedelta(minutes=60)
    with store.write() as s:
        s.record_attempts([AttemptResult(first_a.id, failed, DeliveryStatus.PENDING, 1, retry_at)])
    with store.read() as s:
        ready, next_due = s.open_deliveries([made.id], at(2), 100)
        assert [d.model_id for d in ready] == ["b"]
        assert next_due == retry_at
        ready, _ = s.open_deliveries([made.id], at(1) + timedelta(minutes=61), 100)
        assert [d.model_id for d in ready] == ["a", "a", "b"]
        again = s.get_delivery(first_a.id)
    assert (again.tries, again.last_status_code) == (1, 503)
    assert [a.to_dict()["status_code"] for a in again.attempts] == [503]


def test_a_dead_letter_is_replayed_and_a_subscription_from_a_seq(store: Store) -> None:
    made = _subscription(store)
    events = _events(store, "a", "b", "c")
    last = events[-1].seq or 0
    with store.write() as s:
        s.derive_deliveries({made.id: 0}, last, {made.id: events}, at(0))
        ready, _ = s.open_deliveries([made.id], at(0), 100)
        done = Attempt(at(1), 1.0, 200, None)
        dead = Attempt(at(1), 1.0, 400, None)
        s.record_attempts(
            [
                AttemptResult(ready[0].id, done, DeliveryStatus.DELIVERED, 1, at(1)),
                AttemptResult(ready[1].id, dead, DeliveryStatus.DEAD, 1, at(1)),
            ]
        )
    with store.write() as s:
        with pytest.raises(Conflict):
            s.replay_delivery(ready[0].id, at(2))
        replayed = s.replay_delivery(ready[1].id, at(2))
        with pytest.raises(DeliveryNotFound):
            s.replay_delivery(10**9, at(2))
    assert (replayed.status, replayed.tries) == (DeliveryStatus.PENDING, 0)
    with store.write() as s:
        reopened = s.replay_subscription(made.id, events[0].seq or 0, at(3))
    with store.read() as s:
        assert reopened == 3
        assert s.get_subscription(made.id).cursor == (events[0].seq or 0) - 1
        assert {d.status for d in s.list_deliveries(subscription_id=made.id)} == {
            DeliveryStatus.PENDING
        }
        assert len(s.list_deliveries(status=DeliveryStatus.PENDING)) == 3
        assert s.list_deliveries(event_id=events[1].event_id)[0].seq == events[1].seq


def test_dependents_are_found_by_their_model(store: Store) -> None:
    _subscription(store, model_ids=["a"], dependent_name="billing")
    _subscription(store, model_ids=["b"], dependent_name="search")
    _subscription(store, model_ids=["a"])  # a plain subscription, no dependent
    with store.read() as s:
        assert [d.dependent_name for d in s.list_subscriptions(dependents_of="a")] == ["billing"]
        assert len(s.list_subscriptions()) == 3
