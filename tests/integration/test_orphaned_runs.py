"""A playbook run orphaned by a crash: marked abandoned at start-up, never blocks the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from grace.bootstrap import build
from grace.domain.records import ExecutionStatus
from grace.model_registry import DeploymentStage
from tests.conftest import make_settings
from tests.helpers import DEGRADED, register, snapshot

MODEL = "fraud_detector_v3"
ROOT = Path(__file__).resolve().parents[2]

# Sets up two releases with auto-remediation on, then degrades the new one; the playbook's
# second step kills the process before it acts, as a crash would.
CHILD = textwrap.dedent(
    """
    import asyncio, dataclasses, os, signal, sys
    from datetime import UTC, datetime
    sys.path.insert(0, sys.argv[2])
    from grace.bootstrap import build
    from grace.self_healing import PlaybookStep
    from tests.conftest import make_settings
    from tests.helpers import DEGRADED, register, snapshot

    grace = build(make_settings(sys.argv[1]))
    register(grace.registry, "fraud_detector_v3", "3.1.5", production=True)
    register(grace.registry, "fraud_detector_v3", "3.2.1", production=True)
    grace.registry.configure_model("fraud_detector_v3", auto_remediate=True)
    playbook = grace.engine.get_playbook("model_rollback")

    async def die(run):
        os.kill(os.getpid(), signal.SIGKILL)

    steps = list(playbook.steps)
    steps[1] = PlaybookStep(steps[1].name, die)
    grace.engine.register_playbook(dataclasses.replace(playbook, steps=steps), replace=True)
    asyncio.run(grace.registry.record_performance_snapshot(
        snapshot("fraud_detector_v3", "3.2.1", at=datetime.now(UTC), base=DEGRADED)))
    """
)


def _crash_during_step_two(url: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


async def test_a_run_killed_mid_playbook_is_abandoned_and_the_next_degradation_acts(
    tmp_path: Path,
) -> None:
    """SIGKILL during step 2: the restarted service marks the run abandoned, then heals."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    _crash_during_step_two(url)

    grace = build(make_settings(url))  # start-up: the orphan is found
    try:
        (orphan,) = grace.engine.list_executions(MODEL)
        assert orphan.status is ExecutionStatus.ABANDONED
        assert "is gone" in (orphan.error or "")
        assert [s.name for s in orphan.steps] == ["find_previous_stable_version"]
        assert grace.registry.get_production_version(MODEL).version == "3.2.1"  # type: ignore[union-attr]
        kinds = [e.event_type for e in grace.events.list_events(resource_id=MODEL, limit=1000)]
        assert "playbook.abandoned" in kinds

        result = await grace.registry.record_performance_snapshot(
            snapshot(MODEL, "3.2.1", at=datetime.now(UTC), base=DEGRADED)
        )
        check = result.check
        assert check is not None
        remediation = check["remediation"]
        assert remediation is not None
        assert remediation["status"] == "succeeded", remediation
        production = grace.registry.get_production_version(MODEL)
        assert production is not None
        assert production.version == "3.1.5"
        assert grace.registry.get_model(MODEL, "3.2.1").status is DeploymentStage.ROLLBACK
    finally:
        grace.close()


async def test_a_run_that_stopped_making_progress_is_abandoned_when_it_would_block(
    tmp_path: Path,
) -> None:
    """An owner on another host cannot be asked; a heartbeat older than the limit decides."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    grace = build(make_settings(url, playbook_stale_seconds=60))
    try:
        register(grace.registry, MODEL, "3.1.5", production=True)
        register(grace.registry, MODEL, "3.2.1", production=True)
        grace.registry.configure_model(MODEL, auto_remediate=True)
        long_ago = datetime.now(UTC) - timedelta(minutes=2)
        with grace.store.write() as s:
            stuck = s.insert_execution(
                "model_rollback",
                "ml_model",
                MODEL,
                ExecutionStatus.RUNNING,
                {"model_id": MODEL},
                long_ago,
                owner=f"elsewhere.example:{os.getpid()}:0123456789ab",
            )
        result = await grace.registry.record_performance_snapshot(
            snapshot(MODEL, "3.2.1", at=datetime.now(UTC), base=DEGRADED)
        )
        assert result.check is not None
        remediation = result.check["remediation"]
        assert remediation is not None
        assert remediation["status"] == "succeeded"
        abandoned = grace.engine.get_execution(stuck.id)
        assert abandoned.status is ExecutionStatus.ABANDONED
        assert "no progress since" in (abandoned.error or "")
    finally:
        grace.close()


async def test_a_run_in_progress_here_is_never_abandoned(tmp_path: Path) -> None:
    """This process's own running run is left alone, however old its heartbeat."""
    url = f"sqlite:///{tmp_path / 'g.db'}"
    grace = build(make_settings(url, playbook_stale_seconds=1))
    try:
        register(grace.registry, MODEL, "3.1.5", production=True)
        with grace.store.write() as s:
            mine = s.insert_execution(
                "model_rollback",
                "ml_model",
                MODEL,
                ExecutionStatus.RUNNING,
                {},
                datetime.now(UTC) - timedelta(hours=1),
                owner=str(grace.engine.owner),
            )
        assert grace.engine.abandon_orphans() == []
        assert grace.engine.get_execution(mine.id).status is ExecutionStatus.RUNNING
    finally:
        grace.close()
