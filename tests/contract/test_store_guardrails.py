"""Storage contract, guardrails: remediation policies, maintenance windows, the counts the
guardrails read, and runs that did not act (held, waiting, decided)."""

from __future__ import annotations

import pytest

from grace.adapters.store import Store
from grace.domain.guardrails import OnWindowEnd, RemediationPolicy
from grace.domain.records import ExecutionStatus
from grace.errors import ConcurrentChange, WindowNotFound
from tests.contract.support import T0, at

S = ExecutionStatus
ROLLBACK = "model_rollback"


def test_a_model_without_a_policy_has_the_defaults_and_changes_read_back(store: Store) -> None:
    with store.write() as s:
        assert s.get_remediation_policy("fraud") == RemediationPolicy("fraud")
        s.set_remediation_policy("fraud", {"require_approval": True, "max_per_hour": 2}, T0)
        changed = s.set_remediation_policy(
            "fraud",
            {"dry_run": True, "breaker_opened_at": at(1), "breaker_reason": "3 failed"},
            at(1),
        )
    with store.read() as s:
        assert s.get_remediation_policy("fraud") == changed
        assert s.get_remediation_policy("other") == RemediationPolicy("other")
    assert changed == RemediationPolicy(
        "fraud",
        require_approval=True,
        dry_run=True,
        max_per_hour=2,
        breaker_opened_at=at(1),
        breaker_reason="3 failed",
    )
    with store.write() as s:
        closed = s.set_remediation_policy(
            "fraud",
            {"breaker_opened_at": None, "breaker_reason": None, "max_per_hour": None},
            at(2),
        )
    assert not closed.breaker_open
    assert closed.max_per_hour is None
    assert closed.require_approval


def test_windows_round_trip_and_cover_their_model_or_every_model(store: Store) -> None:
    with store.write() as s:
        one = s.insert_window("fraud", at(10), at(20), "deploy", OnWindowEnd.ACT, "alice", T0)
        every = s.insert_window(None, at(15), at(40), "db move", OnWindowEnd.PAGE, "bob", T0)
    with store.read() as s:
        assert s.get_window(one.id) == one
        assert (one.model_id, one.starts_at, one.ends_at, one.reason) == (
            "fraud",
            at(10),
            at(20),
            "deploy",
        )
        assert (one.created_by, one.on_end, one.removed_at, one.released_at) == (
            "alice",
            OnWindowEnd.ACT,
            None,
            None,
        )
        assert s.window_covering("fraud", at(5)) is None
        assert s.window_covering("fraud", at(12)) == one
        assert s.window_covering("fraud", at(18)) == every  # ends last
        assert s.window_covering("other", at(12)) is None
        assert s.window_covering("other", at(16)) == every
        assert s.window_covering("fraud", at(40)) is None  # the end is not inside
        assert [w.id for w in s.list_windows()] == [one.id, every.id]
        assert [w.id for w in s.list_windows(model_id="other")] == [every.id]
        assert [w.id for w in s.list_windows(ending_after=at(25))] == [every.id]
        with pytest.raises(WindowNotFound):
            s.get_window(every.id + 100)


def test_a_removed_window_covers_nothing_but_keeps_its_row(store: Store) -> None:
    with store.write() as s:
        window = s.insert_window("fraud", at(0), at(60), "deploy", OnWindowEnd.ACT, None, T0)
        removed = s.remove_window(window.id, at(5))
        again = s.remove_window(window.id, at(6))
    assert removed.removed_at == at(5)
    assert again == removed
    with store.read() as s:
        assert s.window_covering("fraud", at(10)) is None
        assert s.list_windows() == []
        assert s.list_windows(include_removed=True) == [removed]
        # a removed window has ended: its held actions are due
        assert [w.id for w in s.ended_windows(at(10))] == [window.id]


def test_ended_windows_are_released_once(store: Store) -> None:
    with store.write() as s:
        first = s.insert_window("a", at(0), at(10), "x", OnWindowEnd.ACT, None, T0)
        s.insert_window("b", at(0), at(30), "y", OnWindowEnd.ACT, None, T0)
    with store.write() as s:
        assert [w.id for w in s.ended_windows(at(20))] == [first.id]
        assert s.release_window(first.id, at(20))
        assert not s.release_window(first.id, at(21))
        assert s.ended_windows(at(20)) == []
        assert s.get_window(first.id).released_at == at(20)


def _run(store: Store, model: str, status: ExecutionStatus, minutes: float, **kw: object) -> int:
    with store.write() as s:
        return s.insert_execution(
            ROLLBACK,
            "ml_model",
            model,
            status,
            {},
            at(minutes),
            **kw,  # type: ignore[arg-type]
        ).id


def test_counts_take_only_remediation_runs_that_acted(store: Store) -> None:
    for minutes, status in [(0, S.SUCCEEDED), (10, S.FAILED), (20, S.RUNNING)]:
        _run(store, "a", status, minutes, correlation_id=f"r{minutes}")
    _run(store, "b", S.SUCCEEDED, 30, correlation_id="rb")
    for status in (S.REFUSED, S.HELD, S.DRY_RUN, S.WAITING_APPROVAL, S.DENIED, S.ABANDONED):
        _run(store, "a", status, 40, correlation_id="no")
    _run(store, "a", S.SUCCEEDED, 45)  # a manual run: no correlation id
    with store.read() as s:
        assert s.count_remediations([ROLLBACK], at(0)) == 4
        assert s.count_remediations([ROLLBACK], at(5)) == 3
        assert s.count_remediations([ROLLBACK], at(0), resource_id="a") == 3
        assert s.count_remediations(["other"], at(0)) == 0
        assert s.remediation_outcomes("a", [ROLLBACK], 5) == [False, True]


def test_runs_that_wait_or_are_held_are_found_and_decided_once(store: Store) -> None:
    waiting = _run(store, "a", S.WAITING_APPROVAL, 0, reason="waiting_approval", expires_at=at(60))
    held = _run(store, "a", S.HELD, 1, reason="maintenance_window", window_id=7)
    with store.read() as s:
        w = s.get_execution(waiting)
        assert (w.status, w.reason, w.expires_at, w.finished_at) == (
            S.WAITING_APPROVAL,
            "waiting_approval",
            at(60),
            None,
        )
        assert s.get_execution(held).window_id == 7
        assert s.get_execution(held).finished_at is None
        assert [e.id for e in s.executions_in(S.HELD, window_id=7)] == [held]
        assert s.executions_in(S.HELD, window_id=8) == []
        assert [e.id for e in s.executions_in(S.WAITING_APPROVAL, expires_before=at(61))] == [
            waiting
        ]
        assert s.executions_in(S.WAITING_APPROVAL, expires_before=at(59)) == []
    with store.write() as s:
        denied = s.update_execution(
            waiting,
            status=S.DENIED,
            reason="denied",
            decided_by="alice",
            decided_at=at(5),
            finished_at=at(5),
            expected_status=S.WAITING_APPROVAL,
        )
    assert (denied.status, denied.decided_by, denied.decided_at) == (S.DENIED, "alice", at(5))
    with store.write() as s, pytest.raises(ConcurrentChange, match="denied"):
        s.update_execution(waiting, status=S.RUNNING, expected_status=S.WAITING_APPROVAL)
    with store.read() as s:
        assert s.get_execution(waiting).status is S.DENIED


def test_the_remediation_lock_can_be_taken_in_a_write(store: Store) -> None:
    with store.write() as s:
        s.lock_remediations()
        s.lock_remediations()  # again in the same transaction: no deadlock
