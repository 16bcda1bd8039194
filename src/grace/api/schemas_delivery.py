"""Request and response shapes of subscriptions, dependents and deliveries."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from grace.api.schemas import _In, _Out
from grace.api.shapes import Documented, Identifier, Tag
from grace.domain.delivery import (
    DELIVERABLE_TYPES,
    MAX_FILTER_ITEMS,
    MAX_URL_LENGTH,
    SubscriptionKind,
)
from grace.domain.severity import Severity

# The scheme must also suit the kind, and the host must not be refused (stated in prose).
Url = Annotated[
    str, Field(min_length=1, max_length=MAX_URL_LENGTH, pattern=r"^(https?|nats)://[!-~]+$")
]
Secret = Annotated[str, Field(pattern=r"^(whsec_)?[A-Za-z0-9+/]+={0,2}$", max_length=200)]
ModelFilter = Annotated[list[Identifier], Documented(minItems=1, maxItems=MAX_FILTER_ITEMS)]
TagFilter = Annotated[list[Tag], Documented(minItems=1, maxItems=MAX_FILTER_ITEMS)]
RoutingKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,128}$")]
TypeFilter = Annotated[
    list[Identifier],
    Documented(
        lambda: {"items": {"type": "string", "enum": sorted(DELIVERABLE_TYPES)}},
        minItems=1,
        maxItems=MAX_FILTER_ITEMS,
    ),
]


class SubscriptionIn(_In):
    kind: SubscriptionKind = Field(
        description="webhook, nats, or an alerting kind: pagerduty, slack, alertmanager.",
        examples=["webhook"],
    )
    url: Url = Field(
        description="http(s) URL of a webhook, a Slack incoming webhook, PagerDuty's Events "
        "API (https://events.pagerduty.com) or an Alertmanager; or nats:// URL of a NATS "
        "server. Never logged; a Slack URL's path is never shown.",
        examples=["https://hooks.example.com/grace"],
    )
    secret: Secret | RoutingKey | None = Field(
        default=None,
        description="Webhooks: the Standard Webhooks signing secret (whsec_...); generated "
        "and shown once when left out. PagerDuty: the integration's routing key (required). "
        "Never returned.",
    )
    event_types: TypeFilter | None = Field(
        default=None,
        description="Only these event types (an alerting kind takes only alert and "
        "remediation events, all of those it can carry when left out).",
    )
    model_ids: ModelFilter | None = Field(default=None, description="Only events of these models.")
    tags: TagFilter | None = Field(default=None, description="Only events of models with a tag.")
    min_severity: Severity | None = Field(
        default=None, description="Only events that say at least this severity."
    )


class SubscriptionOut(_Out):
    id: int
    kind: str
    url: str = Field(description="With any credentials masked.")
    event_types: list[str] | None
    model_ids: list[str] | None
    tags: list[str] | None = None
    min_severity: str | None = None
    dependent_name: str | None
    created_at: str
    cursor: int = Field(description="The log position up to which deliveries were made.")
    status: str
    disabled_at: str | None
    disabled_reason: str | None
    signed: bool
    secrets_in_use: int = Field(description="2 during a secret rotation: both sign.")
    deliveries: dict[str, int] | None = None


class SubscriptionCreatedOut(SubscriptionOut):
    secret: str | None = Field(description="The generated signing secret, shown once.")


class SecretIn(_In):
    secret: Secret | None = Field(default=None, description="Generated when left out.")


class ReplayIn(_In):
    from_seq: int = Field(ge=1, description="Deliver again every event from this seq on.")


class ReplayOut(_Out):
    subscription_id: int
    from_seq: int
    reopened: int


class DependentIn(_In):
    name: Identifier = Field(description="The dependent service's name.")
    url: Url = Field(description="Its webhook URL.")
    secret: Secret | None = Field(default=None, description="As for a subscription.")


class AttemptOut(_Out):
    at: str
    duration_ms: float
    status_code: int | None
    error: str | None


class DeliveryOut(_Out):
    id: int
    subscription_id: int
    seq: int
    event_id: str
    event_type: str
    model_id: str | None
    status: str
    tries: int
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None
    last_status_code: int | None
    last_error: str | None
    attempts: list[AttemptOut]


class DeliveryPage(_Out):
    items: list[DeliveryOut]
    next_before: int | None
