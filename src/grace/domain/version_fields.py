"""The descriptive fields of a version, checked as registration and updates take them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grace.domain.records import DESCRIPTIVE_FIELDS
from grace.domain.validation import (
    MAX_NAME_LENGTH,
    check_bool,
    check_identifier,
    check_json_object,
    check_number,
    check_optional_text,
    check_tags,
)
from grace.errors import InvalidInput

__all__ = ["check_version_fields"]


def check_version_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the descriptive fields of a version (all optional)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "name":
            out[key] = check_optional_text(key, value, MAX_NAME_LENGTH)
        elif key in {"description", "artifact_uri"}:
            out[key] = check_optional_text(key, value)
        elif key == "owner":
            out[key] = None if value is None else check_identifier(key, value)
        elif key == "tags":
            out[key] = check_tags(key, value)
        elif key == "expected_latency_p95_ms":
            out[key] = (
                None
                if value is None
                else check_number(
                    key, value, minimum=0.0, exclusive_minimum=True, maximum=86_400_000.0
                )
            )
        elif key in {"constitutional_compliance", "bias_check_passed"}:
            out[key] = check_bool(key, value)
        elif key == "calibration_error":
            out[key] = None if value is None else check_number(key, value, minimum=0.0, maximum=1.0)
        elif key == "metadata":
            out[key] = check_json_object(key, value)
        else:
            raise InvalidInput(
                key, f"is not a field that can be updated; known: {', '.join(DESCRIPTIVE_FIELDS)}"
            )
    return out
