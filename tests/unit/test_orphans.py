"""Which running playbook runs are orphaned (pure rule, no processes involved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from grace.domain.orphans import RunOwner, orphan_reason

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ME = RunOwner("node-a", 100, "aaaaaaaaaaaa")
STALE = timedelta(minutes=5)


def verdict(owner: str | None, heartbeat: datetime, alive: set[int]) -> str | None:
    return orphan_reason(
        owner, heartbeat, now=NOW, stale_after=STALE, me=ME, process_exists=alive.__contains__
    )


def test_a_run_of_a_dead_process_on_this_host_is_orphaned_at_once() -> None:
    """Same host, pid gone: orphaned even with a fresh heartbeat."""
    reason = verdict("node-a:200:bbbbbbbbbbbb", NOW, alive={100})
    assert reason is not None
    assert "process 200 on node-a" in reason


def test_a_run_of_a_live_process_with_a_fresh_heartbeat_is_left_alone() -> None:
    """Same host, pid alive, progress within the limit: in progress."""
    assert verdict("node-a:200:bbbbbbbbbbbb", NOW - timedelta(minutes=4), alive={100, 200}) is None


def test_another_hosts_run_is_judged_by_its_heartbeat_alone() -> None:
    """Pids elsewhere mean nothing here; a heartbeat older than the limit does."""
    assert verdict("node-b:200:bbbbbbbbbbbb", NOW - timedelta(minutes=4), alive=set()) is None
    reason = verdict("node-b:200:bbbbbbbbbbbb", NOW - timedelta(minutes=6), alive=set())
    assert reason is not None
    assert "no progress since" in reason


def test_a_run_from_before_owners_were_recorded_is_judged_by_its_age() -> None:
    """No owner (an older Grace wrote it): only staleness decides."""
    assert verdict(None, NOW - timedelta(minutes=1), alive=set()) is None
    assert verdict(None, NOW - timedelta(hours=1), alive=set()) is not None


def test_this_processs_own_run_is_never_orphaned() -> None:
    """However old its heartbeat, a run of this very engine is in progress."""
    assert verdict(str(ME), NOW - timedelta(days=1), alive=set()) is None


def test_an_owner_reads_back_as_written_and_garbage_reads_as_none() -> None:
    """host:pid:instance round-trips, hosts with colons included."""
    owner = RunOwner("fe80::1", 42, "cccccccccccc")
    assert RunOwner.parse(str(owner)) == owner
    assert RunOwner.parse("not-an-owner") is None
    assert RunOwner.parse("") is None
