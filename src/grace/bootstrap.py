"""Where everything is wired: settings -> engine -> store -> services.

``build(settings)`` makes a fresh, independent :class:`Grace`; tests and
embedding applications use it directly.  ``default()`` is the process-wide
instance behind ``get_registry()`` and its siblings, built on first use from
the environment (``GRACE_DATABASE_URL`` and friends), never at import time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from grace.adapters.alert_senders import AlertmanagerSender, PagerDutySender, SlackSender
from grace.adapters.http_post import HttpPoster, target_checker
from grace.adapters.nats_sender import NatsSender
from grace.adapters.senders import Sender
from grace.adapters.sqlstore import migrate
from grace.adapters.sqlstore.engine import make_engine
from grace.adapters.sqlstore.store import SqlStore
from grace.adapters.store import Store
from grace.adapters.webhook import WebhookSender
from grace.clock import Clock, SystemClock
from grace.domain.alerts import AlertLinks
from grace.domain.delivery import RetryPolicy, SubscriptionKind, parse_allowed_hosts
from grace.domain.guardrails import GuardrailLimits
from grace.services.callbacks import UserCallbacks
from grace.services.clarity import EventBus, EventLog
from grace.services.delivery_worker import DeliveryWorker
from grace.services.deployments import Deployments
from grace.services.follower import EventFollower
from grace.services.incident_registry import IncidentRegistry
from grace.services.model_registry import ModelRegistry
from grace.services.playbook_plugins import installed_playbooks, register_installed
from grace.services.playbooks import model_rollback_playbook
from grace.services.remediation import Remediation
from grace.services.remediation.approvals import Approvals
from grace.services.remediation.drills import Drills
from grace.services.remediation.paging import Paging
from grace.services.remediation.policies import RemediationPolicies
from grace.services.remediation.recovery import Recovery
from grace.services.remediation.verification import Verification
from grace.services.remediation.windows import MaintenanceWindows
from grace.services.runner import Runner
from grace.services.self_healing import SelfHealingEngine
from grace.services.subscriptions import Subscriptions
from grace.services.tokens import TokenService
from grace.services.trust import TrustKeeper
from grace.settings import Settings, load_settings

__all__ = ["Grace", "build", "default", "reset_default"]


@dataclass
class Grace:
    """One wired instance of the system."""

    settings: Settings
    store: Store
    bus: EventBus
    clock: Clock
    deployments: Deployments
    incidents: IncidentRegistry
    engine: SelfHealingEngine
    registry: ModelRegistry
    tokens: TokenService
    events: EventLog
    #: Hands committed events on to the bus and the monitoring callback, in seq order.
    follower: EventFollower
    #: Where events go outside the process, and what happened to each delivery.
    subscriptions: Subscriptions
    #: Delivers them (started by ``grace serve``; ``delivery.start()`` elsewhere).
    delivery: DeliveryWorker
    #: The one way async code runs blocking database work (grace.services.runner).
    run: Runner
    #: The remediation pipeline (grace.services.remediation).
    remediation: Remediation
    #: Approving or denying a remediation that waits for a human.
    approvals: Approvals
    #: Maintenance windows, and what they held once they end.
    windows: MaintenanceWindows
    #: Each model's remediation policy and circuit breaker.
    policies: RemediationPolicies
    #: Degradation incidents resolved once the model is healthy again.
    recovery: Recovery
    #: Pages about incidents (alert events), and firing alerts sent again.
    paging: Paging
    #: Rollbacks judged once their verification window has passed.
    verification: Verification
    #: Rollback drills over the fleet.
    drills: Drills
    #: Healthy time in production credited to trust scores.
    trust: TrustKeeper
    _closed: bool = field(default=False, repr=False)

    async def aclose(self) -> None:
        """Stop delivering and following (each after its work in progress), then close."""
        await self.delivery.stop()
        await self.follower.stop()
        self.close()

    def close(self) -> None:
        if not self._closed:
            self.follower.close()
            self.store.close()
            self._closed = True


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    bus: EventBus | None = None,
) -> Grace:
    """Wire a Grace from ``settings``; the schema is migrated (or checked) first."""
    settings = settings or load_settings()
    clock = clock or SystemClock()
    # Before the database: a broken plugin stops the start with nothing to close.
    plugins = installed_playbooks() if settings.playbook_entry_points else []
    if store is None:
        engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
        try:
            if settings.auto_migrate:
                migrate.upgrade(engine)
            else:
                migrate.check(engine)
        except BaseException:
            engine.dispose()
            raise
        store = SqlStore(engine)
    bus = bus or EventBus(handler_timeout=settings.callback_timeout_seconds)
    run = Runner(store)
    events = EventLog(store)
    callbacks = UserCallbacks(
        events, clock=clock, run=run, timeout=settings.callback_timeout_seconds
    )
    follower = EventFollower(events, bus=bus, callbacks=callbacks, run=run)
    deployments = Deployments(store, clock)
    paging = Paging(
        store,
        clock=clock,
        run=run,
        follower=follower,
        resend_every=timedelta(minutes=settings.alert_resend_minutes),
    )
    incidents = IncidentRegistry(
        store, follower=follower, clock=clock, run=run, paging=paging.on_change
    )
    engine_ = SelfHealingEngine(
        store,
        follower=follower,
        clock=clock,
        cooldown=timedelta(minutes=settings.remediation_cooldown_minutes),
        stale_after=timedelta(seconds=settings.playbook_stale_seconds),
        step_timeout=settings.playbook_step_timeout_seconds,
        run=run,
    )
    engine_.register_playbook(model_rollback_playbook(store, deployments, clock, run))
    register_installed(engine_, plugins)
    engine_.abandon_orphans()  # runs a crash left behind must not block remediation
    remediation = Remediation(
        store,
        events=events,
        clock=clock,
        run=run,
        incidents=incidents,
        engine=engine_,
        callbacks=callbacks,
        follower=follower,
        deployments=deployments,
        limits=GuardrailLimits(
            per_model_per_hour=settings.remediation_max_per_model_per_hour,
            fleet_per_hour=settings.remediation_max_fleet_per_hour,
            breaker_after=settings.remediation_breaker_after,
            approval_ttl=timedelta(minutes=settings.approval_ttl_minutes),
        ),
        verify_for=timedelta(minutes=settings.rollback_verification_minutes),
    )
    registry = ModelRegistry(
        store,
        deployments=deployments,
        clock=clock,
        run=run,
        callbacks=callbacks,
        follower=follower,
        remediation=remediation,
        default_thresholds=settings.default_thresholds(),
        default_window_minutes=settings.default_window_minutes,
        future_tolerance=timedelta(seconds=settings.future_timestamp_tolerance_seconds),
        inline_snapshots=store.writes_without_waiting,
    )
    tokens = TokenService(store, clock, cache_seconds=settings.token_cache_seconds)
    allowed_hosts, allowed_networks = parse_allowed_hosts(settings.webhook_allowed_hosts)
    delivery = DeliveryWorker(
        store,
        events=events,
        clock=clock,
        run=run,
        senders=_senders(settings),
        policy=RetryPolicy(
            max_tries=settings.delivery_max_tries,
            base_seconds=settings.delivery_retry_base_seconds,
            cap_seconds=settings.delivery_retry_cap_seconds,
        ),
        lease_seconds=settings.delivery_lease_seconds,
        poll_seconds=settings.delivery_poll_seconds,
        on_outcome=paging.note_delivery,
    )
    follower.on_commit(delivery.nudge)
    subscriptions = Subscriptions(
        store,
        events=events,
        clock=clock,
        run=run,
        check_target=target_checker(allowed_hosts, allowed_networks),
        on_change=delivery.refresh,
    )
    windows = MaintenanceWindows(
        store,
        clock=clock,
        run=run,
        follower=follower,
        check=registry.check_rollback_triggers,
        paging=paging,
    )
    policies = RemediationPolicies(store, clock=clock, run=run, follower=follower, engine=engine_)
    recovery = Recovery(
        store,
        clock=clock,
        run=run,
        incidents=incidents,
        check=registry.check_rollback_triggers,
        healthy_for=timedelta(minutes=settings.incident_auto_resolve_minutes),
    )
    trust = TrustKeeper(store, clock=clock, run=run, check=registry.check_rollback_triggers)
    drills = Drills(
        store,
        clock=clock,
        run=run,
        follower=follower,
        deployments=deployments,
        incidents=incidents,
    )
    verification = Verification(
        store,
        clock=clock,
        run=run,
        follower=follower,
        incidents=incidents,
        check=registry.check_rollback_triggers,
        window=timedelta(minutes=settings.rollback_verification_minutes),
    )
    approvals = Approvals(
        store, clock=clock, run=run, follower=follower, engine=engine_, pipeline=remediation
    )
    return Grace(
        settings,
        store,
        bus,
        clock,
        deployments,
        incidents,
        engine_,
        registry,
        tokens,
        events,
        follower,
        subscriptions,
        delivery,
        run,
        remediation,
        approvals,
        windows,
        policies,
        recovery,
        paging,
        verification,
        drills,
        trust,
    )


def _senders(settings: Settings) -> dict[SubscriptionKind, Sender]:
    """One sender per subscription kind; the HTTP ones share one checked, pinned poster."""
    allowed_hosts, allowed_networks = parse_allowed_hosts(settings.webhook_allowed_hosts)
    poster = HttpPoster(
        timeout=settings.webhook_timeout_seconds,
        allowed_hosts=allowed_hosts,
        allowed_networks=allowed_networks,
    )
    links = AlertLinks(settings.public_url)
    return {
        SubscriptionKind.WEBHOOK: WebhookSender(poster, source_prefix=settings.event_source),
        SubscriptionKind.NATS: NatsSender(
            timeout=settings.webhook_timeout_seconds, source_prefix=settings.event_source
        ),
        SubscriptionKind.PAGERDUTY: PagerDutySender(poster, links),
        SubscriptionKind.SLACK: SlackSender(poster, links),
        SubscriptionKind.ALERTMANAGER: AlertmanagerSender(
            poster, links, firing_for=timedelta(minutes=3 * settings.alert_resend_minutes)
        ),
    }


_default: Grace | None = None
_default_lock = threading.Lock()


def default() -> Grace:
    """The process-wide Grace, built from the environment on first use."""
    global _default  # noqa: PLW0603 - the one process-wide instance the guide's get_*() expose
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = build(load_settings())
    return _default


def reset_default() -> None:
    """Close and forget the process-wide instance (the next ``default()`` builds a new one)."""
    global _default  # noqa: PLW0603
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = None
