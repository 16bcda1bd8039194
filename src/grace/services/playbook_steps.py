"""What a playbook is, and how one of its steps runs: with its timeout and its retries.

A playbook is a name, the type of resource it acts on, and declared steps, each an async
function of the run (:class:`PlaybookRun`) that returns what it did (a JSON-able mapping,
kept as the step's ``detail``).  The built-in ``model_rollback`` is one
(grace.services.playbooks); a user's own is another, given to the engine
(``SelfHealingEngine.register_playbook``) or installed as an entry point
(grace.services.playbook_plugins).  The engine treats them alike.

Every attempt of a step is bounded by its timeout (the step's own, else the engine's
default); a step that raises or times out is tried again up to ``retries`` more times,
``retry_delay`` seconds apart (doubling each time).  The step's record says how many
attempts it took.  A timed-out step's coroutine is cancelled; blocking work it handed to a
thread finishes in that thread, so a step that must not run twice should not be retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from grace.clock import Clock
from grace.domain.events import Event
from grace.domain.records import StepRecord, StepStatus
from grace.domain.validation import check_identifier
from grace.errors import GraceError, InvalidInput

__all__ = [
    "MAX_RETRIES",
    "Playbook",
    "PlaybookRun",
    "PlaybookStep",
    "StepFunction",
    "check_playbook",
    "run_step",
]

log = logging.getLogger("grace.services.self_healing")

MAX_RETRIES = 10
MAX_TIMEOUT_SECONDS = 24 * 3600.0


@dataclass
class PlaybookRun:
    """What a step sees: the run's context, scratch state shared by its steps, and its events."""

    execution_id: int
    playbook: str
    resource_id: str
    context: Mapping[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


StepFunction = Callable[[PlaybookRun], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class PlaybookStep:
    name: str
    run: StepFunction
    description: str = ""
    #: Seconds one attempt may take (None: the engine's default).
    timeout: float | None = None
    #: Attempts after the first when it fails or times out.
    retries: int = 0
    #: Seconds before the first retry; doubled before each next one.
    retry_delay: float = 1.0

    def to_dict(self, default_timeout: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "timeout_seconds": self.timeout if self.timeout is not None else default_timeout,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay,
        }


@dataclass(frozen=True)
class Playbook:
    name: str
    resource_type: str
    steps: Sequence[PlaybookStep]
    description: str = ""
    cooldown: bool = False
    #: The context key naming the resource the playbook acts on.
    resource_key: str = "resource_id"

    def to_dict(self, default_timeout: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "resource_type": self.resource_type,
            "description": self.description,
            "cooldown": self.cooldown,
            "steps": [s.name for s in self.steps],
            "step_details": [s.to_dict(default_timeout) for s in self.steps],
        }


def check_playbook(playbook: object) -> Playbook:
    """``playbook`` if it is a well-formed one; InvalidInput naming what is wrong."""
    if not isinstance(playbook, Playbook):
        raise InvalidInput("playbook", f"must be a Playbook, not {type(playbook).__name__}")
    check_identifier("playbook.name", playbook.name, 100)
    check_identifier("playbook.resource_type", playbook.resource_type, 100)
    check_identifier("playbook.resource_key", playbook.resource_key, 100)
    if not playbook.steps:
        raise InvalidInput("playbook.steps", "a playbook needs at least one step")
    seen: set[str] = set()
    for i, step in enumerate(playbook.steps):
        where = f"playbook.steps[{i}]"
        if not isinstance(step, PlaybookStep):
            raise InvalidInput(where, f"must be a PlaybookStep, not {type(step).__name__}")
        check_identifier(f"{where}.name", step.name, 100)
        if step.name in seen:
            raise InvalidInput(f"{where}.name", f"{step.name!r} names two steps")
        seen.add(step.name)
        if not callable(step.run):
            raise InvalidInput(f"{where}.run", "must be an async function of the run")
        if step.timeout is not None and not 0 < step.timeout <= MAX_TIMEOUT_SECONDS:
            raise InvalidInput(
                f"{where}.timeout", f"must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} s"
            )
        if isinstance(step.retries, bool) or not 0 <= step.retries <= MAX_RETRIES:
            raise InvalidInput(f"{where}.retries", f"must be from 0 to {MAX_RETRIES}")
        if not 0 <= step.retry_delay <= 3600:
            raise InvalidInput(f"{where}.retry_delay", "must be from 0 to 3600 seconds")
    return playbook


async def run_step(
    step: PlaybookStep, run: PlaybookRun, *, clock: Clock, default_timeout: float
) -> StepRecord:
    """Run ``step`` (with its timeout and retries); its record, never an exception."""
    timeout = step.timeout if step.timeout is not None else default_timeout
    started_at = clock.now()
    began = time.perf_counter()
    error = ""
    attempts = 0
    delay = step.retry_delay
    while attempts <= step.retries:
        if attempts:
            await asyncio.sleep(delay)
            delay *= 2
        attempts += 1
        try:
            detail = dict(await asyncio.wait_for(step.run(run), timeout))
        except TimeoutError:
            error = f"timed out after {timeout:g} s"
        except GraceError as exc:
            error = exc.detail
        except Exception as exc:
            log.exception("playbook %s step %s crashed", run.playbook, step.name)
            error = f"{type(exc).__name__}: {exc}"
        else:
            return _record(
                step, StepStatus.SUCCEEDED, started_at, began, clock, detail, None, attempts
            )
        if attempts <= step.retries:
            log.warning(
                "playbook %s step %s attempt %d failed (%s); retrying",
                run.playbook,
                step.name,
                attempts,
                error,
            )
    if attempts > 1:
        error = f"{error} (after {attempts} attempts)"
    return _record(step, StepStatus.FAILED, started_at, began, clock, {}, error, attempts)


def _record(
    step: PlaybookStep,
    status: StepStatus,
    started_at: Any,
    began: float,
    clock: Clock,
    detail: Mapping[str, Any],
    error: str | None,
    attempts: int,
) -> StepRecord:
    elapsed_ms = round((time.perf_counter() - began) * 1000, 3)
    return StepRecord(
        step.name, status, started_at, clock.now(), elapsed_ms, detail, error, attempts
    )
