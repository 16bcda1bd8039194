"""A model's remediation policy, as people set it: approvals, dry runs, its own rate limit,
its runbook, and turning automatic remediation back on once the circuit breaker opened."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.events import Event, EventType
from grace.domain.guardrails import RemediationPolicy
from grace.domain.remediation import RESOURCE_TYPE
from grace.domain.validation import check_bool, check_identifier
from grace.errors import Conflict, InvalidInput
from grace.services.follower import EventFollower
from grace.services.runner import Runner
from grace.services.self_healing import SelfHealingEngine

__all__ = ["RemediationPolicies"]

SOURCE = "remediation"
MAX_URL = 2000
_SETTABLE = (
    "require_approval",
    "dry_run",
    "max_per_hour",
    "runbook_url",
    "min_trust",
    "playbook",
)


def _checked_playbook(name: object, engine: SelfHealingEngine) -> str | None:
    """A playbook the engine has for models (None: back to model_rollback)."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise InvalidInput("playbook", "must be the name of a registered playbook, or null")
    check_identifier("playbook", name)
    if not engine.knows(name, RESOURCE_TYPE):
        known = [p.name for p in engine.playbooks if p.resource_type == RESOURCE_TYPE]
        raise InvalidInput(
            "playbook",
            f"{name!r} is not a registered playbook for models; registered: {', '.join(known)}",
        )
    return name


def _checked_url(url: object) -> str | None:
    if url is None:
        return None
    if not isinstance(url, str) or len(url) > MAX_URL or "\x00" in url:
        raise InvalidInput("runbook_url", f"must be a URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        raise InvalidInput("runbook_url", "must be an http or https URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("runbook_url", "must be an http or https URL")
    return url


def _checked(changes: Mapping[str, Any], engine: SelfHealingEngine) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(_SETTABLE))
    if unknown:
        raise InvalidInput(unknown[0], f"is not a policy field; expected {', '.join(_SETTABLE)}")
    values: dict[str, Any] = {}
    for name in ("require_approval", "dry_run"):
        if name in changes:
            values[name] = check_bool(name, changes[name])
    if "max_per_hour" in changes:
        limit = changes["max_per_hour"]
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 1000
        ):
            raise InvalidInput("max_per_hour", "must be a whole number from 0 to 1000, or null")
        values["max_per_hour"] = limit
    if "min_trust" in changes:
        minimum = changes["min_trust"]
        if minimum is not None and (
            isinstance(minimum, bool)
            or not isinstance(minimum, int | float)
            or not 0 <= minimum <= 1
        ):
            raise InvalidInput("min_trust", "must be a number from 0 to 1, or null")
        values["min_trust"] = None if minimum is None else float(minimum)
    if "runbook_url" in changes:
        values["runbook_url"] = _checked_url(changes["runbook_url"])
    if "playbook" in changes:
        values["playbook"] = _checked_playbook(changes["playbook"], engine)
    return values


class RemediationPolicies:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock,
        run: Runner,
        follower: EventFollower,
        engine: SelfHealingEngine,
    ) -> None:
        self._store = store
        self._engine = engine
        self._clock = clock
        self._run = run
        self._follower = follower

    def get(self, model_id: str) -> RemediationPolicy:
        check_identifier("model_id", model_id)
        with self._store.read() as s:
            s.latest_version(model_id)  # ModelNotFound for an unknown model
            return s.get_remediation_policy(model_id)

    async def update(
        self, model_id: str, changes: Mapping[str, Any], *, actor: str | None = None
    ) -> RemediationPolicy:
        """Change the fields given (``null`` clears max_per_hour, runbook_url, min_trust, and
        playbook, which is back to model_rollback).  A playbook must be registered here, for
        models."""
        check_identifier("model_id", model_id)
        values = _checked(changes, self._engine)

        def write() -> tuple[RemediationPolicy, Event | None]:
            with self._store.write() as s:
                now = self._clock.now()
                s.latest_version(model_id)
                if not values:
                    return s.get_remediation_policy(model_id), None
                policy = s.set_remediation_policy(model_id, values, now)
                data = {"remediation_policy": policy.to_dict(), "changed": sorted(values)}
                if actor:
                    data["actor"] = actor
                event = Event.of(EventType.MODEL_SETTINGS_CHANGED, SOURCE, model_id, data, now)
                return policy, s.append_event(event)

        policy, event = await self._run(write)
        if event is not None:
            await self._follower.announce([event])
        return policy

    async def close_breaker(self, model_id: str, *, actor: str) -> RemediationPolicy:
        """Turn automatic remediation back on after the circuit breaker opened; Conflict
        if it is not open."""
        check_identifier("model_id", model_id)

        def write() -> tuple[RemediationPolicy, Event]:
            with self._store.write() as s:
                now = self._clock.now()
                s.latest_version(model_id)
                before = s.get_remediation_policy(model_id)
                if not before.breaker_open:
                    raise Conflict(f"the circuit breaker of {model_id!r} is not open")
                policy = s.set_remediation_policy(
                    model_id, {"breaker_opened_at": None, "breaker_reason": None}, now
                )
                data = {"closed_by": actor, "was": before.breaker_reason}
                event = Event.of(EventType.BREAKER_CLOSED, SOURCE, model_id, data, now)
                return policy, s.append_event(event)

        policy, event = await self._run(write)
        await self._follower.announce([event])
        return policy
