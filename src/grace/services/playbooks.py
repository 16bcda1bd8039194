"""Built-in playbooks.  ``model_rollback`` is the guide's five steps:

1. find the previous stable version;
2. update the deployment status to ROLLBACK (and restore the stable version);
3. notify dependent services (queue grace.model.rolled_back.v1 to each dependent);
4. verify the rollback took effect;
5. update trust metrics of the rolled-back version.

The rolled-back version is latched in ROLLBACK: no automatic path promotes it
again (see :mod:`grace.domain.stages`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.delivery import cloud_event_type
from grace.domain.events import Event, EventType
from grace.domain.records import ChangeCause
from grace.domain.severity import Severity
from grace.domain.stages import DeploymentStage
from grace.domain.trust import trust_after_rollback
from grace.errors import ConcurrentChange, GraceError
from grace.services.deployments import Deployments
from grace.services.runner import Runner
from grace.services.self_healing import Playbook, PlaybookRun, PlaybookStep

__all__ = ["MODEL_ROLLBACK", "model_rollback_playbook"]

MODEL_ROLLBACK = "model_rollback"
SOURCE = "self_healing"


def _incident_id(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class VerificationFailed(GraceError):
    title = "Rollback verification failed"


def model_rollback_playbook(
    store: Store, deployments: Deployments, clock: Clock, blocking: Runner
) -> Playbook:
    """The playbook; ``blocking`` runs its database work (grace.services.runner)."""

    async def find_previous_stable_version(run: PlaybookRun) -> Mapping[str, Any]:
        current, target = await blocking(deployments.find_previous_stable, run.resource_id)
        expected = run.context.get("current_version")
        if expected and current.version != expected:
            raise ConcurrentChange(
                f"production is now {current.version!r}, not {expected!r}: already rolled back?"
            )
        run.state.update(from_version=current.version, to_version=target.version)
        return {"current_version": current.version, "target_version": target.version}

    async def update_deployment_status(run: PlaybookRun) -> Mapping[str, Any]:
        reasons = run.context.get("reasons") or []
        reason = "auto-remediation: " + ("; ".join(map(str, reasons)) or "rollback triggers fired")
        outcome = await blocking(
            lambda: deployments.rollback(
                run.resource_id,
                reason=reason,
                target_version=run.state["to_version"],
                expected_current=run.state["from_version"],
                cause=ChangeCause.AUTO_REMEDIATION,
                actor=SOURCE,
                incident_id=_incident_id(run.context.get("incident_id")),
            )
        )
        run.events.extend(outcome.events)
        run.state["rolled_back_event"] = next(
            e for e in outcome.events if e.event_type == EventType.ROLLED_BACK
        )
        return {
            "rolled_back": outcome.from_version,
            "status": DeploymentStage.ROLLBACK.value,
            "restored": outcome.to_version,
        }

    async def notify_dependent_services(run: PlaybookRun) -> Mapping[str, Any]:
        """Queue grace.model.rolled_back.v1 to each of the model's dependents (the delivery
        worker sends it: at least once, surviving a crash), and record whom."""
        rolled_back: Event = run.state["rolled_back_event"]

        def write() -> tuple[list[dict[str, Any]], Event]:
            with store.write() as s:
                dependents = s.list_subscriptions(dependents_of=run.resource_id, limit=1000)
                now = clock.now()
                s.queue_deliveries([d.id for d in dependents if d.active], [rolled_back], now)
                queued = [
                    {"name": d.dependent_name, "subscription_id": d.id, "active": d.active}
                    for d in dependents
                ]
                event = s.append_event(
                    Event.of(
                        EventType.DEPENDENTS_NOTIFIED,
                        SOURCE,
                        run.resource_id,
                        {
                            "from_version": run.state["from_version"],
                            "to_version": run.state["to_version"],
                            "execution_id": run.execution_id,
                            "rolled_back_event_id": rolled_back.event_id,
                            "dependents": queued,
                        },
                        now,
                    )
                )
                return queued, event

        queued, event = await blocking(write)
        run.events.append(event)
        return {
            "event": cloud_event_type(EventType.ROLLED_BACK),
            "event_id": rolled_back.event_id,
            "dependents": queued,
        }

    async def verify_rollback(run: PlaybookRun) -> Mapping[str, Any]:
        def check() -> tuple[str | None, DeploymentStage]:
            with store.read() as s:
                production = s.production_version(run.resource_id)
                old = s.get_version(run.resource_id, run.state["from_version"])
                return (production.version if production else None), old.status

        production, old_stage = await blocking(check)
        if production != run.state["to_version"] or old_stage is not DeploymentStage.ROLLBACK:
            raise VerificationFailed(
                f"expected {run.state['to_version']!r} in production and "
                f"{run.state['from_version']!r} in rollback; found {production!r} in production "
                f"and the old version in {old_stage.value}"
            )
        return {"production_version": production, "rolled_back_stage": old_stage.value}

    async def update_trust_metrics(run: PlaybookRun) -> Mapping[str, Any]:
        raw = run.context.get("severity")
        severity = Severity(raw) if raw in {s.value for s in Severity} else None

        def write() -> tuple[float, float]:
            with store.write() as s:
                entry = s.get_version(run.resource_id, run.state["from_version"])
                after = trust_after_rollback(entry.trust_score, severity)
                s.update_version(
                    run.resource_id, entry.version, {"trust_score": after}, clock.now()
                )
                return entry.trust_score, after

        before, after = await blocking(write)
        run.state["trust_score"] = after
        return {"version": run.state["from_version"], "trust_before": before, "trust_after": after}

    return Playbook(
        name=MODEL_ROLLBACK,
        resource_type="ml_model",
        description="Roll a degraded production model back to its last stable version.",
        cooldown=True,
        resource_key="model_id",
        steps=(
            PlaybookStep("find_previous_stable_version", find_previous_stable_version),
            PlaybookStep("update_deployment_status", update_deployment_status),
            PlaybookStep("notify_dependent_services", notify_dependent_services),
            PlaybookStep("verify_rollback", verify_rollback),
            PlaybookStep("update_trust_metrics", update_trust_metrics),
        ),
    )
