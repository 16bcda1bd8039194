"""Whether an automatic remediation may act, with no I/O: maintenance windows, the
circuit breaker, the cooldown, rate limits per model and across the fleet, dry runs and
approvals.

The remediation pipeline gathers the :class:`Facts` of one case in the transaction that
records its run, and :func:`decide` answers what to do; every answer but ACT says why
(a :class:`Reason`), and that reason goes into the run, onto the incident's timeline and
into an event.  The order of the checks is the order below, so that what a human must
hear first is what the answer says:

0. a policy naming a playbook this process does not have refuses (a configuration error
   a human must fix; the pipeline never guesses another playbook);
1. a maintenance window covering the model holds the action (it acts, or pages, when the
   window ends and the model is still failing);
2. an open circuit breaker refuses (a human turned automatic remediation off, or K runs in
   a row failed);
3. the playbook's cooldown refuses a second run too soon after the last;
4. more than N automatic remediations of the model in the last hour refuse;
5. more than M across the fleet in the last hour refuse and page a human: a fleet-wide
   burst means something other than the models is wrong;
6. a dry run records what would have happened (including 1-5) and does nothing else;
7. a model that needs approval waits for one;
8. otherwise the remediation acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from grace.domain.timeutil import isoformat

__all__ = [
    "Decision",
    "Facts",
    "GuardrailLimits",
    "MaintenanceWindow",
    "OnWindowEnd",
    "Reason",
    "RemediationPolicy",
    "Verdict",
    "breaker_trips",
    "cooldown_message",
    "decide",
]


class Verdict(StrEnum):
    ACT = "act"
    HOLD = "hold"
    REFUSE = "refuse"
    WAIT_APPROVAL = "wait_approval"
    DRY_RUN = "dry_run"


class Reason(StrEnum):
    """Why a remediation did not act (or has not yet)."""

    MAINTENANCE_WINDOW = "maintenance_window"
    BREAKER_OPEN = "breaker_open"
    COOLDOWN = "cooldown"
    RATE_LIMIT = "rate_limit"
    FLEET_RATE_LIMIT = "fleet_rate_limit"
    DRY_RUN = "dry_run"
    WAITING_APPROVAL = "waiting_approval"
    DENIED = "denied"
    APPROVAL_EXPIRED = "approval_expired"
    UNKNOWN_PLAYBOOK = "unknown_playbook"


class OnWindowEnd(StrEnum):
    """What a maintenance window does with a held action when it ends on a failing model."""

    ACT = "act"  # page and remediate
    PAGE = "page"  # page only


@dataclass(frozen=True, slots=True)
class GuardrailLimits:
    """The service-wide limits (settings); a model's policy may lower its own rate."""

    per_model_per_hour: int = 3
    fleet_per_hour: int = 20
    breaker_after: int = 3
    approval_ttl: timedelta = timedelta(minutes=60)


@dataclass(frozen=True, slots=True)
class RemediationPolicy:
    """A model's remediation policy: approvals, dry runs, its own rate limit, its runbook,
    and the circuit breaker's state (open: automatic remediation is off until a human
    closes it)."""

    model_id: str
    require_approval: bool = False
    dry_run: bool = False
    max_per_hour: int | None = None
    runbook_url: str | None = None
    #: Promotion to production needs at least this trust score (grace.domain.trust).
    min_trust: float | None = None
    #: The playbook automatic remediation runs (None: the built-in model_rollback).
    playbook: str | None = None
    breaker_opened_at: datetime | None = None
    breaker_reason: str | None = None

    @property
    def breaker_open(self) -> bool:
        return self.breaker_opened_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "require_approval": self.require_approval,
            "dry_run": self.dry_run,
            "max_per_hour": self.max_per_hour,
            "runbook_url": self.runbook_url,
            "min_trust": self.min_trust,
            "playbook": self.playbook,
            "breaker": {
                "open": self.breaker_open,
                "opened_at": isoformat(self.breaker_opened_at),
                "reason": self.breaker_reason,
            },
        }


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    id: int
    model_id: str | None  # None: every model
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str | None
    created_at: datetime
    on_end: OnWindowEnd = OnWindowEnd.ACT
    removed_at: datetime | None = None
    released_at: datetime | None = None  # when its held actions were acted on

    def covers(self, model_id: str, at: datetime) -> bool:
        return (
            self.removed_at is None
            and (self.model_id is None or self.model_id == model_id)
            and self.starts_at <= at < self.ends_at
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model_id": self.model_id,
            "starts_at": isoformat(self.starts_at),
            "ends_at": isoformat(self.ends_at),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": isoformat(self.created_at),
            "on_end": self.on_end.value,
            "removed_at": isoformat(self.removed_at),
            "released_at": isoformat(self.released_at),
        }


@dataclass(frozen=True, slots=True)
class Facts:
    """What the guardrails look at for one case, read in the transaction that records it."""

    policy: RemediationPolicy
    window: MaintenanceWindow | None = None
    #: The last run inside the cooldown that counts against it (succeeded or running).
    cooldown_run: tuple[int, datetime] | None = None
    model_runs_last_hour: int = 0
    fleet_runs_last_hour: int = 0
    #: The policy names a playbook this process does not have (a refusal, never a guess).
    unknown_playbook: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: Reason | None = None
    message: str = ""
    #: Page a human now (a fleet-wide burst); alerts route on the event this sets.
    page: bool = False
    window_id: int | None = None
    #: For a dry run: what the pipeline would have done.
    would: Verdict | None = None

    @property
    def acts(self) -> bool:
        return self.verdict is Verdict.ACT

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
            "page": self.page,
            "window_id": self.window_id,
            "would": self.would.value if self.would else None,
        }


def cooldown_message(run_id: int, started: datetime, cooldown: timedelta) -> str:
    """Why a run is refused inside the cooldown after run ``run_id`` (which started at
    ``started``): the one wording of the cooldown rule, wherever it refuses."""
    return (
        f"cooldown: run {run_id} started at {isoformat(started)}; another is allowed after "
        f"{isoformat(started + cooldown)}"
    )


def _guarded(facts: Facts, limits: GuardrailLimits, cooldown: timedelta) -> Decision:
    """Checks 0-5: a refusal or hold, or ACT."""
    policy = facts.policy
    window = facts.window
    if facts.unknown_playbook is not None:
        return Decision(
            Verdict.REFUSE,
            Reason.UNKNOWN_PLAYBOOK,
            f"the model's remediation policy names the playbook {facts.unknown_playbook!r}, "
            "which is not registered here (an entry point not installed, or given to another "
            "process); nothing was run",
        )
    if window is not None:
        scope = f"model {window.model_id}" if window.model_id else "every model"
        return Decision(
            Verdict.HOLD,
            Reason.MAINTENANCE_WINDOW,
            f"held by maintenance window {window.id} for {scope} until "
            f"{isoformat(window.ends_at)}: {window.reason}",
            window_id=window.id,
        )
    if policy.breaker_open:
        return Decision(
            Verdict.REFUSE,
            Reason.BREAKER_OPEN,
            "automatic remediation is off for this model (circuit breaker open since "
            f"{isoformat(policy.breaker_opened_at)}: {policy.breaker_reason or 'no reason'}); "
            "a human turns it back on",
        )
    if facts.cooldown_run is not None and cooldown > timedelta(0):
        run_id, started = facts.cooldown_run
        return Decision(
            Verdict.REFUSE, Reason.COOLDOWN, cooldown_message(run_id, started, cooldown)
        )
    per_model = limits.per_model_per_hour
    if policy.max_per_hour is not None:
        per_model = min(per_model, policy.max_per_hour)
    if facts.model_runs_last_hour >= per_model:
        return Decision(
            Verdict.REFUSE,
            Reason.RATE_LIMIT,
            f"rate limit: {facts.model_runs_last_hour} automatic remediations of this model "
            f"in the last hour (at most {per_model})",
        )
    if facts.fleet_runs_last_hour >= limits.fleet_per_hour:
        return Decision(
            Verdict.REFUSE,
            Reason.FLEET_RATE_LIMIT,
            f"fleet rate limit: {facts.fleet_runs_last_hour} automatic remediations across the "
            f"fleet in the last hour (at most {limits.fleet_per_hour}); something other than "
            "the models may be wrong, so a human is paged instead",
            page=True,
        )
    return Decision(Verdict.ACT)


def decide(facts: Facts, limits: GuardrailLimits, *, cooldown: timedelta) -> Decision:
    """What one automatic remediation may do now (the order is the module's).  An approved
    run is not decided again: the approval was a human's answer."""
    guarded = _guarded(facts, limits, cooldown)
    if facts.policy.dry_run:
        would = guarded.verdict
        if would is Verdict.ACT and facts.policy.require_approval:
            would = Verdict.WAIT_APPROVAL
        told = guarded.message or (
            "would have waited for approval"
            if would is Verdict.WAIT_APPROVAL
            else "would have acted"
        )
        return Decision(
            Verdict.DRY_RUN,
            Reason.DRY_RUN,
            f"dry run: {told}",
            window_id=guarded.window_id,
            would=would,
        )
    if not guarded.acts:
        return guarded
    if facts.policy.require_approval:
        return Decision(
            Verdict.WAIT_APPROVAL,
            Reason.WAITING_APPROVAL,
            f"waiting for approval (denied if unanswered within "
            f"{int(limits.approval_ttl.total_seconds() // 60)} minutes)",
        )
    return guarded


def breaker_trips(recent_outcomes: list[bool], after: int) -> bool:
    """Whether the last ``after`` automatic runs of a model (newest first; True: it
    succeeded) all failed, so that automatic remediation switches off for the model."""
    return after > 0 and len(recent_outcomes) >= after and not any(recent_outcomes[:after])
