"""Delivery of events to the outside: subscriptions, deliveries and the rules they follow.

Pure: no I/O.  A :class:`Subscription` says where events go (a webhook URL or a NATS
server) and which (event types, models).  Each matching event becomes a
:class:`Delivery` to that subscription, tried until it succeeds, gives up or runs out of
tries (a dead letter).  :func:`verdict` reads an attempt's outcome; :class:`RetryPolicy`
says when to try again; :func:`cloud_event` is the wire form (CloudEvents 1.0, structured
JSON); :func:`sign` is the Standard Webhooks 1.0 signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from grace.domain.events import Event, EventType
from grace.domain.severity import Severity
from grace.domain.timeutil import isoformat
from grace.domain.validation import MAX_ID_LENGTH, check_identifier
from grace.errors import InvalidInput

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "DELIVERABLE_TYPES",
    "HTTP_KINDS",
    "MAX_FILTER_ITEMS",
    "MAX_URL_LENGTH",
    "Attempt",
    "Delivery",
    "DeliveryStatus",
    "Outcome",
    "RetryPolicy",
    "Subscription",
    "SubscriptionKind",
    "Verdict",
    "cloud_event",
    "cloud_event_type",
    "encode",
    "event_severity",
    "is_refused_address",
    "mask_url",
    "new_secret",
    "parse_allowed_hosts",
    "sign",
    "verdict",
]

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
MAX_URL_LENGTH = 2000
MAX_FILTER_ITEMS = 100
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret

#: The event types a subscription may ask for (Grace's own; the guide's names).
DELIVERABLE_TYPES: frozenset[str] = frozenset(
    value
    for name, value in vars(EventType).items()
    if not name.startswith("_") and isinstance(value, str)
)


class SubscriptionKind(StrEnum):
    WEBHOOK = "webhook"
    NATS = "nats"
    # Alerting (grace.domain.alerts): people paged where they already are.
    PAGERDUTY = "pagerduty"
    SLACK = "slack"
    ALERTMANAGER = "alertmanager"


_HTTP = {"http", "https"}
_SCHEMES = dict.fromkeys(SubscriptionKind, _HTTP) | {SubscriptionKind.NATS: {"nats"}}
#: The kinds that POST over HTTP, so whose target is checked like a webhook's.
HTTP_KINDS = frozenset(SubscriptionKind) - {SubscriptionKind.NATS}


def event_severity(event: Event) -> Severity | None:
    """The severity an event speaks of, if it says one (what ``min_severity`` routes on)."""
    said = event.data.get("severity")
    return Severity(said) if isinstance(said, str) and said in _SEVERITIES else None


_SEVERITIES = frozenset(s.value for s in Severity)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # not tried yet, or to be tried again
    DELIVERED = "delivered"
    DEAD = "dead"  # a dead letter: out of tries, or refused for good


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    kind: SubscriptionKind
    url: str
    event_types: tuple[str, ...] | None
    model_ids: tuple[str, ...] | None
    created_at: datetime
    #: The log position up to which this subscription's deliveries have been made.
    cursor: int = 0
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    #: A dependent of a model (grace.model.rolled_back.v1 to a service that uses it).
    dependent_name: str | None = None
    #: Signing secrets, newest first (several during a rotation); never shown again.  For
    #: PagerDuty, the routing key.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: Routing: only events that say at least this severity (events that say none pass).
    min_severity: Severity | None = None
    #: Routing: only events of models with any of these tags.
    tags: tuple[str, ...] | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def matches(self, event: Event, tagged: Collection[str] | None = None) -> bool:
        """Whether ``event`` is routed here; ``tagged`` is the models bearing one of the
        subscription's tags (when it names tags)."""
        if self.event_types is not None and event.event_type not in self.event_types:
            return False
        if self.model_ids is not None and event.resource_id not in self.model_ids:
            return False
        if self.tags is not None and (tagged is None or event.resource_id not in tagged):
            return False
        if self.min_severity is not None:
            said = event_severity(event)
            if said is not None:
                return said.at_least(self.min_severity)
        return True

    def to_dict(self) -> dict[str, Any]:
        """What a client may see: never a secret, the URL with any credentials masked."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "url": mask_url(self.url, whole_path=self.kind is SubscriptionKind.SLACK),
            "event_types": list(self.event_types) if self.event_types is not None else None,
            "model_ids": list(self.model_ids) if self.model_ids is not None else None,
            "tags": list(self.tags) if self.tags is not None else None,
            "min_severity": self.min_severity.value if self.min_severity else None,
            "dependent_name": self.dependent_name,
            "created_at": isoformat(self.created_at),
            "cursor": self.cursor,
            "status": "active" if self.active else "disabled",
            "disabled_at": isoformat(self.disabled_at) if self.disabled_at else None,
            "disabled_reason": self.disabled_reason,
            "signed": bool(self.secrets),
            "secrets_in_use": len(self.secrets),
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": isoformat(self.at),
            "duration_ms": round(self.duration_ms, 3),
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    subscription_id: int
    seq: int
    event_id: str
    event_type: str
    model_id: str | None
    status: DeliveryStatus
    tries: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    attempts: tuple[Attempt, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subscription_id": self.subscription_id,
            "seq": self.seq,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "model_id": self.model_id,
            "status": self.status.value,
            "tries": self.tries,
            "next_attempt_at": (
                isoformat(self.next_attempt_at) if self.status is DeliveryStatus.PENDING else None
            ),
            "created_at": isoformat(self.created_at),
            "delivered_at": isoformat(self.delivered_at) if self.delivered_at else None,
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "attempts": [a.to_dict() for a in self.attempts],
        }


# -- what an attempt's outcome means -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt saw: a status code, an acknowledgement (NATS), or an error
    (timeout, refused address, broken connection, garbage)."""

    status_code: int | None = None
    acknowledged: bool = False
    error: str | None = None
    retry_after: float | None = None  # seconds, from the receiver's Retry-After
    duration_ms: float = 0.0


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # try again later (until the tries run out)
    GIVE_UP = "give_up"  # refused for good: a dead letter now
    GONE = "gone"  # 410: the receiver asks never to be called again


_RETRIED_CODES = frozenset({408, 425, 429})


def verdict(outcome: Outcome) -> Verdict:
    """2xx is success; 408, 425, 429, 5xx and errors are retried; 410 disables the
    subscription; any other answer (other 4xx, and 3xx: redirects are not followed) is
    refused for good."""
    if outcome.acknowledged:
        return Verdict.DELIVERED
    code = outcome.status_code
    if code is None:
        return Verdict.RETRY
    if 200 <= code < 300:
        return Verdict.DELIVERED
    if code == 410:
        return Verdict.GONE
    if code in _RETRIED_CODES or code >= 500:
        return Verdict.RETRY
    return Verdict.GIVE_UP


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; a receiver's Retry-After is honoured
    (up to ``max_retry_after``)."""

    max_tries: int = 10
    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    max_retry_after: float = 3600.0

    def delay(self, tries: int, retry_after: float | None, jitter: float) -> timedelta:
        """The wait before try ``tries + 1``; ``jitter`` is uniform in [0, 1)."""
        backoff = min(self.cap_seconds, self.base_seconds * 2 ** max(0, tries - 1))
        seconds = backoff * (0.5 + jitter / 2)  # "equal jitter": never less than half
        if retry_after is not None:
            seconds = max(seconds, min(retry_after, self.max_retry_after))
        return timedelta(seconds=seconds)


# -- the wire form -------------------------------------------------------------------------
def cloud_event_type(event_type: str) -> str:
    """``model.performance_snapshot`` -> ``grace.model.performance_snapshot.v1``."""
    return f"grace.{event_type}.v1"


def cloud_event(event: Event, source_prefix: str = "/grace") -> dict[str, Any]:
    """The event as a CloudEvents 1.0 event in structured JSON mode; ``data`` is the guide's
    payload (``resource_id`` and the details) with its ``event_type`` and ``seq``."""
    return {
        "specversion": "1.0",
        "id": event.event_id,
        "source": f"{source_prefix}/{event.source}",
        "type": cloud_event_type(event.event_type),
        "time": isoformat(event.timestamp),
        "subject": event.resource_id,
        "datacontenttype": "application/json",
        "data": {**event.payload, "event_type": event.event_type, "seq": event.seq},
    }


def encode(document: object) -> bytes:
    """Compact JSON, as every sender puts it on the wire."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("secret", "must be a string")
    raw = value.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except ValueError:
        raise InvalidInput(
            "secret", "must be whsec_ followed by base64 (or leave it out to get one)"
        ) from None
    if not 24 <= len(key) <= 64:
        raise InvalidInput("secret", "must hold 24 to 64 bytes of key (base64 after whsec_)")
    return SECRET_PREFIX + raw


def sign(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: ``v1,<base64 HMAC-SHA256>`` per secret."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in secrets_:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        digest = hmac.new(key, content, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode())
    return " ".join(signatures)


# -- what a subscription may say ---------------------------------------------------------
def check_kind(value: object) -> SubscriptionKind:
    try:
        return SubscriptionKind(str(value))
    except ValueError:
        known = ", ".join(k.value for k in SubscriptionKind)
        raise InvalidInput(
            "kind", f"{value!r} is not a subscription kind; expected {known}"
        ) from None


def check_url(kind: SubscriptionKind, value: object) -> SplitResult:
    if not isinstance(value, str) or not value:
        raise InvalidInput("url", "must be a non-empty string")
    if len(value) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 for c in value):
        raise InvalidInput("url", f"must be at most {MAX_URL_LENGTH} characters, no spaces")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput("url", f"is not a valid URL ({exc})") from None
    allowed = _SCHEMES[kind]
    if parts.scheme not in allowed:
        raise InvalidInput(
            "url", f"a {kind.value} subscription needs a {' or '.join(sorted(allowed))} URL"
        )
    if not parts.hostname:
        raise InvalidInput("url", "names no host")
    if port == 0:
        raise InvalidInput("url", "port 0 is not a port")
    if parts.fragment:
        raise InvalidInput("url", "must not have a #fragment")
    return parts


def check_filter_list(field_name: str, values: object) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InvalidInput(field_name, "must be a list of strings (or null for all)")
    items = list(values)
    if not items:
        raise InvalidInput(field_name, "must not be empty (leave it out for all)")
    if len(items) > MAX_FILTER_ITEMS:
        raise InvalidInput(field_name, f"at most {MAX_FILTER_ITEMS} items")
    checked = tuple(dict.fromkeys(check_identifier(field_name, v, MAX_ID_LENGTH) for v in items))
    if field_name == "event_types":
        unknown = sorted(set(checked) - DELIVERABLE_TYPES)
        if unknown:
            raise InvalidInput(
                field_name,
                f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(DELIVERABLE_TYPES))}",
            )
    return checked


def mask_url(url: str, *, whole_path: bool = False) -> str:
    """The URL with any user name and password replaced by ``***``; with ``whole_path`` (a
    Slack webhook, whose path is its key) the path and query too."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    path, query = parts.path, parts.query
    if whole_path:
        path, query = ("/***" if path not in ("", "/") else path), ("***" if query else "")
    if parts.username is None and parts.password is None:
        return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


# -- where a webhook may go --------------------------------------------------------------
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_METADATA = (
    ipaddress.ip_network("169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS over IPv6
)


def parse_allowed_hosts(value: str) -> tuple[frozenset[str], tuple[Network, ...]]:
    """``GRACE_WEBHOOK_ALLOWED_HOSTS``: comma-separated host names and CIDRs (or addresses)."""
    hosts: set[str] = set()
    networks: list[Network] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            hosts.add(item.lower().rstrip("."))
    return frozenset(hosts), tuple(networks)


def is_refused_address(address: str, allowed: Sequence[Network] = ()) -> bool:
    """Whether a webhook may not connect to ``address``: loopback, private, link-local,
    multicast, reserved, unspecified or a cloud metadata address, unless allowed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return False
    if any(ip in network for network in _METADATA):
        return True
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )
