"""Time at the edges: every datetime inside Grace is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["ensure_utc", "isoformat"]


def ensure_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is local time, as ``datetime.now()`` returns."""
    # astimezone() on a naive value interprets it as the machine's local time.
    return value.astimezone(UTC)


def isoformat(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, as the guide's events show, or None."""
    if value is None:
        return None
    return ensure_utc(value).isoformat().replace("+00:00", "Z")
