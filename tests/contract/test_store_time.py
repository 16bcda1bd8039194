"""Storage contract, time: naive input is local time kept as UTC; all reads are aware UTC."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event

from grace.adapters.sqlstore.engine import make_engine
from grace.adapters.sqlstore.store import SqlStore
from grace.adapters.store import Store
from grace.domain.events import Event
from grace.domain.records import ChangeCause, ExecutionStatus, IncidentStatus
from grace.domain.stages import DeploymentStage
from tests.contract.support import T0, is_postgres, new_incident, new_version
from tests.helpers import snapshot

# POSIX TZ syntax counts west-positive: this is UTC+05:30 without needing a zoneinfo database.
LOCAL_TZ = "XST-05:30"
LOCAL_OFFSET = timedelta(hours=5, minutes=30)
MOON_LANDING = datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=UTC)  # before the epoch


@pytest.fixture
def local_time_ahead_of_utc() -> Iterator[timedelta]:
    """Run the test with the process's local time zone at UTC+05:30."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = LOCAL_TZ
    time.tzset()
    try:
        yield LOCAL_OFFSET
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


def test_naive_datetimes_are_stored_and_compared_as_utc_of_local_time(
    store: Store, local_time_ahead_of_utc: timedelta
) -> None:
    """A naive datetime is local time: stored, and compared in queries, as that UTC instant."""
    local = (T0 + local_time_ahead_of_utc).replace(tzinfo=None)
    assert local.astimezone(UTC) == T0  # the local zone really is ahead of UTC
    with store.write() as s:
        s.ensure_model("fraud_detector_v3", local)
        entry = s.insert_version(new_version("fraud_detector_v3", "3.2.1"), local)
        s.append_stage_change(
            "fraud_detector_v3",
            "3.2.1",
            None,
            DeploymentStage.DEVELOPMENT,
            local,
            actor=None,
            reason=None,
            cause=ChangeCause.REGISTRATION,
        )
        s.insert_snapshot(snapshot("fraud_detector_v3", "3.2.1", at=T0), local)
    with store.read() as s:
        read = s.get_version("fraud_detector_v3", "3.2.1")
        (change,) = s.stage_history("fraud_detector_v3")
        inclusive = s.window_stats("fraud_detector_v3", "3.2.1", local)
        later = s.window_stats("fraud_detector_v3", "3.2.1", local + timedelta(microseconds=1))

    for value in (entry.registered_at, read.registered_at, read.updated_at, change.at):
        assert value.utcoffset() == timedelta(0)
        assert value == T0
    assert (inclusive.snapshot_count, later.snapshot_count) == (1, 0)


def datetimes_of(record: Any) -> list[datetime]:
    """Every datetime field of a record, timeline entries included."""
    found: list[datetime] = []
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, datetime):
            found.append(value)
        elif isinstance(value, tuple):
            for item in value:
                found.extend(datetimes_of(item))
    return found


def test_every_stored_timestamp_reads_back_as_aware_utc(database_url: str) -> None:
    """Times written with other offsets read back as the same instants in UTC, whatever the zone."""
    engine = make_engine(database_url)
    if is_postgres(database_url):

        @event.listens_for(engine, "connect")
        def _session_time_zone(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'Asia/Kolkata'")
            dbapi_connection.commit()

        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW TIME ZONE").scalar() == "Asia/Kolkata"
    store = SqlStore(engine)
    east = T0.astimezone(timezone(timedelta(hours=2)))
    west_moon = MOON_LANDING.astimezone(timezone(timedelta(hours=-5)))
    try:
        with store.write() as s:
            s.ensure_model("fraud_detector_v3", east)
            s.insert_version(
                new_version("fraud_detector_v3", "3.1.5", stage=DeploymentStage.PRODUCTION), east
            )
            s.insert_version(new_version("fraud_detector_v3", "0.1"), west_moon)
            s.append_stage_change(
                "fraud_detector_v3",
                "3.1.5",
                None,
                DeploymentStage.PRODUCTION,
                east,
                actor=None,
                reason=None,
                cause=ChangeCause.REGISTRATION,
            )
            incident = s.insert_incident(new_incident("key"), east)
            s.set_incident_status(incident.id, IncidentStatus.ACKNOWLEDGED, "alice", east)
            s.set_incident_status(incident.id, IncidentStatus.RESOLVED, "bob", east)
            s.append_timeline(incident.id, east, "note", "hello")
            s.append_event(Event("model.updated", "test", {}, east))
            execution = s.insert_execution(
                "rollback", "model", "m", ExecutionStatus.RUNNING, {}, east
            )
            s.update_execution(execution.id, finished_at=east)
        with store.read() as s:
            records: list[Any] = [
                s.get_version("fraud_detector_v3", "3.1.5"),
                *s.stage_history("fraud_detector_v3"),
                s.get_incident(incident.id),
                *s.list_events(),
                s.get_execution(execution.id),
            ]
            moon = s.get_version("fraud_detector_v3", "0.1")
    finally:
        store.close()

    stamps = [d for record in records for d in datetimes_of(record)]
    assert len(stamps) == 14
    assert [d.utcoffset() for d in stamps] == [timedelta(0)] * len(stamps)
    assert set(stamps) == {T0}
    assert moon.registered_at == MOON_LANDING
    assert moon.registered_at.utcoffset() == timedelta(0)
