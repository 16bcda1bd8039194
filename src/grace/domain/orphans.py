"""Which playbook runs were orphaned: left ``running`` by a process that is gone.

A run records its owner (``host:pid:instance``) and a heartbeat it renews at every step.  A
run is orphaned when its owner ran on this host and that process no longer exists, or when
its heartbeat is older than the stale limit (the owner is elsewhere, or hung).  Whether a
process exists is asked of the caller, so this module stays free of I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from grace.domain.timeutil import isoformat

__all__ = ["RunOwner", "orphan_reason"]


@dataclass(frozen=True, slots=True)
class RunOwner:
    """The process that runs a playbook: its host, its pid, and one id per engine instance."""

    host: str
    pid: int
    instance: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.instance}"

    @classmethod
    def parse(cls, text: str | None) -> RunOwner | None:
        """The owner written by ``str``; None for a run that predates owners, or garbage."""
        if not text:
            return None
        host, _, rest = text.rpartition(":")
        host, _, pid = host.rpartition(":")
        if not host or not pid.isdigit():
            return None
        return cls(host, int(pid), rest)


def orphan_reason(
    owner_text: str | None,
    heartbeat_at: datetime,
    *,
    now: datetime,
    stale_after: timedelta,
    me: RunOwner,
    process_exists: Callable[[int], bool],
) -> str | None:
    """Why the run is orphaned, or None while its owner may still be working on it."""
    owner = RunOwner.parse(owner_text)
    if owner == me:
        return None
    if owner is not None and owner.host == me.host and not process_exists(owner.pid):
        return f"abandoned: process {owner.pid} on {owner.host}, which ran it, is gone"
    if now - heartbeat_at > stale_after:
        return (
            f"abandoned: no progress since {isoformat(heartbeat_at)} "
            f"(more than {stale_after.total_seconds():g}s)"
        )
    return None
