"""Subscriptions, dependents and deliveries: what operators manage (API and CLI).

A subscription starts at the log's head: it receives the events committed after it was
made (a replay from an earlier seq sends older ones).  A webhook's target is checked when
the subscription is made (and again by the sender at every connection).  A model's
dependents are webhook subscriptions of that model's rollbacks, each with a name.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from grace.adapters.store import Store
from grace.clock import Clock
from grace.domain.alerts import check_routing_key, routed_types
from grace.domain.delivery import (
    HTTP_KINDS,
    Delivery,
    DeliveryStatus,
    Subscription,
    SubscriptionKind,
    check_filter_list,
    check_kind,
    check_secret,
    check_url,
    new_secret,
)
from grace.domain.events import EventType
from grace.domain.records import PlaybookExecution
from grace.domain.severity import parse_severity
from grace.domain.validation import check_identifier, check_unicode
from grace.errors import DependentNotFound, InvalidInput
from grace.services.clarity import EventLog
from grace.services.runner import Runner

__all__ = ["NOTIFY_STEP", "Created", "Subscriptions", "TargetCheck"]

#: The step of model_rollback that queues the rollback to the model's dependents.
NOTIFY_STEP = "notify_dependent_services"
#: What a run shows of each dependent's delivery.
_TOLD = ("id", "status", "tries", "last_status_code", "last_error", "delivered_at")

#: Refuses (raising InvalidInput on field url) a webhook URL whose host webhooks may not reach.
TargetCheck = Callable[[str], Awaitable[None]]


async def _no_check(_: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Created:
    subscription: Subscription
    #: The signing secret when Grace generated it (shown once), else None.
    generated_secret: str | None


def _check_id(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**63 - 1:
        raise InvalidInput(field, "must be a positive integer id")
    return value


class Subscriptions:
    def __init__(
        self,
        store: Store,
        *,
        events: EventLog,
        clock: Clock,
        run: Runner,
        check_target: TargetCheck = _no_check,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._events = events
        self._clock = clock
        self._run = run
        self._check_target = check_target
        self._on_change = on_change

    async def create(
        self,
        kind: object,
        url: object,
        *,
        secret: object = None,
        event_types: object = None,
        model_ids: object = None,
        tags: object = None,
        min_severity: object = None,
        dependent_name: str | None = None,
    ) -> Created:
        """A new subscription; bad input raises InvalidInput naming the field.

        Alerting kinds (pagerduty, slack, alertmanager) take only the events they can carry
        (grace.domain.alerts.ROUTABLE), all of them unless ``event_types`` says fewer; a
        pagerduty subscription's ``secret`` is its routing key."""
        checked_kind = check_kind(kind)
        check_url(checked_kind, url)
        target = check_unicode("url", str(url))
        types = routed_types(checked_kind, check_filter_list("event_types", event_types))
        models = check_filter_list("model_ids", model_ids)
        tag_filter = check_filter_list("tags", tags)
        level = None if min_severity is None else parse_severity(min_severity, "min_severity")
        generated: str | None = None
        secrets: tuple[str, ...] = ()
        if checked_kind is SubscriptionKind.WEBHOOK:
            if secret is None:
                generated = new_secret()
                secrets = (generated,)
            else:
                secrets = (check_secret(secret),)
        elif checked_kind is SubscriptionKind.PAGERDUTY:
            secrets = (check_routing_key(secret),)
        elif secret is not None:
            raise InvalidInput(
                "secret", f"only webhooks are signed; leave it out for {checked_kind.value}"
            )
        if checked_kind in HTTP_KINDS:
            await self._check_target(target)

        def write() -> Subscription:
            with self._store.write() as s:
                return s.insert_subscription(
                    checked_kind,
                    target,
                    secrets=secrets,
                    event_types=types,
                    model_ids=models,
                    dependent_name=dependent_name,
                    cursor=self._events.latest_seq(),
                    at=self._clock.now(),
                    min_severity=level,
                    tags=tag_filter,
                )

        created = await self._run(write)
        self._on_change()
        return Created(created, generated)

    def get(self, subscription_id: int) -> Subscription:
        _check_id("subscription_id", subscription_id)
        with self._store.read() as s:
            return s.get_subscription(subscription_id)

    def list_subscriptions(self, *, after_id: int = 0, limit: int = 100) -> list[Subscription]:
        with self._store.read() as s:
            return s.list_subscriptions(after_id=after_id, limit=limit)

    def counts(self, subscription_id: int) -> dict[str, int]:
        with self._store.read() as s:
            found = s.count_deliveries(subscription_id)
        return {status.value: found.get(status.value, 0) for status in DeliveryStatus}

    def remove(self, subscription_id: int) -> Subscription:
        """Delete it (with its deliveries); the subscription as it was."""
        _check_id("subscription_id", subscription_id)
        with self._store.write() as s:
            removed = s.get_subscription(subscription_id)
            s.delete_subscription(subscription_id)
        self._on_change()
        return removed

    def replay(self, subscription_id: int, from_seq: object) -> int:
        """Deliver again every event from ``from_seq`` on; how many deliveries reopened."""
        _check_id("subscription_id", subscription_id)
        if isinstance(from_seq, bool) or not isinstance(from_seq, int) or from_seq < 1:
            raise InvalidInput("from_seq", "must be a log position (seq), 1 or more")
        with self._store.write() as s:
            reopened = s.replay_subscription(subscription_id, from_seq, self._clock.now())
        self._on_change()
        return reopened

    def rotate_secret(self, subscription_id: int, secret: object = None) -> Created:
        """A new signing secret (generated when not given); the one it replaces keeps signing
        beside it, so that receivers can move over, until :meth:`drop_previous_secret`."""
        _check_id("subscription_id", subscription_id)
        new = new_secret() if secret is None else check_secret(secret)
        with self._store.write() as s:
            current = s.get_subscription(subscription_id)
            if current.kind is not SubscriptionKind.WEBHOOK:
                raise InvalidInput("secret", "only webhooks are signed")
            changed = s.set_secrets(subscription_id, (new, *current.secrets[:1]))
        self._on_change()
        return Created(changed, new if secret is None else None)

    def drop_previous_secret(self, subscription_id: int) -> Subscription:
        """Sign with the newest secret only (the end of a rotation)."""
        _check_id("subscription_id", subscription_id)
        with self._store.write() as s:
            current = s.get_subscription(subscription_id)
            changed = s.set_secrets(subscription_id, current.secrets[:1])
        self._on_change()
        return changed

    # -- dependents ----------------------------------------------------------------------
    async def add_dependent(
        self, model_id: str, name: object, url: object, secret: object = None
    ) -> Created:
        """A service that uses ``model_id``: told of each of its rollbacks."""
        check_identifier("model_id", model_id)
        dependent = check_identifier("name", name)
        with self._store.read() as s:
            s.latest_version(model_id)  # the model must exist (ModelNotFound)
            if any(
                d.dependent_name == dependent for d in s.list_subscriptions(dependents_of=model_id)
            ):
                raise InvalidInput("name", f"{model_id!r} already has a dependent {dependent!r}")
        return await self.create(
            SubscriptionKind.WEBHOOK,
            url,
            secret=secret,
            event_types=[EventType.ROLLED_BACK],
            model_ids=[model_id],
            dependent_name=dependent,
        )

    def dependents(self, model_id: str) -> list[Subscription]:
        check_identifier("model_id", model_id)
        with self._store.read() as s:
            return s.list_subscriptions(dependents_of=model_id, limit=1000)

    def remove_dependent(self, model_id: str, name: str) -> Subscription:
        for dependent in self.dependents(model_id):
            if dependent.dependent_name == name:
                return self.remove(dependent.id)
        raise DependentNotFound(model_id, name)

    # -- deliveries ----------------------------------------------------------------------
    def deliveries(
        self,
        *,
        subscription_id: int | None = None,
        status: DeliveryStatus | str | None = None,
        event_id: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """Newest first."""
        wanted = None
        if status is not None:
            try:
                wanted = DeliveryStatus(status)
            except ValueError:
                known = ", ".join(s.value for s in DeliveryStatus)
                raise InvalidInput("status", f"{status!r} is not one of {known}") from None
        with self._store.read() as s:
            return s.list_deliveries(
                subscription_id=subscription_id,
                status=wanted,
                event_id=event_id,
                before_id=before_id,
                limit=limit,
            )

    def delivery(self, delivery_id: int) -> Delivery:
        _check_id("delivery_id", delivery_id)
        with self._store.read() as s:
            return s.get_delivery(delivery_id)

    def replay_delivery(self, delivery_id: int) -> Delivery:
        """Send a dead letter again (its tries start over)."""
        _check_id("delivery_id", delivery_id)
        with self._store.write() as s:
            replayed = s.replay_delivery(delivery_id, self._clock.now())
        self._on_change()
        return replayed

    def dependents_told(self, execution: PlaybookExecution) -> list[dict[str, Any]] | None:
        """For a model_rollback run: each dependent its step 3 queued the rollback to, with
        the state of that delivery now (None for a run that queued nothing)."""
        step = next((s for s in execution.steps if s.name == NOTIFY_STEP), None)
        if step is None or not isinstance(step.detail.get("event_id"), str):
            return None
        queued = step.detail.get("dependents") or []
        with self._store.read() as s:
            found = s.list_deliveries(event_id=step.detail["event_id"], limit=1000)
        by_subscription = {d.subscription_id: d for d in found}
        told = []
        for dependent in queued:
            delivery = by_subscription.get(dependent.get("subscription_id"))
            shown = delivery.to_dict() if delivery is not None else None
            if shown is not None:
                shown = {k: shown[k] for k in _TOLD}
            told.append({**dependent, "delivery": shown})
        return told
