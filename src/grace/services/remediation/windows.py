"""Maintenance windows: made, listed and removed by people; inside one, the guardrails hold
automatic remediation back (grace.domain.guardrails); when one ends, what it held is acted on.

At the end of a window (or its removal), each model with a held remediation or a held page
is checked again, the guide's rollback check over the held run's window: if it still
fails, the held pages go out (grace.services.remediation.paging) and, for a window made
with ``on_end=act``, the held remediation acts through the pipeline (which decides afresh:
another window, the breaker or a rate limit may still hold it); ``on_end=page`` only pages.
A model that recovered during the window is left alone.  Each held run is closed with what
became of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.events import Event, EventType
from grace.domain.guardrails import MaintenanceWindow, OnWindowEnd
from grace.domain.paging import Change
from grace.domain.records import ExecutionStatus, Incident, PlaybookExecution
from grace.domain.timeutil import ensure_utc
from grace.domain.validation import check_identifier, check_optional_text
from grace.errors import GraceError, InvalidInput
from grace.services.follower import EventFollower
from grace.services.remediation.admission import note
from grace.services.remediation.paging import Paging
from grace.services.runner import Runner

__all__ = ["MaintenanceWindows", "RollbackCheck"]

log = logging.getLogger("grace.remediation")

SOURCE = "remediation"
MAX_REASON = 1000
MAX_LENGTH = timedelta(days=31)


class RollbackCheck(Protocol):
    """The guide's rollback check (ModelRegistry.check_rollback_triggers)."""

    async def __call__(
        self, model_id: str, window_minutes: int = ..., auto_remediate: bool = ...
    ) -> Mapping[str, Any]: ...


def _instant(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(name, "must be a date and time with a time zone (ISO 8601)")
    try:
        return ensure_utc(value)
    except OverflowError:
        raise InvalidInput(name, "is out of the representable range") from None


class MaintenanceWindows:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        run: Runner,
        follower: EventFollower,
        check: RollbackCheck,
        paging: Paging,
    ) -> None:
        self._paging = paging
        self._store = store
        self._clock = clock
        self._run = run
        self._follower = follower
        self._check = check

    async def create(
        self,
        model_id: str | None,
        starts_at: datetime,
        ends_at: datetime,
        reason: str,
        *,
        on_end: OnWindowEnd | str = OnWindowEnd.ACT,
        created_by: str | None = None,
    ) -> MaintenanceWindow:
        """A new window; InvalidInput when it ends before it starts, is already over, or
        lasts longer than 31 days; ModelNotFound for an unknown model (none: every model)."""
        if model_id is not None:
            check_identifier("model_id", model_id)
        starts_at = _instant("starts_at", starts_at)
        ends_at = _instant("ends_at", ends_at)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("reason", "must be a non-empty string: say why")
        check_optional_text("reason", reason, MAX_REASON)
        try:
            end_rule = OnWindowEnd(on_end)
        except ValueError:
            known = ", ".join(o.value for o in OnWindowEnd)
            raise InvalidInput("on_end", f"{on_end!r} is not one of {known}") from None
        if ends_at <= starts_at:
            raise InvalidInput("ends_at", "must be after starts_at")
        if ends_at - starts_at > MAX_LENGTH:
            raise InvalidInput("ends_at", "a maintenance window lasts at most 31 days")

        def write() -> tuple[MaintenanceWindow, Event]:
            with self._store.write() as s:
                now = self._clock.now()
                if ends_at <= now:
                    raise InvalidInput("ends_at", "is in the past: the window would be over")
                if model_id is not None:
                    s.latest_version(model_id)  # ModelNotFound for an unknown model
                window = s.insert_window(
                    model_id, starts_at, ends_at, reason, end_rule, created_by, now
                )
                event = Event.of(EventType.WINDOW_CREATED, SOURCE, model_id, window.to_dict(), now)
                return window, s.append_event(event)

        window, event = await self._run(write)
        await self._follower.announce([event])
        return window

    def list_windows(
        self, model_id: str | None = None, *, include_past: bool = False
    ) -> list[MaintenanceWindow]:
        """Windows not yet over (all, with ``include_past``), by start."""
        if model_id is not None:
            check_identifier("model_id", model_id)
        with self._store.read() as s:
            return s.list_windows(
                model_id=model_id,
                ending_after=None if include_past else self._clock.now(),
                include_removed=include_past,
                limit=1000,
            )

    def get(self, window_id: int) -> MaintenanceWindow:
        with self._store.read() as s:
            return s.get_window(window_id)

    async def remove(self, window_id: int) -> MaintenanceWindow:
        """Remove a window: it holds nothing more, and what it held is acted on now."""

        def write() -> tuple[MaintenanceWindow, Event | None]:
            with self._store.write() as s:
                now = self._clock.now()
                before = s.get_window(window_id)
                window = s.remove_window(window_id, now)
                if before.removed_at is not None:
                    return window, None
                event = Event.of(
                    EventType.WINDOW_REMOVED, SOURCE, window.model_id, window.to_dict(), now
                )
                return window, s.append_event(event)

        window, event = await self._run(write)
        if event is not None:
            await self._follower.announce([event])
        await self.release_ended()
        return window

    # -- the end of a window ---------------------------------------------------------------
    async def release_ended(self) -> list[MaintenanceWindow]:
        """Act on what every ended (or removed) window held; the server calls this."""
        released: list[MaintenanceWindow] = []
        for window in await self._run(self._ended):
            held = await self._run(self._claim, window)
            if held is None:
                continue  # another process took it
            released.append(window)
            runs, pages = held
            for model in sorted({r.resource_id for r in runs} | {i.resource_id for i in pages}):
                try:
                    await self._release(
                        window,
                        model,
                        next((r for r in runs if r.resource_id == model), None),
                        [i for i in pages if i.resource_id == model],
                    )
                except GraceError:
                    log.exception("could not act on %s, held by window %s", model, window.id)
        return released

    def _ended(self) -> list[MaintenanceWindow]:
        with self._store.read() as s:
            return s.ended_windows(self._clock.now())

    def _claim(
        self, window: MaintenanceWindow
    ) -> tuple[list[PlaybookExecution], list[Incident]] | None:
        """Mark the window released; take its held runs (the newest per model) and the
        incidents whose page it held."""
        with self._store.write() as s:
            now = self._clock.now()
            if not s.release_window(window.id, now):
                return None
            held = s.executions_in(ExecutionStatus.HELD, window_id=window.id, limit=1000)
            newest: dict[str, PlaybookExecution] = {}
            for run in held:
                newest[run.resource_id] = run
            pages = s.incidents_held_by(window.id)
            models = sorted(set(newest) | {i.resource_id for i in pages})
            data = {**window.to_dict(), "held_models": models}
            s.append_event(Event.of(EventType.WINDOW_ENDED, SOURCE, window.model_id, data, now))
            for run in held:
                later = run is not newest[run.resource_id]
                s.update_execution(
                    run.id,
                    finished_at=now,
                    result={
                        **run.result,
                        "released_at": now.isoformat(),
                        "superseded": later,
                    },
                )
            return [newest[m] for m in sorted(newest)], pages

    async def _release(
        self,
        window: MaintenanceWindow,
        model: str,
        run: PlaybookExecution | None,
        pages: list[Incident],
    ) -> None:
        """Check ``model`` again; if it still fails, send the pages held and (if the window
        acts and it held a remediation) remediate."""
        window_minutes = int((run.context if run else {}).get("window_minutes") or 10)
        act = window.on_end is OnWindowEnd.ACT and run is not None
        check = await self._check(model, window_minutes, auto_remediate=act)
        failing = bool(check.get("should_rollback"))
        if not failing:
            outcome = "the model recovered during the window: nothing to do"
        elif act:
            remediation = check.get("remediation") or {}
            outcome = (
                "the model still fails: the held page goes out and remediation acted "
                f"(run {remediation.get('execution_id')}: {remediation.get('status')})"
            )
        else:
            outcome = "the model still fails: the held page goes out"

        def write() -> list[Event]:
            with self._store.write() as s:
                now = self._clock.now()
                events: list[Event] = []
                if run is not None:
                    done = s.update_execution(
                        run.id, result={**run.result, "on_window_end": outcome, "failing": failing}
                    )
                    note(s, done, "maintenance_window_ended", outcome, now, SOURCE)
                if failing:
                    for held in pages:
                        current = s.get_incident(held.id)
                        events += self._paging.on_change(s, current, Change.WINDOW_ENDED, now)
                return events

        await self._follower.announce(await self._run(write))
