"""Property tests for trigger evaluation, overall severity and health classification.

Metrics and thresholds are drawn on decimal grids (rates in 1/10000, latency in
1/1000 ms) so the oracle can compare them exactly with integers, and values are
drawn close to their thresholds as often as far from them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from grace.domain.health import FleetBucket, HealthStatus, classify_health, fleet_bucket
from grace.domain.severity import Severity
from grace.domain.snapshots import WindowStats
from grace.domain.triggers import (
    ConditionKind,
    TriggerCondition,
    TriggerEvaluation,
    TriggerThresholds,
    evaluate_triggers,
    overall_severity,
)

RATE_UNIT = 10_000  # rates and drift are k / RATE_UNIT
FACTOR_UNIT = 100  # latency_factor is f / 100
EXPECTED_UNIT = 10  # expected p95 is e / 10 ms
# so the latency limit f/100 * e/10 ms is exactly (f * e) / 1000 ms, the p95 grid.
P95_UNIT = FACTOR_UNIT * EXPECTED_UNIT

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def near(threshold: int, lowest: int, highest: int) -> st.SearchStrategy[int | None]:
    """None, a value within a few grid steps of ``threshold``, or anything in range."""
    close = st.integers(-3, 3).map(lambda d: min(max(threshold + d, lowest), highest))
    return st.none() | close | st.integers(lowest, highest)


@dataclass(frozen=True)
class Scenario:
    """A window and thresholds on integer grids, so ``>`` on them is the exact truth."""

    snapshot_count: int
    min_snapshots: int
    warning: int
    critical: int
    ood_threshold: int
    drift_threshold: int
    factor: int
    error: int | None
    ood: int | None
    drift: int | None
    expected: int | None
    p95: int | None

    @property
    def thresholds(self) -> TriggerThresholds:
        return TriggerThresholds(
            error_rate_warning=self.warning / RATE_UNIT,
            error_rate_critical=self.critical / RATE_UNIT,
            latency_factor=self.factor / FACTOR_UNIT,
            ood_rate=self.ood_threshold / RATE_UNIT,
            input_drift=self.drift_threshold / RATE_UNIT,
            min_snapshots=self.min_snapshots,
        )

    @property
    def stats(self) -> WindowStats:
        def rate(value: int | None) -> float | None:
            return None if value is None else value / RATE_UNIT

        return WindowStats(
            snapshot_count=self.snapshot_count,
            avg_error_rate=rate(self.error),
            avg_latency_p95_ms=None if self.p95 is None else self.p95 / P95_UNIT,
            avg_ood_rate=rate(self.ood),
            avg_drift_score=rate(self.drift),
        )

    @property
    def expected_p95_ms(self) -> float | None:
        return None if self.expected is None else self.expected / EXPECTED_UNIT

    @property
    def latency_limit(self) -> int | None:
        return None if self.expected is None else self.expected * self.factor

    def evaluate(self) -> TriggerEvaluation:
        return evaluate_triggers(self.stats, self.thresholds, self.expected_p95_ms)

    def breaches(self) -> set[ConditionKind]:
        """The conditions strictly above their thresholds, by exact integer comparison."""
        out: set[ConditionKind] = set()
        if self.error is not None and self.error > self.warning:
            out.add(ConditionKind.ERROR_RATE)
        limit = self.latency_limit
        if limit is not None and self.p95 is not None and self.p95 > limit:
            out.add(ConditionKind.LATENCY)
        if self.ood is not None and self.ood > self.ood_threshold:
            out.add(ConditionKind.OOD_RATE)
        if self.drift is not None and self.drift > self.drift_threshold:
            out.add(ConditionKind.INPUT_DRIFT)
        return out


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    warning = draw(st.integers(0, RATE_UNIT))
    critical = draw(st.integers(warning, RATE_UNIT))
    ood_threshold = draw(st.integers(0, RATE_UNIT))
    drift_threshold = draw(st.integers(0, 5 * RATE_UNIT))
    factor = draw(st.integers(FACTOR_UNIT, 10 * FACTOR_UNIT))
    expected = draw(st.none() | st.integers(1, 100_000))
    error = draw(near(draw(st.sampled_from([warning, critical])), 0, RATE_UNIT))
    p95 = (
        draw(st.none() | st.integers(0, 10**8))
        if expected is None
        else draw(near(expected * factor, 0, 20 * expected * factor))
    )
    return Scenario(
        snapshot_count=draw(st.integers(0, 6)),
        min_snapshots=draw(st.integers(1, 5)),
        warning=warning,
        critical=critical,
        ood_threshold=ood_threshold,
        drift_threshold=drift_threshold,
        factor=factor,
        error=error,
        ood=draw(near(ood_threshold, 0, RATE_UNIT)),
        drift=draw(near(drift_threshold, 0, 10 * RATE_UNIT)),
        expected=expected,
        p95=p95,
    )


def rank(severity: Severity | None) -> int:
    return -1 if severity is None else severity.rank


@PROPERTY_SETTINGS
@given(scenarios())
def test_rollback_is_asked_for_iff_some_metric_is_strictly_above_its_threshold(
    scenario: Scenario,
) -> None:
    """should_rollback is True exactly when the window has enough data and a metric breaches."""
    evaluation = scenario.evaluate()
    enough = scenario.snapshot_count >= scenario.min_snapshots
    breaches = scenario.breaches() if enough else set()
    assert evaluation.should_rollback is bool(breaches)
    assert {c.kind for c in evaluation.conditions} == breaches
    assert len(evaluation.reasons) == len(evaluation.conditions)


@PROPERTY_SETTINGS
@given(scenarios())
def test_error_rate_severity_follows_the_critical_threshold(scenario: Scenario) -> None:
    """A fired error-rate condition is HIGH exactly when the rate is above critical."""
    errors = [c for c in scenario.evaluate().conditions if c.kind is ConditionKind.ERROR_RATE]
    for condition in errors:
        assert scenario.error is not None
        above_critical = scenario.error > scenario.critical
        assert condition.severity is (Severity.HIGH if above_critical else Severity.MEDIUM)


@PROPERTY_SETTINGS
@given(scenarios())
def test_overall_severity_is_never_below_any_fired_condition(scenario: Scenario) -> None:
    """The overall severity is at least each fired condition's, and HIGH when two or more fire."""
    evaluation = scenario.evaluate()
    for condition in evaluation.conditions:
        assert rank(evaluation.severity) >= condition.severity.rank
    if len(evaluation.conditions) >= 2:
        assert rank(evaluation.severity) >= Severity.HIGH.rank
    if not evaluation.conditions:
        assert evaluation.severity is None


@PROPERTY_SETTINGS
@given(scenarios(), st.sampled_from(list(ConditionKind)))
def test_making_one_more_metric_breach_never_lowers_severity(
    scenario: Scenario, kind: ConditionKind
) -> None:
    """Pushing one metric over its threshold never lowers the overall severity."""
    before = scenario.evaluate()

    def over(current: int | None, threshold: int) -> int:
        # Never lower a metric that already breaches; only make a calm one breach.
        return max(current or 0, threshold + 1)

    if kind is ConditionKind.ERROR_RATE:
        assume(scenario.warning < RATE_UNIT)
        worse = replace(scenario, error=over(scenario.error, scenario.warning))
    elif kind is ConditionKind.LATENCY:
        expected = scenario.expected or 1000
        p95 = over(scenario.p95 if scenario.expected else None, expected * scenario.factor)
        worse = replace(scenario, expected=expected, p95=p95)
    elif kind is ConditionKind.OOD_RATE:
        assume(scenario.ood_threshold < RATE_UNIT)
        worse = replace(scenario, ood=over(scenario.ood, scenario.ood_threshold))
    else:
        worse = replace(scenario, drift=over(scenario.drift, scenario.drift_threshold))
    after = worse.evaluate()
    assert rank(after.severity) >= rank(before.severity)
    assert after.should_rollback is after.has_enough_data


severities = st.sampled_from(list(Severity))
conditions = st.lists(
    st.builds(
        TriggerCondition,
        kind=st.sampled_from(list(ConditionKind)),
        severity=severities,
        reason=st.just("reason"),
        value=st.just(1.0),
        threshold=st.just(0.5),
    ),
    max_size=5,
).map(tuple)


@PROPERTY_SETTINGS
@given(conditions, severities)
def test_adding_a_condition_never_lowers_overall_severity(
    fired: tuple[TriggerCondition, ...], extra: Severity
) -> None:
    """overall_severity of a set plus one more condition is at least that of the set alone."""
    added = (*fired, TriggerCondition(ConditionKind.LATENCY, extra, "more", 2.0, 1.0))
    assert rank(overall_severity(added)) >= rank(overall_severity(fired))
    assert rank(overall_severity(added)) >= extra.rank


@PROPERTY_SETTINGS
@given(conditions)
def test_overall_severity_never_exceeds_the_highest_unless_raising_to_high(
    fired: tuple[TriggerCondition, ...],
) -> None:
    """Overall severity is the highest single one, or HIGH when two or more fire below HIGH."""
    highest = max((c.severity.rank for c in fired), default=-1)
    expected = max(highest, Severity.HIGH.rank) if len(fired) >= 2 else highest
    assert rank(overall_severity(fired)) == expected


@PROPERTY_SETTINGS
@given(scenarios())
def test_health_status_agrees_with_the_evaluation(scenario: Scenario) -> None:
    """Health is unknown without data, healthy without breach, critical at HIGH, else degraded."""
    evaluation = scenario.evaluate()
    status = classify_health(evaluation)
    if not evaluation.has_enough_data:
        assert status is HealthStatus.UNKNOWN
    elif evaluation.severity is None:
        assert status is HealthStatus.HEALTHY
    elif evaluation.severity.at_least(Severity.HIGH):
        assert status is HealthStatus.CRITICAL
    else:
        assert status is HealthStatus.DEGRADED
    # A version that asks for a rollback is never reported healthy or unknown.
    assert (status in {HealthStatus.DEGRADED, HealthStatus.CRITICAL}) is evaluation.should_rollback


@PROPERTY_SETTINGS
@given(scenarios())
def test_fleet_bucket_follows_the_health_status(scenario: Scenario) -> None:
    """The monitor counts critical as failing, unknown as no_data and the others by their name."""
    status = classify_health(scenario.evaluate())
    expected = {
        HealthStatus.HEALTHY: FleetBucket.HEALTHY,
        HealthStatus.DEGRADED: FleetBucket.DEGRADED,
        HealthStatus.CRITICAL: FleetBucket.FAILING,
        HealthStatus.UNKNOWN: FleetBucket.NO_DATA,
    }[status]
    assert fleet_bucket(status) is expected
