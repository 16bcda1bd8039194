"""Severity ordering and parsing."""

from __future__ import annotations

import pytest

from grace.domain.severity import Severity, highest, parse_severity
from grace.errors import InvalidInput

ORDERED = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def test_severities_are_ordered_low_to_critical() -> None:
    """LOW < MEDIUM < HIGH < CRITICAL, and each is at least itself and everything below."""
    assert [s.rank for s in ORDERED] == sorted(s.rank for s in ORDERED)
    for i, lower in enumerate(ORDERED):
        for higher in ORDERED[i:]:
            assert higher.at_least(lower)
        for above in ORDERED[i + 1 :]:
            assert not lower.at_least(above)


def test_highest_picks_by_rank_not_by_name() -> None:
    """highest() orders by severity, not alphabetically (where 'medium' > 'high')."""
    assert highest([Severity.MEDIUM, Severity.HIGH]) is Severity.HIGH
    assert highest([Severity.LOW, Severity.CRITICAL, Severity.MEDIUM]) is Severity.CRITICAL
    assert highest([]) is None


@pytest.mark.parametrize(
    ("text", "severity"), [("HIGH", Severity.HIGH), (" medium ", Severity.MEDIUM)]
)
def test_parse_severity_accepts_any_case(text: str, severity: Severity) -> None:
    """Severity names are understood in any case."""
    assert parse_severity(text) is severity


@pytest.mark.parametrize("value", ["severe", 2, None], ids=repr)
def test_parse_severity_refuses_unknown_values(value: object) -> None:
    """An unknown severity is refused with InvalidInput naming the field."""
    with pytest.raises(InvalidInput) as caught:
        parse_severity(value, field="min_severity")
    assert caught.value.field == "min_severity"
