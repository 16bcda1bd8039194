"""Reading the body of ``POST /performance/batch`` without trusting its size.

A 32 MiB body of ``{"snapshots": [{}, {}, ...]}`` holds 11 million items; parsing it whole
before counting would take gigabytes.  This reads the array an item at a time with the
standard library's scanner and refuses at the first item past the limit, so memory stays
proportional to what may be accepted.  It runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import json
from typing import Any

from grace.api.problems import PayloadTooLarge, unparseable_body
from grace.errors import InvalidInput

__all__ = ["BATCH_KEY", "read_batch"]

BATCH_KEY = "snapshots"
_decoder = json.JSONDecoder()
_BLANKS = " \t\n\r"


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def blank(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _BLANKS:
            pos += 1
        self.pos = pos

    def peek(self) -> str:
        self.blank()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end"
            raise InvalidInput(
                "body",
                f"is not a JSON document: expected {char!r} at character {self.pos}, found {found}",
            )
        self.pos += 1

    def value(self) -> Any:
        self.blank()
        value, self.pos = _decoder.raw_decode(self.text, self.pos)
        return value


def read_batch(raw: bytes, *, limit: int) -> list[Any]:
    """The items of ``{"snapshots": [...]}``; 413 past ``limit`` items, 422 for anything else
    that is not such a document (naming the body, or the unexpected field)."""
    try:
        reader = _Reader(raw.decode("utf-8"))
        return _read(reader, limit)
    except InvalidInput:
        raise
    except UnicodeDecodeError as exc:
        raise InvalidInput("body", unparseable_body(exc)) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidInput("body", unparseable_body(exc)) from None


def _read(reader: _Reader, limit: int) -> list[Any]:
    reader.expect("{")
    items: list[Any] | None = None
    unknown: list[str] = []
    first = True
    while reader.peek() != "}":
        if not first:
            reader.expect(",")
        first = False
        key = reader.value()
        if not isinstance(key, str):
            raise InvalidInput("body", "is not a JSON object with string keys")
        reader.expect(":")
        if key == BATCH_KEY:
            items = _read_items(reader, limit)
        else:
            unknown.append(key)
            reader.value()
    reader.expect("}")
    if reader.peek():
        raise InvalidInput("body", "has data after the JSON document")
    if items is None:
        raise InvalidInput(BATCH_KEY, "is required")
    if unknown:
        raise InvalidInput(unknown[0], "is not a field of a batch")
    return items


def _read_items(reader: _Reader, limit: int) -> list[Any]:
    reader.expect("[")
    items: list[Any] = []
    while reader.peek() != "]":
        if items:
            reader.expect(",")
        items.append(reader.value())
        if len(items) > limit:
            raise PayloadTooLarge(
                f"more than {limit} snapshots in one request; the limit is {limit}"
            )
    reader.expect("]")
    return items
