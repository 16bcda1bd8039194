"""Severity of a fired condition or an incident, ordered LOW < MEDIUM < HIGH < CRITICAL."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from grace.errors import InvalidInput

__all__ = ["Severity", "highest", "parse_severity"]


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


def highest(severities: Iterable[Severity]) -> Severity | None:
    """The most severe of ``severities``, or None when there are none."""
    return max(severities, key=lambda s: s.rank, default=None)


def parse_severity(value: object, field: str = "severity") -> Severity:
    if isinstance(value, Severity):
        return value
    if isinstance(value, str):
        try:
            return Severity(value.strip().lower())
        except ValueError:
            pass
    known = ", ".join(s.value for s in Severity)
    raise InvalidInput(field, f"{value!r} is not a severity; expected one of {known}")
