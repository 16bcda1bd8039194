"""Performance snapshots and the window statistics computed over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from grace.domain.events import REGISTRY_SOURCE, Event, EventType
from grace.domain.timeutil import ensure_utc, isoformat
from grace.domain.validation import check_identifier, check_number, check_rate
from grace.errors import InvalidInput

__all__ = [
    "MAX_WINDOW_MINUTES",
    "ModelPerformanceSnapshot",
    "WindowStats",
    "check_window_minutes",
]

MAX_WINDOW_MINUTES = 7 * 24 * 60
MAX_LATENCY_MS = 86_400_000.0  # a day; anything above is a unit mistake
MAX_RPS = 1e9


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelPerformanceSnapshot:
    """One observation of a model version's serving performance (the guide's fields).

    Constructing one validates it: a rate outside [0, 1], a negative or
    non-finite latency or rate of requests, or a value of the wrong type raises
    :class:`~grace.errors.InvalidInput` naming the field.  A naive ``timestamp``
    is local time and is kept as UTC.
    """

    model_id: str
    version: str
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    requests_per_second: float
    error_rate: float
    ood_rate: float
    input_drift_score: float | None = None
    accuracy: float | None = None
    timestamp: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            if value is not getattr(self, name):  # checked values are mostly the given ones
                object.__setattr__(self, name, value)

        put("model_id", check_identifier("model_id", self.model_id))
        put("version", check_identifier("version", self.version))
        for name in ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms"):
            put(name, check_number(name, getattr(self, name), minimum=0.0, maximum=MAX_LATENCY_MS))
        if self.latency_p50_ms > self.latency_p95_ms:
            raise InvalidInput("latency_p50_ms", "must not exceed latency_p95_ms")
        if self.latency_p95_ms > self.latency_p99_ms:
            raise InvalidInput("latency_p95_ms", "must not exceed latency_p99_ms")
        put(
            "requests_per_second",
            check_number(
                "requests_per_second", self.requests_per_second, minimum=0.0, maximum=MAX_RPS
            ),
        )
        put("error_rate", check_rate("error_rate", self.error_rate))
        put("ood_rate", check_rate("ood_rate", self.ood_rate))
        if self.input_drift_score is not None:
            # KL divergence and friends are non-negative but not bounded by 1.
            put(
                "input_drift_score",
                check_number("input_drift_score", self.input_drift_score, minimum=0.0, maximum=1e6),
            )
        if self.accuracy is not None:
            put("accuracy", check_rate("accuracy", self.accuracy))
        if not isinstance(self.timestamp, datetime):
            raise InvalidInput(
                "timestamp", f"must be a datetime, got {type(self.timestamp).__name__}"
            )
        try:
            put("timestamp", ensure_utc(self.timestamp))
        except OverflowError:
            raise InvalidInput("timestamp", "is out of the representable range") from None

    def check_not_in_future(self, now: datetime, tolerance: timedelta) -> None:
        """Refuse a timestamp further ahead of ``now`` than clocks plausibly drift."""
        if self.timestamp > now + tolerance:
            raise InvalidInput(
                "timestamp",
                f"{isoformat(self.timestamp)} is in the future (now {isoformat(now)})",
            )

    def event_data(self) -> dict[str, Any]:
        """The ``data`` of the guide's ``model.performance_snapshot`` monitoring event."""
        return {
            "version": self.version,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "error_rate": self.error_rate,
            "ood_rate": self.ood_rate,
            "requests_per_second": self.requests_per_second,
            "drift_score": self.input_drift_score,
            "accuracy": self.accuracy,
            "observed_at": isoformat(self.timestamp),
        }

    def monitoring_event(
        self, recorded_at: datetime, event_id: str, seq: int | None = None
    ) -> Event:
        """The guide's ``model.performance_snapshot`` event of this snapshot, recorded at
        ``recorded_at``: everything in it is the snapshot's, so a store may keep the snapshot
        row alone and rebuild the event from it."""
        return Event(
            EventType.PERFORMANCE_SNAPSHOT,
            REGISTRY_SOURCE,
            {"resource_id": self.model_id, **self.event_data()},
            recorded_at,
            event_id,
            self.model_id,
            seq,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "version": self.version,
            "timestamp": isoformat(self.timestamp),
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p95_ms": self.latency_p95_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "requests_per_second": self.requests_per_second,
            "error_rate": self.error_rate,
            "ood_rate": self.ood_rate,
            "input_drift_score": self.input_drift_score,
            "accuracy": self.accuracy,
        }


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Aggregates of one version's snapshots inside a time window (computed by the database)."""

    snapshot_count: int = 0
    avg_error_rate: float | None = None
    avg_latency_p95_ms: float | None = None
    avg_ood_rate: float | None = None
    avg_drift_score: float | None = None
    avg_accuracy: float | None = None

    def to_metrics(self) -> dict[str, Any]:
        """The guide's ``metrics`` object of the health summary."""
        return {
            "avg_error_rate": self.avg_error_rate,
            "avg_latency_p95_ms": self.avg_latency_p95_ms,
            "avg_ood_rate": self.avg_ood_rate,
            "avg_drift_score": self.avg_drift_score,
            "avg_accuracy": self.avg_accuracy,
            "snapshot_count": self.snapshot_count,
        }


def check_window_minutes(value: object) -> int:
    """A whole number of minutes from 1 to a week."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("window_minutes", f"must be a whole number, got {value!r}")
    if not 1 <= value <= MAX_WINDOW_MINUTES:
        raise InvalidInput("window_minutes", f"must be between 1 and {MAX_WINDOW_MINUTES}")
    return value
