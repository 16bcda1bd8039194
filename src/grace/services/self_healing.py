"""The self-healing engine: runs playbooks step by step and keeps a record of every run.

Each run is persisted as it goes (status ``running``, then each step with its
status and measured duration, then ``succeeded`` or ``failed``), so a run cut
short by a crash is still visible.  A failing step stops the run; the steps
after it are recorded as skipped.

Playbooks marked ``cooldown=True`` refuse a second run for the same resource
inside the cooldown (default 30 minutes) after a run that succeeded or is
still running; the refusal itself is recorded as a run with status
``refused``, so a flapping model cannot loop.

A run records its owner and renews a heartbeat at every step.  A run whose owner
died (or that made no progress for ``stale_after``) is marked ``abandoned``: at
start-up, periodically by the server, and whenever it would block a new run of
its resource.  An abandoned run does not count toward the cooldown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from grace.adapters.store import Store, StoreSession
from grace.clock import Clock
from grace.domain.events import Event, EventType
from grace.domain.guardrails import cooldown_message
from grace.domain.orphans import RunOwner, orphan_reason
from grace.domain.records import ExecutionStatus, PlaybookExecution, StepRecord, StepStatus
from grace.domain.remediation import correlation_of
from grace.domain.validation import check_filter, check_identifier, check_mapping
from grace.errors import Conflict, IncidentNotFound, InvalidInput, PlaybookNotFound
from grace.services.follower import EventFollower
from grace.services.playbook_steps import (
    Playbook,
    PlaybookRun,
    PlaybookStep,
    check_playbook,
    run_step,
)
from grace.services.runner import Runner

__all__ = [
    "Playbook",
    "PlaybookRun",
    "PlaybookStep",
    "SelfHealingEngine",
]

log = logging.getLogger(__name__)

SOURCE = "self_healing"


class SelfHealingEngine:
    def __init__(
        self,
        store: Store,
        *,
        follower: EventFollower,
        clock: Clock,
        cooldown: timedelta = timedelta(minutes=30),
        stale_after: timedelta = timedelta(minutes=5),
        step_timeout: float = 300.0,
        run: Runner | None = None,
    ) -> None:
        self._store = store
        self._run = run or Runner(store)
        self._follower = follower
        self._clock = clock
        self.cooldown = cooldown
        self.stale_after = stale_after
        #: Seconds one attempt of a step may take when the step does not say.
        self.step_timeout = step_timeout
        self._playbooks: dict[str, Playbook] = {}
        self.owner = RunOwner(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])

    def register_playbook(self, playbook: Playbook, *, replace: bool = False) -> None:
        """Add ``playbook`` (checked: InvalidInput names what is wrong).  A second playbook
        of the same name is a Conflict unless ``replace``."""
        check_playbook(playbook)
        if playbook.name in self._playbooks and not replace:
            raise Conflict(f"a playbook named {playbook.name!r} is already registered")
        self._playbooks[playbook.name] = playbook

    def knows(self, name: str, resource_type: str | None = None) -> bool:
        """Whether a playbook ``name`` (acting on ``resource_type``, if given) is registered."""
        found = self._playbooks.get(name)
        return found is not None and resource_type in (None, found.resource_type)

    @property
    def playbooks(self) -> list[Playbook]:
        return [self._playbooks[name] for name in sorted(self._playbooks)]

    def get_playbook(self, name: str) -> Playbook:
        try:
            return self._playbooks[name]
        except KeyError:
            raise PlaybookNotFound(name, sorted(self._playbooks)) from None

    async def execute_playbook(
        self, playbook_name: str, context: Mapping[str, Any] | None = None
    ) -> PlaybookExecution:
        """Run ``playbook_name`` with ``context``; returns the persisted run (also when refused)."""
        playbook = self.get_playbook(playbook_name)
        ctx = check_mapping("context", context)
        resource_id = ctx.get(playbook.resource_key) or ctx.get("resource_id")
        if not isinstance(resource_id, str):
            raise InvalidInput(
                f"context.{playbook.resource_key}", f"is required by the {playbook.name} playbook"
            )
        check_identifier(f"context.{playbook.resource_key}", resource_id)
        ctx = {k: v for k, v in ctx.items() if _jsonable(v)}

        execution, events = await self._run(self._start, playbook, resource_id, ctx)
        await self._follower.announce(events)
        if execution.status is ExecutionStatus.REFUSED:
            await self._note_incident(
                ctx, "remediation_refused", execution.error or "refused", execution
            )
            return execution
        return await self.run_admitted(execution)

    async def run_admitted(self, execution: PlaybookExecution) -> PlaybookExecution:
        """Run the steps of ``execution``, a run already recorded as running by this engine
        (by :meth:`execute_playbook`, or by the remediation pipeline once its guardrails
        let it act); returns it finished."""
        playbook = self.get_playbook(execution.playbook)
        ctx = execution.context
        run = PlaybookRun(execution.id, playbook.name, execution.resource_id, ctx)
        records: list[StepRecord] = []
        failure: str | None = None
        for step in playbook.steps:
            if failure is not None:
                now = self._clock.now()
                records.append(StepRecord(step.name, StepStatus.SKIPPED, now, now, 0.0, attempts=0))
                continue
            record = await run_step(step, run, clock=self._clock, default_timeout=self.step_timeout)
            records.append(record)
            if record.status is StepStatus.FAILED:
                failure = f"step {step.name} failed: {record.error}"
            await self._save_step(execution.id, records, record, run)

        status = ExecutionStatus.FAILED if failure else ExecutionStatus.SUCCEEDED
        execution, events = await self._run(
            self._finish, execution.id, status, records, run.state, failure
        )
        await self._follower.announce(events)
        await self._note_incident(
            ctx,
            f"remediation_{status.value}",
            f"playbook {playbook.name} {status.value}" + (f": {failure}" if failure else ""),
            execution,
        )
        return execution

    def started_event(self, execution: PlaybookExecution) -> Event:
        """The ``playbook.started`` event of a run recorded as running."""
        return self._event(EventType.PLAYBOOK_STARTED, execution, {})

    def abandon_orphans_of(self, s: StoreSession, resource_id: str) -> list[Event]:
        """Inside ``s``: mark the resource's orphaned runs abandoned (they must not hold the
        next remediation back); their events."""
        return self._abandon_in(s, resource_id)

    # -- phases -------------------------------------------------------------------
    def _start(
        self, playbook: Playbook, resource_id: str, ctx: Mapping[str, Any]
    ) -> tuple[PlaybookExecution, list[Event]]:
        with self._store.write() as s:
            now = self._clock.now()
            orphaned: list[Event] = []
            if playbook.cooldown and self.cooldown > timedelta(0):
                s.lock_model(resource_id)
                # A run orphaned by a crash must not hold the next remediation back.
                orphaned = self._abandon_in(s, resource_id)
                last = s.last_execution(
                    resource_id,
                    playbook.name,
                    [ExecutionStatus.SUCCEEDED, ExecutionStatus.RUNNING],
                    now - self.cooldown,
                )
                if last is not None:
                    reason = cooldown_message(last.id, last.started_at, self.cooldown)
                    refused = s.insert_execution(
                        playbook.name,
                        playbook.resource_type,
                        resource_id,
                        ExecutionStatus.REFUSED,
                        ctx,
                        now,
                        error=reason,
                        correlation_id=correlation_of(ctx),
                    )
                    event = s.append_event(
                        self._event(EventType.PLAYBOOK_REFUSED, refused, {"reason": reason})
                    )
                    return refused, [*orphaned, event]
            execution = s.insert_execution(
                playbook.name,
                playbook.resource_type,
                resource_id,
                ExecutionStatus.RUNNING,
                ctx,
                now,
                owner=str(self.owner),
                correlation_id=correlation_of(ctx),
            )
            event = s.append_event(self._event(EventType.PLAYBOOK_STARTED, execution, {}))
            return execution, [*orphaned, event]

    def abandon_orphans(self) -> list[PlaybookExecution]:
        """Mark every orphaned run ``abandoned``; returns them (called at start-up and by the
        server periodically).  Their events are in the durable log."""
        with self._store.write() as s:
            events = self._abandon_in(s, None)
            return [s.get_execution(int(e.data["execution_id"])) for e in events]

    def _abandon_in(self, s: StoreSession, resource_id: str | None) -> list[Event]:
        now = self._clock.now()
        events: list[Event] = []
        for running in s.running_executions(resource_id=resource_id):
            reason = orphan_reason(
                running.owner,
                running.heartbeat_at,
                now=now,
                stale_after=self.stale_after,
                me=self.owner,
                process_exists=_process_exists,
            )
            if reason is None:
                continue
            log.warning("playbook run %s %s", running.execution.id, reason)
            execution = s.update_execution(
                running.execution.id,
                status=ExecutionStatus.ABANDONED,
                error=reason,
                finished_at=now,
            )
            extra = {"reason": reason, "owner": running.owner}
            events.append(
                s.append_event(self._event(EventType.PLAYBOOK_ABANDONED, execution, extra))
            )
        return events

    async def _save_step(
        self, execution_id: int, records: list[StepRecord], record: StepRecord, run: PlaybookRun
    ) -> None:
        def write() -> list[Event]:
            with self._store.write() as s:
                execution = s.update_execution(
                    execution_id, steps=records, heartbeat_at=self._clock.now()
                )
                incident_id = run.context.get("incident_id")
                if isinstance(incident_id, int) and not isinstance(incident_id, bool):
                    message = f"step {record.name} {record.status.value} in {record.duration_ms} ms"
                    if record.error:
                        message += f": {record.error}"
                    with contextlib.suppress(IncidentNotFound):  # the run and its event say it
                        s.append_timeline(
                            incident_id,
                            self._clock.now(),
                            "remediation_step",
                            message,
                            actor=SOURCE,
                            data={"execution_id": execution_id, "step": record.name},
                        )
                event = s.append_event(
                    self._event(EventType.PLAYBOOK_STEP, execution, {"step": record.to_dict()})
                )
                return [event]

        events = await self._run(write)
        # Events a step wrote itself (a stage change, a notice) go out right after it.
        await self._follower.announce([*run.events, *events])
        run.events.clear()

    def _finish(
        self,
        execution_id: int,
        status: ExecutionStatus,
        records: list[StepRecord],
        state: Mapping[str, Any],
        failure: str | None,
    ) -> tuple[PlaybookExecution, list[Event]]:
        with self._store.write() as s:
            execution = s.update_execution(
                execution_id,
                status=status,
                steps=records,
                result={k: v for k, v in state.items() if _jsonable(v)},
                error=failure,
                finished_at=self._clock.now(),
            )
            event = s.append_event(self._event(EventType.PLAYBOOK_FINISHED, execution, {}))
            return execution, [event]

    def _event(
        self, event_type: str, execution: PlaybookExecution, extra: Mapping[str, Any]
    ) -> Event:
        return Event.of(
            event_type,
            SOURCE,
            execution.resource_id,
            {
                "execution_id": execution.id,
                "playbook": execution.playbook,
                "status": execution.status.value,
                # what alert routing reads (a remediation's severity), when the run has one
                "severity": execution.context.get("severity"),
                **extra,
            },
            self._clock.now(),
        )

    async def _note_incident(
        self, ctx: Mapping[str, Any], kind: str, message: str, execution: PlaybookExecution
    ) -> None:
        """Add the run's outcome to the incident that asked for it, if the context names one."""
        incident_id = ctx.get("incident_id")
        if not isinstance(incident_id, int):
            return

        def write() -> None:
            with self._store.write() as s:
                s.append_timeline(
                    incident_id,
                    self._clock.now(),
                    kind,
                    message,
                    actor=SOURCE,
                    data={"execution_id": execution.id, "status": execution.status.value},
                )

        try:
            await self._run(write)
        except IncidentNotFound:
            log.warning("playbook run %s names unknown incident %s", execution.id, incident_id)

    # -- reading -----------------------------------------------------------------
    def find_execution(self, correlation_id: str) -> PlaybookExecution | None:
        """The newest run whose context named ``correlation_id`` as its remediation_id."""
        with self._store.read() as st:
            return st.find_execution(correlation_id)

    def list_executions(
        self,
        model_id: str | None = None,
        *,
        playbook: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[PlaybookExecution]:
        model_id = check_filter("model_id", model_id)
        playbook = check_filter("playbook", playbook)
        with self._store.read() as s:
            return s.list_executions(
                resource_id=model_id, playbook=playbook, before_id=before_id, limit=limit
            )

    def get_execution(self, execution_id: int) -> PlaybookExecution:
        with self._store.read() as s:
            return s.get_execution(execution_id)


def _process_exists(pid: int) -> bool:
    """Whether a process with this pid runs on this host (signal 0 only asks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | list | dict | tuple)
