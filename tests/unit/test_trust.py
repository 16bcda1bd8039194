"""Trust scores after rollbacks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grace.domain.severity import Severity
from grace.domain.trust import INITIAL_TRUST, trust_after_rollback

ORDERED = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
scores = st.floats(min_value=0.0, max_value=1.0)


@settings(max_examples=150, deadline=None)
@given(scores, st.sampled_from([*ORDERED, None]))
def test_trust_never_goes_below_zero_nor_rises(score: float, severity: Severity | None) -> None:
    """A rollback never leaves a negative score and always lowers a positive one."""
    after = trust_after_rollback(score, severity)
    assert after >= 0.0
    assert after < score if score > 0 else after == 0.0


@settings(max_examples=150, deadline=None)
@given(scores, st.sampled_from(ORDERED), st.sampled_from(ORDERED))
def test_a_more_severe_rollback_never_costs_less_trust(
    score: float, one: Severity, other: Severity
) -> None:
    """Of two rollbacks of the same version, the more severe leaves a score no higher."""
    milder, harsher = sorted((one, other), key=lambda s: s.rank)
    assert trust_after_rollback(score, harsher) <= trust_after_rollback(score, milder)


def test_higher_severity_lowers_a_full_score_strictly_more() -> None:
    """From full trust, LOW < MEDIUM < HIGH < CRITICAL rollbacks cost strictly more each."""
    after = [trust_after_rollback(INITIAL_TRUST, s) for s in ORDERED]
    assert after == sorted(after, reverse=True)
    assert len(set(after)) == len(after)
    assert all(a < INITIAL_TRUST for a in after)


def test_unknown_severity_costs_as_much_as_medium() -> None:
    """A rollback of unknown severity is charged as MEDIUM."""
    assert trust_after_rollback(0.8, None) == trust_after_rollback(0.8, Severity.MEDIUM)


@pytest.mark.parametrize("severity", ORDERED)
def test_repeated_rollbacks_bottom_out_at_zero(severity: Severity) -> None:
    """Rolling the same version back again and again ends at exactly 0, never below."""
    score = INITIAL_TRUST
    for _ in range(30):
        score = trust_after_rollback(score, severity)
    assert score == 0.0


def test_trust_starts_full() -> None:
    """A new version starts fully trusted."""
    assert INITIAL_TRUST == 1.0
