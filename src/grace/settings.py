"""Settings: one class, read from ``GRACE_*`` environment variables by a factory, passed in.

Nothing reads the environment at import time; tests build their own
``Settings(...)`` instead of patching globals.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from grace.domain.snapshots import MAX_WINDOW_MINUTES
from grace.domain.triggers import TriggerThresholds

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRACE_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite:///./grace.db",
        description="SQLAlchemy URL: sqlite:///path (default) or postgresql+psycopg://...",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    auto_migrate: bool = Field(
        default=True, description="Bring the schema to head on start-up (under a lock)."
    )
    default_window_minutes: int = Field(default=10, ge=1, le=MAX_WINDOW_MINUTES)
    callback_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    remediation_cooldown_minutes: float = Field(default=30.0, ge=0, le=7 * 24 * 60)
    # The guardrails (grace.domain.guardrails): automatic remediations per model and across
    # the fleet in any hour, failed runs in a row that open a model's circuit breaker, and
    # how long an approval request waits before it is denied.
    remediation_max_per_model_per_hour: int = Field(default=3, ge=0, le=1000)
    remediation_max_fleet_per_hour: int = Field(default=20, ge=0, le=100_000)
    remediation_breaker_after: int = Field(default=3, ge=0, le=1000)
    approval_ttl_minutes: float = Field(default=60.0, gt=0, le=7 * 24 * 60)
    # After a successful rollback, the restored version must be healthy this long (0: no
    # verification); otherwise its incident escalates to CRITICAL.
    rollback_verification_minutes: int = Field(default=10, ge=0, le=24 * 60)
    # grace serve runs a rollback drill this often (0: only when asked), opening a LOW
    # incident per model it could not heal.
    drill_every_hours: float = Field(default=0.0, ge=0, le=24 * 366)
    # A degradation incident resolves itself once the model's production version has been
    # healthy this long (0: never).
    incident_auto_resolve_minutes: int = Field(default=15, ge=0, le=24 * 60)
    # Where people reach this service: the links in alerts (incidents, approvals) start here.
    public_url: str = Field(default="http://127.0.0.1:8000", pattern=r"^https?://[!-~]+$")
    # A firing alert is sent to Alertmanager again this often (and ends three times this
    # long after the last send, so it outlives a stopped Grace by that much).
    alert_resend_minutes: float = Field(default=5.0, gt=0, le=24 * 60)
    # How often grace serve denies expired approval requests and acts on ended windows.
    guardrail_sweep_seconds: float = Field(default=10.0, gt=0, le=3600)
    playbook_stale_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="A running playbook run with no progress for this long is abandoned.",
    )
    playbook_step_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="One attempt of a playbook step may take this long unless the step says.",
    )
    playbook_entry_points: bool = Field(
        default=True,
        description="Register the playbooks installed as entry points (group grace.playbooks).",
    )
    future_timestamp_tolerance_seconds: float = Field(default=300.0, ge=0, le=86_400)
    log_level: str = Field(default="INFO")
    access_log: bool = Field(default=True, description="One log line per HTTP request.")

    # The HTTP service (`grace serve`).
    host: str = Field(default="127.0.0.1", description="Address `grace serve` binds to.")
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    insecure: bool = Field(
        default=False,
        description="Allow serving without any API token on a non-loopback address.",
    )
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, le=1024**3)
    max_batch_snapshots: int = Field(default=50_000, ge=1, le=1_000_000)
    token_cache_seconds: float = Field(default=2.0, ge=0, le=300)
    header_timeout_seconds: float = Field(
        default=15.0, gt=0, le=300, description="A request's line and headers must arrive within."
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="A request's body must arrive within."
    )
    # Delivery of events to webhooks and NATS (grace.services.delivery_worker).
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="One delivery attempt must end within."
    )
    webhook_allowed_hosts: str = Field(
        default="",
        description="Comma-separated host names and CIDRs webhooks may reach although they are "
        "loopback, private or link-local (e.g. 127.0.0.1,10.0.0.0/8,hooks.internal).",
    )
    delivery_max_tries: int = Field(default=10, ge=1, le=100)
    delivery_retry_base_seconds: float = Field(default=1.0, gt=0, le=3600)
    delivery_retry_cap_seconds: float = Field(default=300.0, gt=0, le=86_400)
    delivery_lease_seconds: float = Field(
        default=15.0,
        ge=1,
        le=3600,
        description="A worker's hold on a subscription; a dead worker's passes on after it.",
    )
    delivery_poll_seconds: float = Field(
        default=0.02, gt=0, le=60, description="How often the worker looks for new events."
    )
    delivery_mode: Literal["process", "inline", "off"] = Field(
        default="process",
        description="Where grace serve delivers: a process of its own beside the HTTP "
        "workers (process), on each HTTP worker's event loop (inline), or not at all (off).",
    )
    event_source: str = Field(
        default="/grace", description="The CloudEvents source prefix: <this>/<event source>."
    )
    service_started_at: AwareDatetime | None = Field(
        default=None,
        description="Set by `grace serve` for its workers, so that every worker applies the "
        "open-mode rule from the same instant; not for operators.",
    )

    # Service-wide trigger defaults; each model may override any of them.
    error_rate_warning: float = Field(default=0.05, ge=0, le=1)
    error_rate_critical: float = Field(default=0.10, ge=0, le=1)
    latency_factor: float = Field(default=1.5, ge=1)
    ood_rate: float = Field(default=0.20, ge=0, le=1)
    input_drift: float = Field(default=0.30, ge=0)
    min_snapshots: int = Field(default=1, ge=1)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    def default_thresholds(self) -> TriggerThresholds:
        return TriggerThresholds(
            error_rate_warning=self.error_rate_warning,
            error_rate_critical=self.error_rate_critical,
            latency_factor=self.latency_factor,
            ood_rate=self.ood_rate,
            input_drift=self.input_drift,
            min_snapshots=self.min_snapshots,
        )


def load_settings() -> Settings:
    """Settings from the environment (``GRACE_DATABASE_URL`` and friends)."""
    return Settings()
