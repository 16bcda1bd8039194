"""Storage contract, transactions and the one-production invariant held by the database."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from grace.adapters.store import Store, StoreBusy
from grace.domain.events import Event
from grace.domain.stages import DeploymentStage
from grace.errors import ConcurrentChange, ModelNotFound, StorageError
from tests.contract.support import (
    T0,
    Background,
    at,
    is_postgres,
    new_version,
    register,
)

STAGING = DeploymentStage.STAGING
PROD = DeploymentStage.PRODUCTION


class Boom(Exception):
    """An error raised by the code inside a write block."""


# -- write() and read() ----------------------------------------------------------------------------
def test_write_commits_when_the_block_ends_normally(store: Store) -> None:
    """Everything written in a block that ends without error is visible to a later session."""
    with store.write() as s:
        s.ensure_model("fraud_detector_v3", T0)
        s.insert_version(new_version("fraud_detector_v3", "3.1.5"), T0)
        s.append_event(Event("model.registered", "test", {"resource_id": "fraud_detector_v3"}))
    with store.read() as s:
        assert s.get_version("fraud_detector_v3", "3.1.5").version == "3.1.5"
        assert [e.event_type for e in s.list_events()] == ["model.registered"]


def test_write_rolls_back_everything_when_the_block_raises(store: Store) -> None:
    """An exception leaving a write block propagates unchanged and nothing of the block persists."""
    register(store, "fraud_detector_v3", "3.1.5")

    def write_then_fail() -> None:
        with store.write() as s:
            s.ensure_model("churn", T0)
            s.insert_version(new_version("fraud_detector_v3", "3.2.1"), at(1))
            s.update_version("fraud_detector_v3", "3.1.5", {"description": "changed"}, at(1))
            s.append_event(Event("model.registered", "test", {}))
            raise Boom

    with pytest.raises(Boom):
        write_then_fail()
    with store.read() as s:
        assert [e.version for e in s.list_versions()] == ["3.1.5"]
        assert s.get_version("fraud_detector_v3", "3.1.5").description is None
        assert s.list_events() == []
        with pytest.raises(ModelNotFound):
            s.get_settings("churn")


def test_uncommitted_writes_are_invisible_to_other_sessions(store: Store) -> None:
    """A write block's changes appear to other sessions only once it has committed."""
    register(store, "fraud_detector_v3", "3.1.5")
    with store.write() as w:
        w.insert_version(new_version("fraud_detector_v3", "3.2.1"), at(1))
        with store.read() as r:
            assert [e.version for e in r.list_versions()] == ["3.1.5"]
    with store.read() as r:
        assert [e.version for e in r.list_versions()] == ["3.1.5", "3.2.1"]


def test_read_session_never_persists_a_write(store: Store) -> None:
    """A write attempted in a read() session is refused or discarded, never committed."""
    # Refusing the write (StorageError) is as good as discarding it.
    with contextlib.suppress(StorageError), store.read() as s:
        s.ensure_model("written_while_reading", T0)
    with store.read() as s, pytest.raises(ModelNotFound):
        s.get_settings("written_while_reading")


# -- one production version per model -------------------------------------------------------
def test_each_model_may_have_its_own_production_version(store: Store) -> None:
    """Promoting one model's version is unaffected by another model's production version."""
    register(store, "fraud_detector_v3", "3.1.5", stage=PROD)
    register(store, "churn", "1.0")
    with store.write() as s:
        s.set_stage("churn", "1.0", PROD, at(1))
    with store.read() as s:
        fraud, churn = s.production_version("fraud_detector_v3"), s.production_version("churn")
    assert fraud is not None
    assert churn is not None
    assert (fraud.version, churn.version) == ("3.1.5", "1.0")


def test_second_production_version_is_refused_and_its_block_rolled_back(store: Store) -> None:
    """A second PRODUCTION via set_stage raises ConcurrentChange; nothing of its block persists."""
    register(store, "fraud_detector_v3", "3.1.5", stage=PROD)
    with store.write() as s:
        s.insert_version(new_version("fraud_detector_v3", "3.2.1", stage=STAGING), T0)
    register(store, "churn", "1.0", stage=PROD)

    def promote_among_other_writes() -> None:
        with store.write() as s:
            s.save_settings("fraud_detector_v3", auto_remediate=True, overrides={}, at=at(1))
            s.update_version("churn", "1.0", {"description": "touched"}, at(1))
            s.append_event(Event("model.stage_changed", "test", {}))
            s.set_stage("fraud_detector_v3", "3.2.1", PROD, at(1))

    with pytest.raises(ConcurrentChange):
        promote_among_other_writes()

    with store.read() as s:
        production = s.production_version("fraud_detector_v3")
        candidate = s.get_version("fraud_detector_v3", "3.2.1")
        churn = s.production_version("churn")
        assert s.get_settings("fraud_detector_v3").auto_remediate is False
        assert s.list_events() == []
    assert production is not None
    assert production.version == "3.1.5"
    assert (candidate.status, candidate.deployed_at) == (STAGING, None)
    assert churn is not None
    assert (churn.version, churn.description) == ("1.0", None)


def test_session_can_go_on_after_a_refused_promotion(store: Store) -> None:
    """After set_stage raises ConcurrentChange the same session still reads and writes."""
    register(store, "fraud_detector_v3", "3.1.5", "3.2.1")
    with store.write() as s:
        s.set_stage("fraud_detector_v3", "3.1.5", PROD, at(1))
        with pytest.raises(ConcurrentChange):
            s.set_stage("fraud_detector_v3", "3.2.1", PROD, at(1))
        s.set_stage("fraud_detector_v3", "3.2.1", STAGING, at(2))
    with store.read() as s:
        assert s.get_version("fraud_detector_v3", "3.2.1").status is STAGING


def test_concurrent_promotions_of_one_model_leave_exactly_one_in_production(store: Store) -> None:
    """A promotion racing an uncommitted one waits for it, then fails with ConcurrentChange."""
    register(store, "fraud_detector_v3", "3.1.5", "3.2.1")

    def promote_other() -> str:
        try:
            with store.write() as s:
                s.set_stage("fraud_detector_v3", "3.2.1", PROD, at(2))
        except ConcurrentChange:
            return "refused"
        return "promoted"

    with store.write() as s:
        s.set_stage("fraud_detector_v3", "3.1.5", PROD, at(1))
        rival = Background(promote_other)
    assert rival.join() == "refused"

    with store.read() as s:
        production = s.production_version("fraud_detector_v3")
        assert s.get_version("fraud_detector_v3", "3.2.1").status is DeploymentStage.DEVELOPMENT
    assert production is not None
    assert production.version == "3.1.5"


def test_lock_model_serialises_writers_until_the_transaction_ends(store: Store) -> None:
    """A second writer's lock_model returns only after the first writer's transaction has ended."""
    register(store, "fraud_detector_v3", "3.1.5")
    order: list[str] = []

    def lock_too() -> None:
        with store.write() as s:
            s.lock_model("fraud_detector_v3")
            order.append("second locked")

    with store.write() as s:
        s.lock_model("fraud_detector_v3")
        rival = Background(lock_too)
        order.append("first ending")
    rival.join()
    assert order == ["first ending", "second locked"]


# -- without_waiting() -----------------------------------------------------------------------------
def test_without_waiting_the_first_write_is_busy_behind_a_held_lock_and_changes_nothing(
    store: Store, database_url: str
) -> None:
    """SQLite: while another transaction holds the write lock, the first write of the block
    raises StoreBusy at once (not after the 30 s busy timeout) and nothing of it persists;
    reads in the block still answer.  PostgreSQL has no such promise: the block is plain."""
    register(store, "fraud_detector_v3", "3.1.5")
    if is_postgres(database_url):
        assert not store.writes_without_waiting
        with store.without_waiting(), store.write() as s:
            s.ensure_model("churn", T0)
        with store.read() as s:
            s.get_settings("churn")
        return
    assert store.writes_without_waiting
    with store.write() as holder:
        holder.ensure_model("holder", T0)  # this transaction now holds the write lock
        started = time.monotonic()
        with store.without_waiting():
            with store.read() as s:
                assert s.get_version("fraud_detector_v3", "3.1.5").version == "3.1.5"
            with pytest.raises(StoreBusy), store.write() as s:
                s.ensure_model("churn", T0)
        assert time.monotonic() - started < 5
    with store.read() as s, pytest.raises(ModelNotFound):
        s.get_settings("churn")
    with store.without_waiting(), store.write() as s:  # the lock is free: it just writes
        s.ensure_model("churn", T0)
    with store.read() as s:
        s.get_settings("churn")


def test_without_waiting_only_the_first_write_of_the_block_refuses_to_wait(store: Store) -> None:
    """Once a write of the block has begun, later ones wait for the lock as usual (they may
    come after a commit, so refusing then could leave the call half done)."""
    with store.without_waiting():
        with store.write() as s:
            s.ensure_model("first", T0)
        release = threading.Event()

        def hold() -> None:
            with store.write() as s:
                s.ensure_model("holder", T0)
                release.wait(5)

        holder = Background(hold)
        timer = threading.Timer(0.3, release.set)
        timer.start()
        try:
            with store.write() as s:  # waits for the holder instead of raising
                s.ensure_model("second", T0)
        finally:
            release.set()
            timer.cancel()
        holder.join()
    with store.read() as s:
        for model_id in ("first", "holder", "second"):
            s.get_settings(model_id)


def test_without_waiting_belongs_to_its_own_thread(store: Store) -> None:
    """The block covers the calling thread (or task) only: another thread's writes wait."""
    release = threading.Event()

    def hold() -> None:
        with store.write() as s:
            s.ensure_model("holder", T0)
            release.wait(5)

    with store.without_waiting():
        holder = Background(hold)
        waiter = Background(lambda: _ensure(store, "elsewhere"))
        release.set()
        holder.join()
        waiter.join()
    with store.read() as s:
        s.get_settings("elsewhere")


def _ensure(store: Store, model_id: str) -> None:
    with store.write() as s:
        s.ensure_model(model_id, T0)
