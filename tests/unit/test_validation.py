"""Checks on values entering the core: numbers, rates, identifiers, text, tags and mappings."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from grace.domain.validation import (
    MAX_ID_LENGTH,
    check_identifier,
    check_mapping,
    check_number,
    check_optional_text,
    check_rate,
    check_tags,
)
from grace.errors import GraceError, InvalidInput

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def refusal(call: object, *args: object, **kwargs: object) -> InvalidInput:
    assert callable(call)
    with pytest.raises(InvalidInput) as caught:
        call(*args, **kwargs)
    return caught.value


def test_invalid_input_is_a_grace_error_and_a_value_error_naming_the_field() -> None:
    """A refusal carries the field and problem, and callers may catch it as ValueError."""
    error = refusal(check_rate, "error_rate", 2.0)
    assert isinstance(error, GraceError)
    assert isinstance(error, ValueError)
    assert error.field == "error_rate"
    assert str(error) == f"error_rate: {error.problem}"


# -- numbers --------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(10**15), max_value=10**15)
)
def test_any_finite_number_is_accepted_as_a_float(value: float) -> None:
    """Without bounds every finite int or float is accepted and returned as that float."""
    result = check_number("x", value)
    assert isinstance(result, float)
    assert result == float(value)


@PROPERTY_SETTINGS
@given(st.floats(min_value=-10.0, max_value=10.0), st.floats(-5.0, 0.0), st.floats(0.0, 5.0))
def test_bounds_are_inclusive(value: float, minimum: float, maximum: float) -> None:
    """A number is accepted exactly when minimum <= number <= maximum."""
    if minimum <= value <= maximum:
        assert check_number("x", value, minimum=minimum, maximum=maximum) == value
    else:
        assert refusal(check_number, "x", value, minimum=minimum, maximum=maximum).field == "x"


def test_exclusive_minimum_refuses_the_minimum_itself() -> None:
    """With exclusive_minimum the bound itself is refused and anything above it accepted."""
    assert refusal(check_number, "slo", 0.0, minimum=0.0, exclusive_minimum=True).field == "slo"
    assert check_number("slo", 1e-9, minimum=0.0, exclusive_minimum=True) == 1e-9


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, True, False, "1", None, [1.0], 1 + 0j],
    ids=repr,
)
def test_non_finite_or_non_numeric_values_are_refused(value: object) -> None:
    """NaN, infinities, bools, strings and other types are refused, naming the field."""
    assert refusal(check_number, "latency_p95_ms", value).field == "latency_p95_ms"


def test_an_integer_too_large_for_a_float_is_refused() -> None:
    """A JSON integer too large to be a float is refused as InvalidInput, not a crash."""
    assert refusal(check_number, "requests_per_second", 10**400).field == "requests_per_second"


@PROPERTY_SETTINGS
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_a_rate_is_accepted_exactly_inside_zero_to_one(value: float) -> None:
    """check_rate accepts a value iff it is a finite number in [0, 1]."""
    if 0.0 <= value <= 1.0:
        assert check_rate("ood_rate", value) == value
    else:
        assert refusal(check_rate, "ood_rate", value).field == "ood_rate"


# -- identifiers ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["fraud_detector_v3", "3.2.1", "a", "x" * MAX_ID_LENGTH, "é-ü"])
def test_good_identifiers_are_kept(value: str) -> None:
    """Printable, unpadded names up to the length limit are accepted unchanged."""
    assert check_identifier("model_id", value) == value


@pytest.mark.parametrize(
    "value",
    ["", " ", " a", "a ", "a\nb", "a/b", "x" * (MAX_ID_LENGTH + 1), 3, None, b"bytes"],
    ids=repr,
)
def test_bad_identifiers_are_refused_naming_the_field(value: object) -> None:
    """Empty, blank, padded, multi-line, slashed, too long or non-string names are refused."""
    assert refusal(check_identifier, "model_id", value).field == "model_id"


@PROPERTY_SETTINGS
@given(st.text(max_size=MAX_ID_LENGTH + 5))
@example(".")
@example("..")
@example("...")
def test_an_identifier_is_accepted_iff_clean(value: str) -> None:
    """A string passes iff non-empty, unpadded, short enough, printable, without '/', and not
    one of the dot segments "." and ".." that URL normalisation removes."""
    clean = (
        bool(value)
        and value.strip() == value
        and len(value) <= MAX_ID_LENGTH
        and value.isprintable()
        and "/" not in value
        and value not in {".", ".."}
    )
    if clean:
        assert check_identifier("version", value) == value
    else:
        assert refusal(check_identifier, "version", value).field == "version"


# -- text, tags, mappings -----------------------------------------------------------------------


def test_optional_text_allows_none_and_strings_up_to_the_limit() -> None:
    """Optional text is None or a string no longer than the limit."""
    assert check_optional_text("description", None) is None
    assert check_optional_text("description", "ok", max_length=2) == "ok"
    assert refusal(check_optional_text, "description", "long", max_length=3).field == "description"
    assert refusal(check_optional_text, "description", 5).field == "description"


def test_tags_are_deduplicated_in_order() -> None:
    """Repeated tags are kept once, in the order first given."""
    assert check_tags("tags", ["fraud", "prod", "fraud", "eu"]) == ("fraud", "prod", "eu")
    assert check_tags("tags", None) == ()


@pytest.mark.parametrize("value", ["fraud", 5, ["ok", 3], ["ok", ""], ["a/b"]], ids=repr)
def test_bad_tags_are_refused(value: object) -> None:
    """A bare string, a non-list or a bad label inside the list is refused, naming tags."""
    assert refusal(check_tags, "tags", value).field == "tags"


def test_at_most_64_distinct_tags() -> None:
    """64 distinct tags are accepted, 65 are refused; duplicates do not count."""
    assert len(check_tags("tags", [f"t{i}" for i in range(64)] * 2)) == 64
    assert refusal(check_tags, "tags", [f"t{i}" for i in range(65)]).field == "tags"


def test_mappings_are_copied_and_need_string_keys() -> None:
    """A mapping is returned as a fresh dict; None is empty; non-string keys are refused."""
    original = {"team": "risk"}
    copied = check_mapping("metadata", original)
    assert copied == original
    assert copied is not original
    assert check_mapping("metadata", None) == {}
    assert refusal(check_mapping, "metadata", {1: "x"}).field == "metadata"
    assert refusal(check_mapping, "metadata", [("a", 1)]).field == "metadata"
