"""The fake clock and UTC formatting at the edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from grace.clock import FakeClock, SystemClock
from grace.domain.timeutil import ensure_utc, isoformat

START = datetime(2025, 11, 13, 15, 30, tzinfo=UTC)


def test_fake_clock_starts_at_the_guides_instant_and_stands_still() -> None:
    """A default FakeClock reads 2025-11-13 15:30 UTC and does not move by itself."""
    clock = FakeClock()
    assert clock.now() == START
    assert clock.now() == clock.now()
    assert clock.now().tzinfo is UTC


def test_fake_clock_advances_by_a_delta_or_by_keywords() -> None:
    """advance() moves the clock forward and returns the new now."""
    clock = FakeClock(START)
    assert clock.advance(timedelta(minutes=5)) == START + timedelta(minutes=5)
    assert clock.advance(seconds=30) == START + timedelta(minutes=5, seconds=30)
    assert clock.advance(hours=1, minutes=1) == START + timedelta(hours=1, minutes=6, seconds=30)
    assert clock.now() == START + timedelta(hours=1, minutes=6, seconds=30)


def test_fake_clock_set_jumps_to_an_instant_kept_in_utc() -> None:
    """set() moves the clock to any instant, stored in UTC whatever offset it was given."""
    clock = FakeClock(START)
    clock.set(datetime(2030, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))))
    assert clock.now() == datetime(2030, 1, 1, 0, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    clock.set(START - timedelta(days=1))
    assert clock.now() == START - timedelta(days=1)


@pytest.mark.usefixtures("utc_plus_two")
def test_fake_clock_reads_a_naive_start_as_local_time() -> None:
    """A naive start or set() instant is local time, converted to UTC."""
    naive = datetime(2025, 11, 13, 17, 30)  # noqa: DTZ001 - naive on purpose: local UTC+2
    assert FakeClock(naive).now() == START
    clock = FakeClock()
    clock.set(naive + timedelta(hours=1))
    assert clock.now() == START + timedelta(hours=1)


def test_system_clock_reads_aware_utc_now() -> None:
    """The real clock returns the current instant, timezone-aware in UTC."""
    before = datetime.now(UTC)
    now = SystemClock().now()
    assert before <= now <= datetime.now(UTC)
    assert now.tzinfo is UTC


def test_isoformat_has_a_z_suffix() -> None:
    """Timestamps are written as the guide's events show them: ISO 8601 ending in Z."""
    assert isoformat(START) == "2025-11-13T15:30:00Z"


def test_isoformat_converts_other_offsets_to_utc() -> None:
    """An instant with another offset is written as the same instant in UTC."""
    plus_two = datetime(2025, 11, 13, 17, 30, 0, 250_000, tzinfo=timezone(timedelta(hours=2)))
    assert isoformat(plus_two) == "2025-11-13T15:30:00.250000Z"


@pytest.mark.usefixtures("utc_plus_two")
def test_isoformat_reads_naive_values_as_local_time() -> None:
    """A naive datetime is local time and is written in UTC with Z."""
    naive = datetime(2025, 11, 13, 17, 30)  # noqa: DTZ001 - naive on purpose: local UTC+2
    assert isoformat(naive) == "2025-11-13T15:30:00Z"
    assert ensure_utc(naive) == START


def test_isoformat_of_none_is_none() -> None:
    """A missing instant stays missing (JSON null), not the string 'None'."""
    assert isoformat(None) is None
