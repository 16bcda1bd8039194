"""Checks for values that cross into the core: numbers, rates, identifiers.

Each check raises :class:`~grace.errors.InvalidInput` naming the field, so a
refusal says exactly what was wrong and nothing is stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from grace.errors import InvalidInput

__all__ = [
    "MAX_ID_LENGTH",
    "check_identifier",
    "check_json_object",
    "check_mapping",
    "check_number",
    "check_optional_text",
    "check_rate",
    "check_tags",
    "check_unicode",
]

MAX_ID_LENGTH = 200
MAX_TEXT_LENGTH = 10_000
MAX_TAGS = 64


def check_number(
    field: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """A finite real number within the bounds, as float (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"must be a number, got {type(value).__name__}")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidInput(field, "is too large to be a number") from None
    if not math.isfinite(number):
        raise InvalidInput(field, f"must be a finite number, got {value!r}")
    if minimum is not None:
        if exclusive_minimum and number <= minimum:
            raise InvalidInput(field, f"must be greater than {minimum:g}, got {number:g}")
        if number < minimum:
            raise InvalidInput(field, f"must be at least {minimum:g}, got {number:g}")
    if maximum is not None and number > maximum:
        raise InvalidInput(field, f"must be at most {maximum:g}, got {number:g}")
    return number


def check_rate(field: str, value: object) -> float:
    """A fraction in [0, 1]."""
    return check_number(field, value, minimum=0.0, maximum=1.0)


def check_unicode(field: str, value: str) -> str:
    """Text that can be stored: no lone surrogates (which JSON may carry but UTF-8 cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "must be valid Unicode text") from None
    return value


def check_identifier(field: str, value: object, max_length: int = MAX_ID_LENGTH) -> str:
    """A non-empty, printable string without surrounding blanks, at most ``max_length`` long."""
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, got {type(value).__name__}")
    if not value or value.strip() != value:
        raise InvalidInput(field, "must be a non-empty string without leading or trailing blanks")
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters long")
    if not value.isprintable() or "/" in value:
        raise InvalidInput(field, "must contain only printable characters and no '/'")
    return check_unicode(field, value)


def check_optional_text(field: str, value: object, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """None, or a string of at most ``max_length`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, got {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters long")
    return check_unicode(field, value)


def check_tags(field: str, value: object) -> tuple[str, ...]:
    """A list of distinct short labels, order kept."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInput(field, "must be a list of strings")
    tags: list[str] = []
    for item in value:
        tag = check_identifier(field, item, max_length=100)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidInput(field, f"at most {MAX_TAGS} tags are allowed")
    return tuple(tags)


def check_json_object(field: str, value: object) -> dict[str, Any]:
    """A mapping as it will read back from the database (tuples become lists), or InvalidInput.

    Lone surrogates pass ``json.dumps`` but no database stores them, so they are refused too.
    """
    mapping = check_mapping(field, value)
    try:
        text = json.dumps(mapping, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
        return dict(json.loads(text))
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise InvalidInput(field, f"must be a JSON object of valid text: {exc}") from None


def check_mapping(field: str, value: object) -> dict[str, Any]:
    """A mapping with string keys (a copy), or an empty dict for None."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidInput(field, "must be a mapping with string keys")
    return dict(value)
