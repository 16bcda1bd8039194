"""Fixtures for the pure domain tests: nothing here touches a database or the network."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def utc_plus_two(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the test with the machine's local time two hours ahead of UTC."""
    monkeypatch.setenv("TZ", "XXX-2")  # POSIX spelling of UTC+2, needs no tz database
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
