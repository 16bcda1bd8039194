"""Approvals: a remediation whose model needs one waits (``waiting_approval``) until a
human approves it (it acts then, through the pipeline) or denies it, or its time to live
passes (denied, ``approval_expired``).  A decision is taken only while the run still waits,
so a second one is a Conflict and changes nothing."""

from __future__ import annotations

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.events import Event, EventType
from grace.domain.guardrails import Reason
from grace.domain.records import ExecutionStatus, PlaybookExecution
from grace.domain.validation import check_identifier
from grace.errors import GraceError
from grace.services.follower import EventFollower
from grace.services.remediation.admission import SOURCE, note, run_event
from grace.services.remediation.pipeline import Remediation
from grace.services.runner import Runner
from grace.services.self_healing import SelfHealingEngine

__all__ = ["Approvals"]


class Approvals:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        run: Runner,
        follower: EventFollower,
        engine: SelfHealingEngine,
        pipeline: Remediation,
    ) -> None:
        self._store = store
        self._clock = clock
        self._run = run
        self._follower = follower
        self._engine = engine
        self._pipeline = pipeline

    async def approve(self, execution_id: int, actor: str) -> PlaybookExecution:
        """A human approves a waiting run: it runs now, then the breaker and the ops notice;
        returns the finished run.  Conflict if it is not waiting."""
        check_identifier("actor", actor, 200)

        def write() -> tuple[PlaybookExecution, list[Event]]:
            with self._store.write() as s:
                now = self._clock.now()
                run = s.update_execution(
                    execution_id,
                    status=ExecutionStatus.RUNNING,
                    owner=str(self._engine.owner),
                    heartbeat_at=now,
                    decided_by=actor,
                    decided_at=now,
                    expected_status=ExecutionStatus.WAITING_APPROVAL,
                )
                approved = run_event(EventType.REMEDIATION_APPROVED, run, now, decided_by=actor)
                events = [s.append_event(approved), s.append_event(self._engine.started_event(run))]
                note(s, run, "remediation_approved", f"approved by {actor}", now, actor)
                return run, events

        run, events = await self._run(write)
        await self._follower.announce(events)
        await self._pipeline.resume(run)
        return await self._run(self._engine.get_execution, run.id)

    async def deny(
        self, execution_id: int, actor: str, *, reason: Reason = Reason.DENIED
    ) -> PlaybookExecution:
        """A human denies a waiting run (or its request expired): it ends, refused.
        Conflict if it is not waiting."""
        check_identifier("actor", actor, 200)

        def write() -> tuple[PlaybookExecution, list[Event]]:
            with self._store.write() as s:
                now = self._clock.now()
                message = (
                    f"denied by {actor}"
                    if reason is Reason.DENIED
                    else "denied: the approval request expired unanswered"
                )
                run = s.update_execution(
                    execution_id,
                    status=ExecutionStatus.DENIED,
                    reason=reason.value,
                    error=message,
                    decided_by=actor,
                    decided_at=now,
                    finished_at=now,
                    expected_status=ExecutionStatus.WAITING_APPROVAL,
                )
                refused = run_event(
                    EventType.REMEDIATION_REFUSED, run, now, message=message, decided_by=actor
                )
                event = s.append_event(refused)
                note(s, run, f"remediation_{reason.value}", message, now, actor)
                return run, [event]

        run, events = await self._run(write)
        await self._follower.announce(events)
        return run

    async def expire(self) -> list[PlaybookExecution]:
        """Deny every approval request past its time to live (the server calls this)."""

        def due() -> list[PlaybookExecution]:
            with self._store.read() as s:
                return s.executions_in(
                    ExecutionStatus.WAITING_APPROVAL, expires_before=self._clock.now()
                )

        expired: list[PlaybookExecution] = []
        for run in await self._run(due):
            try:
                expired.append(await self.deny(run.id, SOURCE, reason=Reason.APPROVAL_EXPIRED))
            except GraceError:  # decided meanwhile
                continue
        return expired
