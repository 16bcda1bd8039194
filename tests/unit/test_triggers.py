"""Rollback triggers: the guide's table, its reason strings, strict thresholds and overrides."""

from __future__ import annotations

from typing import Any

import pytest

from grace.domain.severity import Severity
from grace.domain.snapshots import WindowStats
from grace.domain.triggers import (
    ConditionKind,
    TriggerCondition,
    TriggerThresholds,
    evaluate_triggers,
    overall_severity,
)
from grace.errors import InvalidInput

DEFAULTS = TriggerThresholds()
GUIDE_EXPECTED_P95 = 245.3


def stats(**values: Any) -> WindowStats:
    """A window of one snapshot with the given averages (everything else absent)."""
    return WindowStats(**{"snapshot_count": 1, **values})


def mean(values: list[float]) -> float:
    """The plain float average, with the float noise an SQL AVG also produces."""
    return sum(values) / len(values)


# -- the guide's table and wording ------------------------------------------------------------


def test_guide_monitor_example_gives_the_guides_reasons() -> None:
    """The guide's degraded window yields exactly its error, OOD and drift reasons, in order."""
    evaluation = evaluate_triggers(
        stats(
            avg_error_rate=0.085,
            avg_latency_p95_ms=245.3,
            avg_ood_rate=0.22,
            avg_drift_score=0.35,
        ),
        DEFAULTS,
        GUIDE_EXPECTED_P95,
    )
    assert evaluation.should_rollback is True
    assert evaluation.reasons == [
        "High error rate: 8.50%",
        "High OOD rate: 22.00%",
        "Input distribution drift: 0.350",
    ]


def test_latency_reason_names_observed_expected_and_factor() -> None:
    """A slow window is explained as the guide words it: observed, expected and the ratio."""
    evaluation = evaluate_triggers(stats(avg_latency_p95_ms=368.0), DEFAULTS, GUIDE_EXPECTED_P95)
    assert evaluation.reasons == ["Latency degradation: 368.0ms p95 vs 245.3ms expected (1.50x)"]
    (condition,) = evaluation.conditions
    assert condition.kind is ConditionKind.LATENCY
    assert condition.severity is Severity.MEDIUM
    assert condition.value == 368.0
    assert condition.threshold == pytest.approx(1.5 * GUIDE_EXPECTED_P95)


def test_reasons_come_in_the_order_error_latency_ood_drift() -> None:
    """When every condition fires, reasons are listed error, latency, OOD, drift."""
    evaluation = evaluate_triggers(
        stats(avg_error_rate=0.2, avg_latency_p95_ms=1000.0, avg_ood_rate=0.5, avg_drift_score=2.0),
        DEFAULTS,
        100.0,
    )
    assert [c.kind for c in evaluation.conditions] == [
        ConditionKind.ERROR_RATE,
        ConditionKind.LATENCY,
        ConditionKind.OOD_RATE,
        ConditionKind.INPUT_DRIFT,
    ]
    assert [r.split(":")[0] for r in evaluation.reasons] == [
        "High error rate",
        "Latency degradation",
        "High OOD rate",
        "Input distribution drift",
    ]


@pytest.mark.parametrize(
    ("error_rate", "severity", "threshold"),
    [
        (0.051, Severity.MEDIUM, 0.05),
        (0.085, Severity.MEDIUM, 0.05),
        (0.10, Severity.MEDIUM, 0.05),
        (0.1001, Severity.HIGH, 0.10),
        (0.5, Severity.HIGH, 0.10),
    ],
)
def test_error_rate_is_medium_above_5_percent_and_high_above_10(
    error_rate: float, severity: Severity, threshold: float
) -> None:
    """An error rate over 5% is MEDIUM and over 10% is HIGH, reporting the threshold it crossed."""
    evaluation = evaluate_triggers(stats(avg_error_rate=error_rate), DEFAULTS, None)
    (condition,) = evaluation.conditions
    assert condition.kind is ConditionKind.ERROR_RATE
    assert condition.severity is severity
    assert condition.threshold == threshold
    assert evaluation.severity is severity


def test_ood_and_drift_fire_at_medium() -> None:
    """An OOD rate over 20% and drift over 0.3 each fire alone at MEDIUM."""
    for window in (stats(avg_ood_rate=0.2001), stats(avg_drift_score=0.3001)):
        evaluation = evaluate_triggers(window, DEFAULTS, None)
        assert [c.severity for c in evaluation.conditions] == [Severity.MEDIUM]
        assert evaluation.severity is Severity.MEDIUM


def test_a_healthy_window_fires_nothing() -> None:
    """A window under every threshold does not ask for a rollback and has no severity."""
    evaluation = evaluate_triggers(
        stats(
            avg_error_rate=0.01, avg_latency_p95_ms=200.0, avg_ood_rate=0.05, avg_drift_score=0.1
        ),
        DEFAULTS,
        GUIDE_EXPECTED_P95,
    )
    assert evaluation.should_rollback is False
    assert evaluation.reasons == []
    assert evaluation.severity is None


def test_missing_averages_fire_nothing() -> None:
    """A window with snapshots but no averages (all None) fires nothing."""
    evaluation = evaluate_triggers(WindowStats(snapshot_count=5), DEFAULTS, 100.0)
    assert evaluation.should_rollback is False


# -- strict thresholds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "window",
    [
        stats(avg_error_rate=0.05),
        stats(avg_ood_rate=0.20),
        stats(avg_drift_score=0.30),
    ],
    ids=["error_rate", "ood_rate", "drift"],
)
def test_a_value_exactly_at_a_threshold_does_not_fire(window: WindowStats) -> None:
    """Thresholds are strict: a reading exactly at the threshold is not a breach."""
    assert evaluate_triggers(window, DEFAULTS, None).should_rollback is False


def test_error_rate_exactly_at_critical_stays_medium() -> None:
    """An error rate of exactly 10% is above the warning but not above critical, so MEDIUM."""
    evaluation = evaluate_triggers(stats(avg_error_rate=0.10), DEFAULTS, None)
    assert evaluation.severity is Severity.MEDIUM


@pytest.mark.parametrize(
    ("readings", "field"),
    [
        ([0.05, 0.05, 0.05], "avg_error_rate"),
        ([0.2, 0.2, 0.2], "avg_ood_rate"),
        ([0.2, 0.4], "avg_drift_score"),
        ([0.3] * 31, "avg_drift_score"),
    ],
)
def test_an_average_at_a_threshold_with_float_noise_does_not_fire(
    readings: list[float], field: str
) -> None:
    """Readings exactly at a threshold do not fire even when their float average lands above it."""
    average = mean(readings)
    threshold = {"avg_error_rate": 0.05, "avg_ood_rate": 0.2, "avg_drift_score": 0.3}[field]
    assert average > threshold  # the noise this test is about
    evaluation = evaluate_triggers(
        WindowStats(snapshot_count=len(readings), **{field: average}), DEFAULTS, None
    )
    assert evaluation.should_rollback is False


def test_error_average_at_critical_with_float_noise_stays_medium() -> None:
    """Three readings of exactly 10% average a hair above 0.1 yet stay MEDIUM, not HIGH."""
    average = mean([0.1, 0.1, 0.1])
    assert average > 0.1
    evaluation = evaluate_triggers(WindowStats(3, avg_error_rate=average), DEFAULTS, None)
    assert evaluation.severity is Severity.MEDIUM


@pytest.mark.parametrize(
    ("expected_p95", "at_limit"),
    [
        (200.0, 300.0),
        (245.3, 367.95),
        (123.4, 185.1),
        (33.3, 49.95),  # 1.5 * 33.3 == 49.949999999999996 in binary
        (10.1, 15.15),  # 1.5 * 10.1 == 15.149999999999999
    ],
)
def test_latency_exactly_at_the_factor_does_not_fire(expected_p95: float, at_limit: float) -> None:
    """A p95 of exactly 1.5x the expected p95 is not a latency breach."""
    evaluation = evaluate_triggers(stats(avg_latency_p95_ms=at_limit), DEFAULTS, expected_p95)
    assert evaluation.reasons == []


def test_latency_just_above_the_factor_fires() -> None:
    """A p95 a tenth of a millisecond above 1.5x the expected p95 fires."""
    evaluation = evaluate_triggers(stats(avg_latency_p95_ms=300.1), DEFAULTS, 200.0)
    assert [c.kind for c in evaluation.conditions] == [ConditionKind.LATENCY]


# -- severity -------------------------------------------------------------------------------


def test_two_medium_conditions_raise_severity_to_high() -> None:
    """Two MEDIUM conditions together are HIGH overall."""
    evaluation = evaluate_triggers(stats(avg_ood_rate=0.3, avg_drift_score=0.5), DEFAULTS, None)
    assert [c.severity for c in evaluation.conditions] == [Severity.MEDIUM, Severity.MEDIUM]
    assert evaluation.severity is Severity.HIGH


def test_a_single_medium_condition_stays_medium() -> None:
    """One MEDIUM condition alone is MEDIUM overall."""
    evaluation = evaluate_triggers(stats(avg_error_rate=0.06), DEFAULTS, None)
    assert evaluation.severity is Severity.MEDIUM


def _condition(severity: Severity) -> TriggerCondition:
    return TriggerCondition(ConditionKind.OOD_RATE, severity, "r", 1.0, 0.5)


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ((), None),
        ((Severity.LOW,), Severity.LOW),
        ((Severity.MEDIUM,), Severity.MEDIUM),
        ((Severity.HIGH,), Severity.HIGH),
        ((Severity.LOW, Severity.LOW), Severity.HIGH),
        ((Severity.MEDIUM, Severity.LOW), Severity.HIGH),
        ((Severity.HIGH, Severity.MEDIUM), Severity.HIGH),
        ((Severity.CRITICAL,), Severity.CRITICAL),
        ((Severity.MEDIUM, Severity.CRITICAL), Severity.CRITICAL),
    ],
)
def test_overall_severity_is_highest_raised_to_high_for_two_or_more(
    severities: tuple[Severity, ...], expected: Severity | None
) -> None:
    """Overall severity is the highest single one, raised to HIGH for two or more, never lowered."""
    assert overall_severity(tuple(_condition(s) for s in severities)) is expected


# -- min_snapshots and the latency SLO --------------------------------------------------------


def test_fewer_snapshots_than_min_snapshots_fire_nothing() -> None:
    """A degraded window with fewer snapshots than min_snapshots does not ask for a rollback."""
    thresholds = TriggerThresholds(min_snapshots=3)
    degraded = {"avg_error_rate": 0.5, "avg_ood_rate": 0.9, "avg_drift_score": 5.0}
    thin = evaluate_triggers(WindowStats(2, **degraded), thresholds, None)
    assert thin.should_rollback is False
    assert thin.has_enough_data is False
    enough = evaluate_triggers(WindowStats(3, **degraded), thresholds, None)
    assert enough.should_rollback is True
    assert enough.has_enough_data is True


def test_an_empty_window_has_not_enough_data() -> None:
    """A window with no snapshots never fires, whatever the defaults."""
    evaluation = evaluate_triggers(WindowStats(), DEFAULTS, 100.0)
    assert evaluation.has_enough_data is False
    assert evaluation.should_rollback is False


def test_latency_is_not_judged_without_an_expected_p95() -> None:
    """Without an expected p95 (no SLO) even a very slow window fires no latency condition."""
    evaluation = evaluate_triggers(stats(avg_latency_p95_ms=1_000_000.0), DEFAULTS, None)
    assert evaluation.should_rollback is False


# -- per-model thresholds ---------------------------------------------------------------------


def test_defaults_are_the_guides() -> None:
    """The default thresholds are the guide's: 5%/10% errors, 1.5x latency, 20% OOD, 0.3 drift."""
    assert DEFAULTS.to_dict() == {
        "error_rate_warning": 0.05,
        "error_rate_critical": 0.10,
        "latency_factor": 1.5,
        "ood_rate": 0.20,
        "input_drift": 0.30,
        "min_snapshots": 1,
    }


def test_overrides_change_what_fires() -> None:
    """A model with a 2% warning threshold fires on a 3% error rate that the defaults allow."""
    window = stats(avg_error_rate=0.03)
    assert evaluate_triggers(window, DEFAULTS, None).should_rollback is False
    strict = DEFAULTS.with_overrides({"error_rate_warning": 0.02})
    evaluation = evaluate_triggers(window, strict, None)
    assert evaluation.reasons == ["High error rate: 3.00%"]
    assert evaluation.conditions[0].threshold == 0.02


def test_latency_factor_override_moves_the_latency_limit() -> None:
    """With latency_factor 2.0, 368ms against 245.3ms no longer fires but 500ms does."""
    relaxed = DEFAULTS.with_overrides({"latency_factor": 2.0})
    assert not evaluate_triggers(stats(avg_latency_p95_ms=368.0), relaxed, 245.3).should_rollback
    assert evaluate_triggers(stats(avg_latency_p95_ms=500.0), relaxed, 245.3).reasons == [
        "Latency degradation: 500.0ms p95 vs 245.3ms expected (2.04x)"
    ]


def test_overrides_leave_the_original_and_skip_none_values() -> None:
    """with_overrides returns a copy, ignores None values and keeps unnamed thresholds."""
    changed = DEFAULTS.with_overrides({"ood_rate": 0.5, "input_drift": None})
    assert changed.ood_rate == 0.5
    assert changed.input_drift == 0.30
    assert changed.error_rate_warning == 0.05
    assert DEFAULTS.ood_rate == 0.20


def test_unknown_threshold_name_is_refused_by_name() -> None:
    """An override for a threshold that does not exist is refused, naming it."""
    with pytest.raises(InvalidInput) as caught:
        DEFAULTS.with_overrides({"error_rate": 0.2})
    assert caught.value.field == "error_rate"
    assert "error_rate_warning" in caught.value.problem  # lists the known names


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"error_rate_warning": 0.2}, "error_rate_warning"),
        ({"error_rate_critical": 0.04}, "error_rate_warning"),
        ({"error_rate_warning": 1.5, "error_rate_critical": 2.0}, "error_rate_warning"),
        ({"error_rate_critical": -0.1}, "error_rate_critical"),
        ({"error_rate_critical": "0.2"}, "error_rate_critical"),
        ({"latency_factor": 0.5}, "latency_factor"),
        ({"latency_factor": float("nan")}, "latency_factor"),
        ({"ood_rate": 1.01}, "ood_rate"),
        ({"ood_rate": True}, "ood_rate"),
        ({"input_drift": -0.01}, "input_drift"),
        ({"input_drift": float("inf")}, "input_drift"),
        ({"min_snapshots": 0}, "min_snapshots"),
        ({"min_snapshots": 2.0}, "min_snapshots"),
        ({"min_snapshots": True}, "min_snapshots"),
        ({"min_snapshots": 100_001}, "min_snapshots"),
    ],
)
def test_invalid_override_is_refused_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    """An out-of-range, wrongly typed or contradictory override is refused, naming a field."""
    with pytest.raises(InvalidInput) as caught:
        DEFAULTS.with_overrides(overrides)
    assert caught.value.field == field


def test_warning_above_critical_names_both_thresholds() -> None:
    """A warning threshold above the critical one is refused with a message naming both."""
    with pytest.raises(InvalidInput) as caught:
        TriggerThresholds(error_rate_warning=0.3, error_rate_critical=0.2)
    assert caught.value.field == "error_rate_warning"
    assert "error_rate_critical" in caught.value.problem


def test_warning_equal_to_critical_is_allowed_and_fires_high() -> None:
    """Equal warning and critical thresholds are accepted; a rate above both is HIGH."""
    thresholds = TriggerThresholds(error_rate_warning=0.1, error_rate_critical=0.1)
    evaluation = evaluate_triggers(stats(avg_error_rate=0.11), thresholds, None)
    assert evaluation.severity is Severity.HIGH


def test_condition_to_dict_carries_kind_severity_reason_value_threshold() -> None:
    """A fired condition serialises with its kind and severity as the guide's lower-case words."""
    (condition,) = evaluate_triggers(stats(avg_drift_score=0.35), DEFAULTS, None).conditions
    assert condition.to_dict() == {
        "kind": "input_drift",
        "severity": "medium",
        "reason": "Input distribution drift: 0.350",
        "value": 0.35,
        "threshold": 0.30,
    }
