"""Questions answered from a model's append-only stage history.

The history is a model's list of :class:`StageChange` in the order they were
written (ascending ``id``); a promotion and the demotion it causes share a
transaction and a timestamp, the demotion written first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from grace.domain.records import StageChange
from grace.domain.stages import DeploymentStage

__all__ = [
    "needs_requalification",
    "previous_stable_version",
    "production_version_at",
    "rolled_back_versions",
]

_REQUALIFYING = frozenset(
    {DeploymentStage.DEVELOPMENT, DeploymentStage.STAGING, DeploymentStage.CANARY}
)

_PROD = DeploymentStage.PRODUCTION


def rolled_back_versions(history: Sequence[StageChange]) -> set[str]:
    """Versions that were ever moved to ROLLBACK."""
    return {c.version for c in history if c.to_stage is DeploymentStage.ROLLBACK}


def needs_requalification(history: Sequence[StageChange], version: str) -> bool:
    """True when ``version`` was rolled back and has not been through a pre-production stage since.

    This is the latch on rolled-back versions: archiving one and promoting it
    from the archive does not count as re-qualifying it.
    """
    pending = False
    for change in sorted(history, key=lambda c: c.id):
        if change.version != version:
            continue
        if change.to_stage is DeploymentStage.ROLLBACK:
            pending = True
        elif change.to_stage in _REQUALIFYING:
            pending = False
    return pending


def previous_stable_version(history: Sequence[StageChange], current_version: str) -> str | None:
    """The latest other version that was in production and was never rolled back.

    Versions are considered by when they last entered production, newest first,
    so an old release re-promoted last week counts as more recent than one
    retired yesterday that entered production a year ago.
    """
    tainted = rolled_back_versions(history)
    seen: set[str] = set()
    for change in sorted(history, key=lambda c: c.id, reverse=True):
        if change.to_stage is not _PROD or change.version in seen:
            continue
        seen.add(change.version)
        if change.version != current_version and change.version not in tainted:
            return change.version
    return None


def production_version_at(history: Sequence[StageChange], at: datetime) -> str | None:
    """Which version was in production at instant ``at``, or None if none was."""
    latest: StageChange | None = None
    for change in history:
        if change.at > at:
            continue
        touches_production = change.to_stage is _PROD or change.from_stage is _PROD
        if touches_production and (
            latest is None or (change.at, change.id) > (latest.at, latest.id)
        ):
            latest = change
    if latest is None or latest.to_stage is not _PROD:
        return None
    return latest.version
