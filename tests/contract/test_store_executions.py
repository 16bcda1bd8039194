"""Storage contract, playbook executions: recording runs, their steps and finding the last one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta, timezone

from grace.adapters.store import Store, StoreSession
from grace.domain.records import ExecutionStatus, PlaybookExecution, StepRecord, StepStatus
from grace.errors import GraceError
from tests.contract.support import T0, at

RUNNING = ExecutionStatus.RUNNING
SUCCEEDED = ExecutionStatus.SUCCEEDED
FAILED = ExecutionStatus.FAILED
REFUSED = ExecutionStatus.REFUSED


def test_inserted_execution_reads_back_running_or_finished(store: Store) -> None:
    """A running execution has no finish time; one inserted as over finishes at its start."""
    with store.write() as s:
        running = s.insert_execution(
            "rollback", "model", "fraud_detector_v3", RUNNING, {"incident_id": 7}, T0
        )
        refused = s.insert_execution(
            "rollback", "model", "fraud_detector_v3", REFUSED, {}, at(1), error="cooldown"
        )
    with store.read() as s:
        assert s.get_execution(running.id) == running
        assert s.get_execution(refused.id) == refused

    assert running == PlaybookExecution(
        id=running.id,
        playbook="rollback",
        resource_type="model",
        resource_id="fraud_detector_v3",
        status=RUNNING,
        context={"incident_id": 7},
        steps=(),
        result={},
        error=None,
        started_at=T0,
        finished_at=None,
    )
    assert (refused.status, refused.error, refused.finished_at) == (REFUSED, "cooldown", at(1))


def test_update_execution_round_trips_steps_result_error_status_and_finish(store: Store) -> None:
    """Updated fields read back exactly, step records included; fields not given stay as before."""
    steps = (
        StepRecord("check_health", StepStatus.SUCCEEDED, T0, at(0, microseconds=1500), 1.5),
        StepRecord(
            "rollback",
            StepStatus.FAILED,
            at(1),
            at(1, microseconds=250_000),
            250.125,
            detail={"target": "3.1.5", "attempts": [1, 2]},
            error="no stable version",
        ),
        StepRecord("notify", StepStatus.SKIPPED, at(2), at(2), 0.0),
    )
    with store.write() as s:
        execution = s.insert_execution("rollback", "model", "fraud_detector_v3", RUNNING, {}, T0)
    with store.write() as s:
        progressed = s.update_execution(execution.id, steps=steps[:1])
    with store.write() as s:
        finished = s.update_execution(
            execution.id,
            status=FAILED,
            steps=steps,
            result={"rolled_back": False, "score": 0.25},
            error="step rollback failed",
            finished_at=at(3),
        )
    with store.write() as s:
        untouched = s.update_execution(execution.id)
    with store.read() as s:
        read = s.get_execution(execution.id)

    assert (progressed.status, progressed.steps, progressed.finished_at) == (
        RUNNING,
        steps[:1],
        None,
    )
    assert read == finished
    assert read == untouched
    assert read.steps == steps
    assert read.steps[1].duration_ms == 250.125
    assert (read.status, read.error, read.finished_at) == (FAILED, "step rollback failed", at(3))
    assert dict(read.result) == {"rolled_back": False, "score": 0.25}


def test_step_times_read_back_as_aware_utc(store: Store) -> None:
    """Step start and finish times read back as UTC whatever offset they were written with."""
    plus_two = timezone(timedelta(hours=2))
    naive_start = T0.replace(tzinfo=None)  # local time, as datetime.now() gives
    step = StepRecord("rollback", StepStatus.SUCCEEDED, naive_start, T0.astimezone(plus_two), 1.0)
    with store.write() as s:
        execution = s.insert_execution("rollback", "model", "fraud_detector_v3", RUNNING, {}, T0)
        s.update_execution(execution.id, steps=[step])
    with store.read() as s:
        (read,) = s.get_execution(execution.id).steps
    assert read.started_at.utcoffset() == timedelta(0)
    assert read.finished_at.utcoffset() == timedelta(0)
    assert read.started_at == naive_start.astimezone(UTC)
    assert read.finished_at == T0


def test_naming_an_unknown_execution_raises_execution_not_found(store: Store) -> None:
    """get_execution and update_execution, with or without changes, refuse an unknown id."""
    with store.write() as s:
        existing = s.insert_execution("rollback", "model", "m", RUNNING, {}, T0)
    missing = existing.id + 1000
    operations: dict[str, Callable[[StoreSession], object]] = {
        "get_execution": lambda s: s.get_execution(missing),
        "update_execution": lambda s: s.update_execution(missing, status=SUCCEEDED),
        "update_execution without changes": lambda s: s.update_execution(missing),
    }
    outcomes: dict[str, tuple[str, int | None]] = {}
    with store.write() as s:
        for name, operation in operations.items():
            try:
                operation(s)
            except GraceError as exc:
                outcomes[name] = (type(exc).__name__, getattr(exc, "execution_id", None))
            else:
                outcomes[name] = ("none", None)
    assert outcomes == dict.fromkeys(operations, ("ExecutionNotFound", missing))


def test_list_executions_returns_newest_first_with_filters(store: Store) -> None:
    """Executions filter by resource and playbook, page back with before_id, newest first."""
    with store.write() as s:
        runs = [
            s.insert_execution(playbook, "model", resource, SUCCEEDED, {"n": n}, at(n))
            for n, (playbook, resource) in enumerate(
                [
                    ("rollback", "fraud_detector_v3"),
                    ("retrain", "fraud_detector_v3"),
                    ("rollback", "churn"),
                    ("rollback", "fraud_detector_v3"),
                    ("retrain", "churn"),
                ]
            )
        ]

    def ns(executions: list[PlaybookExecution]) -> list[int]:
        return [e.context["n"] for e in executions]

    with store.read() as s:
        assert ns(s.list_executions()) == [4, 3, 2, 1, 0]
        assert ns(s.list_executions(resource_id="fraud_detector_v3")) == [3, 1, 0]
        assert ns(s.list_executions(playbook="rollback")) == [3, 2, 0]
        assert ns(s.list_executions(resource_id="churn", playbook="retrain")) == [4]
        assert ns(s.list_executions(before_id=runs[3].id, limit=2)) == [2, 1]
        assert s.list_executions(resource_id="unknown") == []


def test_last_execution_is_the_newest_in_the_statuses_started_since(store: Store) -> None:
    """last_execution matches resource, playbook and statuses, with ``since`` inclusive."""
    with store.write() as s:
        for n, (playbook, resource, status) in enumerate(
            [
                ("rollback", "fraud_detector_v3", SUCCEEDED),  # 0
                ("rollback", "fraud_detector_v3", FAILED),  # 1
                ("rollback", "fraud_detector_v3", SUCCEEDED),  # 2
                ("rollback", "churn", SUCCEEDED),  # 3
                ("retrain", "fraud_detector_v3", SUCCEEDED),  # 4
                ("rollback", "fraud_detector_v3", REFUSED),  # 5
            ]
        ):
            s.insert_execution(playbook, "model", resource, status, {"n": n}, at(n))

    def n_of(found: PlaybookExecution | None) -> int | None:
        return None if found is None else int(found.context["n"])

    fraud = "fraud_detector_v3"
    with store.read() as s:
        assert n_of(s.last_execution(fraud, "rollback", [SUCCEEDED], at(0))) == 2
        assert n_of(s.last_execution(fraud, "rollback", [SUCCEEDED, FAILED], at(0))) == 2
        assert n_of(s.last_execution(fraud, "rollback", [FAILED, REFUSED], at(0))) == 5
        assert n_of(s.last_execution(fraud, "rollback", [SUCCEEDED], at(2))) == 2
        since = at(2, microseconds=1)
        assert n_of(s.last_execution(fraud, "rollback", [SUCCEEDED], since)) is None
        assert n_of(s.last_execution(fraud, "rollback", [RUNNING], at(0))) is None
        assert n_of(s.last_execution("churn", "retrain", [SUCCEEDED], at(0))) is None


def test_a_run_is_found_by_the_correlation_id_it_was_started_with(store: Store) -> None:
    """find_execution: the newest run with that id; none for an id no run carries, nor for
    runs started without one."""
    with store.write() as s:
        first = s.insert_execution("rollback", "model", "m", RUNNING, {}, T0, correlation_id="r1")
        s.insert_execution("rollback", "model", "m", RUNNING, {}, at(1), correlation_id="r2")
        again = s.insert_execution(
            "rollback", "model", "m", REFUSED, {}, at(2), error="cooldown", correlation_id="r1"
        )
        s.insert_execution("rollback", "model", "m", RUNNING, {}, at(3))
    with store.read() as s:
        assert s.find_execution("r1") == again
        assert s.find_execution("r1") != first
        assert s.find_execution("nobody") is None
