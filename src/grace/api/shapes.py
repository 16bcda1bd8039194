"""What the core accepts, said in JSON Schema for /openapi.json: identifiers, texts, ranges.

The core enforces every one of these rules (``grace.domain.validation`` and the services);
this module only *documents* them, so that a client generated from /openapi.json sends
what the server takes.  Nothing here validates: the markers add keywords to the documented
schema and leave pydantic's validation as it was, so refusals keep the core's wording.

The identifier pattern is derived from the very predicate the core applies
(``str.isprintable``), and ``tests/api/test_openapi_shapes.py`` holds the two together;
the schemathesis suite tries every documented boundary against the running app.

It must never enforce a rule of its own: a second copy of a rule drifts from the first.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import GetJsonSchemaHandler, StrictFloat
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from typing_extensions import TypeAliasType

from grace.domain.snapshots import MAX_LATENCY_MS, MAX_RPS
from grace.domain.triggers import MAX_DRIFT
from grace.domain.validation import (
    MAX_ID_LENGTH,
    MAX_JSON_DEPTH,
    MAX_KIND_LENGTH,
    MAX_NAME_LENGTH,
    MAX_REASON_LENGTH,
    MAX_TAG_LENGTH,
    MAX_TEXT_LENGTH,
)

__all__ = [
    "JSON_OBJECT_MARK",
    "JSON_VALUE",
    "MAX_KIND_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_TAG_LENGTH",
    "Documented",
    "DriftScore",
    "EntryKind",
    "Identifier",
    "JsonObject",
    "LatencyMs",
    "LongText",
    "Name",
    "NonBlankText",
    "Rate",
    "RequestsPerSecond",
    "Tag",
    "identifier_pattern",
    "json_object_schema",
    "json_value_schema",
    "no_nul_pattern",
    "non_blank_pattern",
    "non_blank_text",
    "text",
]


class Documented:
    """JSON Schema keywords merged into a value's documented schema (pydantic does not enforce
    them; the core does).  ``build`` is called when the schema is generated, not at import."""

    def __init__(self, build: Callable[[], dict[str, Any]] | None = None, **keywords: Any) -> None:
        self._build = build
        self._keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self._build() if self._build is not None else {}, **self._keywords)
        return schema


def _char_class(code_points: bytes) -> str:
    """A regex character class body for the code points flagged 1 in ``code_points``: literal
    characters (so it reads the same in ECMA-262, Python and Rust) with the few class
    metacharacters escaped."""

    def char(code: int) -> str:
        c = chr(code)
        return "\\" + c if c in "\\]^-[" else c

    ranges = [(m.start(), m.end() - 1) for m in re.finditer(rb"\x01+", code_points)]
    return "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges)


@functools.cache
def identifier_pattern(below: int = sys.maxunicode + 1) -> str:
    """The ECMA-262 pattern of ``check_identifier``: printable characters without '/', no blank
    at either end, and not '.' or '..' (minLength/maxLength carry the length).

    ``below`` restricts it to code points under that bound, for a generator drawing from a
    narrower alphabet; on strings of such code points it agrees with the whole pattern.
    """
    printable = bytearray(map(str.isprintable, map(chr, range(below))))
    printable[ord("/")] = 0
    return rf"^(?![ ]|\.\.?$|.*[ ]$)[{_char_class(bytes(printable))}]+$"


def no_nul_pattern() -> str:
    """Text every database stores: no NUL character (U+0000)."""
    return r"^[^\u0000]*$"


@functools.cache
def non_blank_pattern() -> str:
    """Text without NUL holding at least one character that ``str.strip`` keeps."""
    spaces = bytes(map(str.isspace, map(chr, range(sys.maxunicode + 1))))
    blanks = "".join(f"\\u{m.start():04x}" for m in re.finditer(rb"\x01", spaces))
    return rf"^[^\u0000]*[^\u0000{blanks}][^\u0000]*$"


def _identifier(max_length: int, description: str) -> Documented:
    return Documented(
        lambda: {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": identifier_pattern(),
            "description": description,
        }
    )


_ID_RULE = (
    "printable characters without '/', no blank at either end, not '.' or '..', "
    "at most {} characters"
)

#: A model id, version, owner, event type or token name, as ``check_identifier`` accepts it.
Identifier = TypeAliasType(
    "Identifier",
    Annotated[str, _identifier(MAX_ID_LENGTH, "An identifier: " + _ID_RULE.format(MAX_ID_LENGTH))],
)
#: One of a version's tags.
Tag = TypeAliasType(
    "Tag", Annotated[str, _identifier(MAX_TAG_LENGTH, "A tag: " + _ID_RULE.format(MAX_TAG_LENGTH))]
)
#: The kind of an incident timeline entry (note, acknowledged, ...).
EntryKind = TypeAliasType(
    "EntryKind",
    Annotated[
        str,
        _identifier(
            MAX_KIND_LENGTH, "A timeline entry's kind: " + _ID_RULE.format(MAX_KIND_LENGTH)
        ),
    ],
)


def text(max_length: int) -> Documented:
    """Text of at most ``max_length`` characters, without NUL (``check_optional_text``)."""
    return Documented(lambda: {"maxLength": max_length, "pattern": no_nul_pattern()})


def non_blank_text(max_length: int) -> Documented:
    """Like :func:`text`, and not blank (a note's message, a rollback's reason)."""
    return Documented(lambda: {"maxLength": max_length, "pattern": non_blank_pattern()})


#: A display name.
Name = Annotated[str, text(MAX_NAME_LENGTH)]
#: Free text: a description, an artifact URI, a note, a stage change's reason.
LongText = Annotated[str, text(MAX_TEXT_LENGTH)]
#: Free text that is not blank.
NonBlankText = Annotated[str, non_blank_text(MAX_TEXT_LENGTH)]
#: Marks a JSON object in the generated schema; /openapi.json replaces the mark with
#: :func:`json_object_schema`, whose recursion pydantic's schema generator cannot express.
JSON_OBJECT_MARK = "x-grace-json-object"
#: The name of the recursive component :func:`json_value_schema` is published under.
JSON_VALUE = "JsonValue"

#: A JSON object the database stores as given (metadata, a note's data).
JsonObject = Annotated[dict[str, Any], Documented(**{JSON_OBJECT_MARK: True})]


def json_object_schema(ref: str) -> dict[str, Any]:
    """A JSON object as ``check_json_object`` accepts it; ``ref`` names the values' schema."""
    return {
        "type": "object",
        "propertyNames": {"pattern": no_nul_pattern()},
        "additionalProperties": {"$ref": ref},
        "description": f"A JSON object nested at most {MAX_JSON_DEPTH} levels deep, "
        "whose keys and strings hold no NUL character.",
    }


def json_value_schema(ref: str) -> dict[str, Any]:
    """Any JSON value inside such an object; ``ref`` is this schema's own reference."""
    return {
        "anyOf": [
            {"type": "string", "pattern": no_nul_pattern()},
            {"type": ["number", "boolean", "null"]},
            {"type": "array", "items": {"$ref": ref}},
            {
                "type": "object",
                "propertyNames": {"pattern": no_nul_pattern()},
                "additionalProperties": {"$ref": ref},
            },
        ]
    }


#: A fraction in [0, 1].
Rate = Annotated[StrictFloat, Documented(minimum=0, maximum=1)]
#: A latency in milliseconds, from 0 to a day.
LatencyMs = Annotated[StrictFloat, Documented(minimum=0, maximum=MAX_LATENCY_MS)]
RequestsPerSecond = Annotated[StrictFloat, Documented(minimum=0, maximum=MAX_RPS)]
DriftScore = Annotated[StrictFloat, Documented(minimum=0, maximum=MAX_DRIFT)]


def http_time(value: datetime) -> datetime:
    """A time as the API takes it: one without an offset is UTC, not the server's zone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
