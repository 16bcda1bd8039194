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
    "MAX_JSON_DEPTH",
    "MAX_KIND_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_TAG_LENGTH",
    "check_bool",
    "check_filter",
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
MAX_NAME_LENGTH = 200  # a version's display name
MAX_TAG_LENGTH = 100  # one tag
MAX_KIND_LENGTH = 40  # an incident timeline entry's kind
MAX_REASON_LENGTH = 1000  # a manual rollback's reason
MAX_TEXT_LENGTH = 10_000
MAX_TAGS = 64
#: How deeply the JSON documents Grace stores (metadata, incident context, notes' data) may nest:
#: far more than any real document needs, far less than any parser or serialiser can handle.
MAX_JSON_DEPTH = 32
# Standard clients remove these path segments, so an id spelled so could never be addressed.
_DOT_SEGMENTS = frozenset({".", ".."})


def check_number(
    field: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """A finite real number within the bounds, as float (bools are not numbers here)."""
    if (
        type(value) is float  # the common case, decided in one go (NaN fails every comparison)
        and (minimum is None or (value > minimum if exclusive_minimum else value >= minimum))
        and (maximum is None or value <= maximum)
        and math.isfinite(value)
    ):
        return value
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
    """Text that every database stores alike: no lone surrogates (which JSON may carry but
    UTF-8 cannot) and no NUL character (which PostgreSQL refuses in text)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "must be valid Unicode text") from None
    if "\x00" in value:
        raise InvalidInput(field, "must not contain the NUL character (U+0000)")
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
    if value in _DOT_SEGMENTS:
        raise InvalidInput(field, f"must not be {value!r}, which a URL path cannot hold")
    return check_unicode(field, value)


def check_filter(field: str, value: str | None) -> str | None:
    """A listing's filter: None (no filter) or an identifier, checked like the ids it matches."""
    return None if value is None else check_identifier(field, value)


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
        tag = check_identifier(field, item, max_length=MAX_TAG_LENGTH)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidInput(field, f"at most {MAX_TAGS} tags are allowed")
    return tuple(tags)


def check_json_object(field: str, value: object) -> dict[str, Any]:
    """A mapping as it will read back from the database (tuples become lists), or InvalidInput.

    Nesting is bounded by :data:`MAX_JSON_DEPTH`; lone surrogates pass ``json.dumps`` but no
    database stores them, and PostgreSQL refuses NUL, so both are refused too, in keys and values.
    """
    mapping = check_mapping(field, value)
    _check_json_tree(field, mapping)
    try:
        text = json.dumps(mapping, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
        return dict(json.loads(text))
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise InvalidInput(field, f"must be a JSON object of valid text: {exc}") from None


def _check_json_tree(field: str, document: object) -> None:
    """Walk ``document`` without recursion: depth within the bound, every string storable."""
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            check_unicode(field, node)
        elif isinstance(node, Mapping | list | tuple):
            if depth > MAX_JSON_DEPTH:
                raise InvalidInput(field, f"nests deeper than the limit of {MAX_JSON_DEPTH} levels")
            if isinstance(node, Mapping):
                for key, child in node.items():
                    if isinstance(key, str):
                        check_unicode(field, key)
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in node)


def check_mapping(field: str, value: object) -> dict[str, Any]:
    """A mapping with string keys (a copy), or an empty dict for None."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidInput(field, "must be a mapping with string keys")
    return dict(value)


def check_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(field, f"must be true or false, got {value!r}")
    return value
