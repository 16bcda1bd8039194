"""Governance gates a version must pass before production."""

from __future__ import annotations

import pytest

from grace.domain.governance import MAX_CALIBRATION_ERROR, GovernanceFacts, failed_gates


def facts(
    *,
    constitutional_compliance: bool = True,
    bias_check_passed: bool = True,
    expected_latency_p95_ms: float | None = 245.3,
    calibration_error: float | None = 0.04,
) -> GovernanceFacts:
    return GovernanceFacts(
        constitutional_compliance=constitutional_compliance,
        bias_check_passed=bias_check_passed,
        expected_latency_p95_ms=expected_latency_p95_ms,
        calibration_error=calibration_error,
    )


def test_a_compliant_version_fails_no_gate() -> None:
    """A version meeting every requirement has no failed gates."""
    assert failed_gates(facts()) == []


def test_every_failed_gate_is_listed() -> None:
    """A version failing all four gates hears about all four, not just the first."""
    failed = failed_gates(
        facts(
            constitutional_compliance=False,
            bias_check_passed=False,
            expected_latency_p95_ms=None,
            calibration_error=0.5,
        )
    )
    assert len(failed) == 4
    assert any("constitutional compliance" in gate for gate in failed)
    assert any("bias check" in gate for gate in failed)
    assert any("latency SLO" in gate for gate in failed)
    assert any("calibration error 0.5" in gate for gate in failed)


@pytest.mark.parametrize(
    ("broken", "words"),
    [
        (facts(constitutional_compliance=False), "constitutional compliance"),
        (facts(bias_check_passed=False), "bias check"),
        (facts(expected_latency_p95_ms=None), "no latency SLO defined"),
        (facts(calibration_error=0.25), "calibration error 0.25 exceeds 0.1"),
    ],
)
def test_each_gate_fails_alone(broken: GovernanceFacts, words: str) -> None:
    """Breaking a single requirement fails exactly that gate, worded for whoever must fix it."""
    (gate,) = failed_gates(broken)
    assert words in gate


def test_calibration_error_exactly_at_the_limit_passes() -> None:
    """A calibration error of exactly 0.1 is allowed (the limit is strict)."""
    assert MAX_CALIBRATION_ERROR == 0.1
    assert failed_gates(facts(calibration_error=0.1)) == []


def test_calibration_error_just_above_the_limit_fails() -> None:
    """A calibration error of 0.1001 fails the calibration gate."""
    assert failed_gates(facts(calibration_error=0.1001)) == ["calibration error 0.1001 exceeds 0.1"]


def test_unmeasured_calibration_passes() -> None:
    """A version with no calibration error measured is not refused for it."""
    assert failed_gates(facts(calibration_error=None)) == []


def test_no_latency_slo_fails() -> None:
    """A version without an expected p95 (no SLO) cannot be promoted."""
    assert failed_gates(facts(expected_latency_p95_ms=None)) == [
        "no latency SLO defined (expected_latency_p95_ms)"
    ]
