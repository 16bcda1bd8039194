"""Performance snapshots: validation naming the bad field, UTC timestamps, the event's data."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grace.domain.snapshots import (
    MAX_WINDOW_MINUTES,
    ModelPerformanceSnapshot,
    WindowStats,
    check_window_minutes,
)
from grace.errors import InvalidInput

AT = datetime(2025, 11, 13, 15, 30, tzinfo=UTC)

# The guide's "Record Performance Snapshot" request.
GUIDE: dict[str, Any] = {
    "model_id": "fraud_detector_v3",
    "version": "3.2.1",
    "latency_p50_ms": 120.5,
    "latency_p95_ms": 245.3,
    "latency_p99_ms": 350.1,
    "requests_per_second": 250.0,
    "error_rate": 0.085,
    "ood_rate": 0.22,
    "input_drift_score": 0.35,
    "accuracy": 0.89,
    "timestamp": AT,
}

RATE_FIELDS = ["error_rate", "ood_rate", "accuracy"]
LATENCY_FIELDS = ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"]
NUMBER_FIELDS = [*LATENCY_FIELDS, "requests_per_second", "input_drift_score", *RATE_FIELDS]

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def make(**changes: Any) -> ModelPerformanceSnapshot:
    return ModelPerformanceSnapshot(**{**GUIDE, **changes})


def refused_field(**changes: Any) -> str:
    """The field named by the InvalidInput a snapshot with ``changes`` raises."""
    with pytest.raises(InvalidInput) as caught:
        make(**changes)
    return caught.value.field


def test_the_guides_snapshot_is_accepted_as_given() -> None:
    """The guide's example request builds a snapshot holding exactly its values."""
    snap = make()
    assert snap.to_dict() == {**GUIDE, "timestamp": "2025-11-13T15:30:00Z"}


def test_event_data_has_the_guides_keys_and_values() -> None:
    """event_data() carries every key of the guide's monitoring event with the snapshot's values."""
    data = make().event_data()
    assert {
        key: data[key]
        for key in (
            "version",
            "latency_p50_ms",
            "latency_p95_ms",
            "latency_p99_ms",
            "error_rate",
            "ood_rate",
            "requests_per_second",
            "drift_score",
        )
    } == {
        "version": "3.2.1",
        "latency_p50_ms": 120.5,
        "latency_p95_ms": 245.3,
        "latency_p99_ms": 350.1,
        "error_rate": 0.085,
        "ood_rate": 0.22,
        "requests_per_second": 250.0,
        "drift_score": 0.35,
    }


def test_event_data_reports_a_missing_drift_score_as_none() -> None:
    """A snapshot without a drift score still has the drift_score key, as None."""
    data = make(input_drift_score=None).event_data()
    assert "drift_score" in data
    assert data["drift_score"] is None


def test_optional_fields_default_to_none() -> None:
    """Drift score and accuracy are optional and default to None."""
    snap = ModelPerformanceSnapshot(
        **{k: v for k, v in GUIDE.items() if k not in {"input_drift_score", "accuracy"}}
    )
    assert snap.input_drift_score is None
    assert snap.accuracy is None


# -- refusals naming the field ----------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    field=st.sampled_from(RATE_FIELDS),
    value=st.floats(min_value=1.0, exclude_min=True)
    | st.floats(max_value=0.0, exclude_max=True)
    | st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_a_rate_outside_zero_to_one_is_refused_naming_it(field: str, value: float) -> None:
    """An error rate, OOD rate or accuracy outside [0, 1] (or not finite) is refused by name."""
    assert refused_field(**{field: value}) == field


@PROPERTY_SETTINGS
@given(field=st.sampled_from(RATE_FIELDS), value=st.floats(min_value=0.0, max_value=1.0))
def test_a_rate_inside_zero_to_one_is_kept(field: str, value: float) -> None:
    """Any rate in [0, 1], the ends included, is accepted unchanged."""
    assert getattr(make(**{field: value}), field) == value


@PROPERTY_SETTINGS
@given(
    field=st.sampled_from(["requests_per_second", "input_drift_score", *LATENCY_FIELDS]),
    value=st.floats(max_value=0.0, exclude_max=True)
    | st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_a_negative_or_non_finite_measure_is_refused_naming_it(field: str, value: float) -> None:
    """A negative, NaN or infinite latency, request rate or drift score is refused by name."""
    assert refused_field(**{field: value}) == field


NOT_NUMBERS = [
    (field, value)
    for field in NUMBER_FIELDS
    for value in [True, False, "0.5", None, [0.5]]
    # None is the documented "not measured" value of the two optional fields.
    if not (value is None and field in {"input_drift_score", "accuracy"})
]


@pytest.mark.parametrize(("field", "value"), NOT_NUMBERS)
def test_a_value_that_is_not_a_number_is_refused_naming_it(field: str, value: object) -> None:
    """A bool, a string or anything else where a number belongs is refused by name."""
    assert refused_field(**{field: value}) == field


def test_whole_numbers_are_accepted_and_stored_as_floats() -> None:
    """Integer readings, as JSON clients often send, are kept as floats."""
    snap = make(latency_p50_ms=100, latency_p95_ms=200, latency_p99_ms=300, requests_per_second=0)
    assert (snap.latency_p50_ms, snap.latency_p95_ms, snap.latency_p99_ms) == (100, 200, 300)
    assert all(
        isinstance(getattr(snap, f), float) for f in [*LATENCY_FIELDS, "requests_per_second"]
    )


def test_a_latency_over_a_day_is_refused_as_a_unit_mistake() -> None:
    """A p99 of more than a day in milliseconds is refused, naming the field."""
    assert refused_field(latency_p99_ms=86_400_001.0) == "latency_p99_ms"


@PROPERTY_SETTINGS
@given(
    p50=st.floats(0, 10_000),
    p95=st.floats(0, 10_000),
    p99=st.floats(0, 10_000),
)
def test_latency_percentiles_must_be_ordered(p50: float, p95: float, p99: float) -> None:
    """p50 above p95 is refused naming p50, p95 above p99 naming p95; ordered ones are kept."""
    values = {"latency_p50_ms": p50, "latency_p95_ms": p95, "latency_p99_ms": p99}
    if p50 > p95:
        assert refused_field(**values) == "latency_p50_ms"
    elif p95 > p99:
        assert refused_field(**values) == "latency_p95_ms"
    else:
        snap = make(**values)
        assert snap.latency_p50_ms <= snap.latency_p95_ms <= snap.latency_p99_ms


def test_equal_percentiles_are_accepted() -> None:
    """A flat latency distribution (p50 == p95 == p99) is valid."""
    snap = make(latency_p50_ms=5.0, latency_p95_ms=5.0, latency_p99_ms=5.0)
    assert snap.latency_p99_ms == 5.0


@pytest.mark.parametrize("field", ["model_id", "version"])
@pytest.mark.parametrize(
    "value", ["", "   ", " padded", "padded ", "a/b", "tab\there", 42, None], ids=repr
)
def test_a_bad_identifier_is_refused_naming_it(field: str, value: object) -> None:
    """An empty, blank, padded, slashed, unprintable or non-string id or version is refused."""
    assert refused_field(**{field: value}) == field


@pytest.mark.parametrize("value", ["2025-11-13T15:30:00Z", 1763047800, None, AT.date()], ids=repr)
def test_a_timestamp_that_is_not_a_datetime_is_refused(value: object) -> None:
    """A string, number, None or bare date timestamp is refused, naming the timestamp field."""
    assert refused_field(timestamp=value) == "timestamp"


# -- time -----------------------------------------------------------------------------------


def test_an_aware_timestamp_is_stored_in_utc() -> None:
    """A timestamp with an offset is kept as the same instant in UTC."""
    plus_five = datetime(2025, 11, 13, 20, 30, tzinfo=timezone(timedelta(hours=5)))
    snap = make(timestamp=plus_five)
    assert snap.timestamp == AT
    assert snap.timestamp.tzinfo is UTC


@pytest.mark.usefixtures("utc_plus_two")
def test_a_naive_timestamp_is_local_time_stored_as_utc() -> None:
    """A naive timestamp (the guide's datetime.now()) is read as local time and kept as UTC."""
    naive = datetime(2025, 11, 13, 17, 30)  # noqa: DTZ001 - naive on purpose: local UTC+2
    snap = make(timestamp=naive)
    assert snap.timestamp == AT
    assert snap.timestamp.tzinfo is UTC


def test_timestamp_defaults_to_now_in_utc() -> None:
    """Without a timestamp, a snapshot is stamped with the current UTC instant."""
    before = datetime.now(UTC)
    snap = ModelPerformanceSnapshot(**{k: v for k, v in GUIDE.items() if k != "timestamp"})
    after = datetime.now(UTC)
    assert before <= snap.timestamp <= after
    assert snap.timestamp.tzinfo is UTC


def test_a_timestamp_too_far_in_the_future_is_refused() -> None:
    """A snapshot stamped beyond now plus the tolerance is refused; at the tolerance it is kept."""
    tolerance = timedelta(minutes=5)
    make(timestamp=AT + tolerance).check_not_in_future(AT, tolerance)
    with pytest.raises(InvalidInput) as caught:
        make(timestamp=AT + tolerance + timedelta(microseconds=1)).check_not_in_future(
            AT, tolerance
        )
    assert caught.value.field == "timestamp"


def test_snapshots_are_immutable() -> None:
    """A recorded snapshot cannot be altered after validation."""
    snap = make()
    with pytest.raises(AttributeError):
        snap.error_rate = 0.9  # type: ignore[misc]


# -- window statistics and window length ------------------------------------------------------


def test_window_metrics_have_the_guides_health_summary_keys() -> None:
    """WindowStats.to_metrics() carries the guide's health-summary metric keys."""
    metrics = WindowStats(12, 0.085, 245.3, 0.22).to_metrics()
    assert metrics["avg_error_rate"] == 0.085
    assert metrics["avg_latency_p95_ms"] == 245.3
    assert metrics["avg_ood_rate"] == 0.22
    assert metrics["snapshot_count"] == 12


@pytest.mark.parametrize("minutes", [1, 10, MAX_WINDOW_MINUTES])
def test_window_minutes_from_one_to_a_week_are_accepted(minutes: int) -> None:
    """A window of 1 minute up to a week is accepted as given."""
    assert check_window_minutes(minutes) == minutes


@pytest.mark.parametrize("minutes", [0, -10, MAX_WINDOW_MINUTES + 1, 10.0, "10", True, None])
def test_window_minutes_outside_range_or_not_whole_are_refused(minutes: object) -> None:
    """A window that is not a whole number of minutes from 1 to a week is refused by name."""
    with pytest.raises(InvalidInput) as caught:
        check_window_minutes(minutes)
    assert caught.value.field == "window_minutes"
