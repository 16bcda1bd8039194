"""Schema migrations: the only way the schema changes; they match the code and refuse the future."""

from __future__ import annotations

import asyncio
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, text

from grace.adapters.sqlstore import migrate
from grace.adapters.sqlstore.engine import make_engine
from grace.adapters.sqlstore.schema import metadata
from grace.adapters.sqlstore.store import SqlStore
from grace.bootstrap import Grace, build
from grace.errors import SchemaMismatch
from tests.conftest import make_settings
from tests.helpers import snapshot


def _schema_diff(url: str) -> list[object]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    return list(diff)


def test_migrations_build_exactly_the_declared_schema_on_sqlite(tmp_path: Path) -> None:
    """Running the migrations on an empty SQLite file yields the tables the code declares."""
    assert _schema_diff(f"sqlite:///{tmp_path / 'g.db'}") == []


@pytest.mark.postgres
def test_migrations_build_exactly_the_declared_schema_on_postgres(fresh_postgres_url: str) -> None:
    """The same on an empty PostgreSQL database."""
    assert _schema_diff(fresh_postgres_url) == []


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    """The embedded database uses WAL so readers do not block the writer."""
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def _stamp(url: str, revision: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_a_database_from_a_newer_grace_is_refused(sqlite_url: str) -> None:
    """A schema revision this code does not know stops start-up with a clear message."""
    _stamp(sqlite_url, "9999_from_the_future")
    with pytest.raises(SchemaMismatch, match="newer Grace"):
        build(make_settings(sqlite_url))
    engine = make_engine(sqlite_url)
    with pytest.raises(SchemaMismatch, match="newer Grace"):
        migrate.upgrade(engine)
    engine.dispose()


def test_without_auto_migrate_an_old_schema_is_refused(tmp_path: Path) -> None:
    """With GRACE_AUTO_MIGRATE off, an unmigrated database asks for `grace db upgrade`."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaMismatch, match="grace db upgrade"):
        build(make_settings(url, auto_migrate=False))
    _upgrade(url)
    build(make_settings(url, auto_migrate=False)).close()


def _upgrade(url: str) -> str:
    engine = make_engine(url)
    try:
        return migrate.upgrade(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_replicas_starting_together_migrate_once(fresh_postgres_url: str) -> None:
    """Four processes upgrading one empty PostgreSQL database at once all succeed."""
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        revisions = pool.map(_upgrade, [fresh_postgres_url] * 4)
    assert set(revisions) == {migrate.head_revision()}
    engine = make_engine(fresh_postgres_url)
    migrate.check(engine)
    engine.dispose()


def test_upgrading_a_database_with_tagged_versions_keeps_the_tag_filter(tmp_path: Path) -> None:
    """Versions tagged before tags were indexed (revision 0002) are found by tag after it."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    grace = build(make_settings(url))
    grace.registry.register_model("old", "1", tags=["fraud", "eu"])
    grace.registry.register_model("old", "2", tags=["fraud"])
    grace.close()
    engine = make_engine(url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0002")
    engine.dispose()
    grace = build(make_settings(url))  # upgrades again, copying the tags
    try:
        assert [e.version for e in grace.registry.list_models(tag="eu")] == ["1"]
        assert [e.version for e in grace.registry.list_models(tag="fraud")] == ["1", "2"]
        assert grace.registry.list_models(tag="nomatch") == []
    finally:
        grace.close()


def test_the_tag_filter_is_an_index_lookup(grace: Grace) -> None:
    """The query behind GET /models?tag= searches the tag index; no version table scan."""
    for i in range(30):
        grace.registry.register_model(f"m{i}", "1", tags=["common"])
    assert isinstance(grace.store, SqlStore)
    engine = grace.store.engine
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: Any) -> None:
        if "version_tags" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        assert grace.registry.list_models(tag="nomatch") == []
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    (statement, params), *_ = seen
    with engine.connect() as conn:
        plan = " | ".join(
            str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
        )
    assert "version_tags" in plan
    assert "SCAN model_versions" not in plan, plan


def _old_snapshot_row(url: str) -> None:
    """A snapshot row as Grace before revision 0005 wrote it: the id from the table's own
    serial, no event id (its event went to the events table)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO snapshots (version_pk, ts, recorded_at, latency_p50_ms,"
                " latency_p95_ms, latency_p99_ms, requests_per_second, error_rate, ood_rate)"
                " SELECT id, '2025-11-13T15:31:00+00:00', '2025-11-13T15:31:00+00:00',"
                " 100, 200, 300, 10, 0.01, 0.01 FROM model_versions"
            )
        )
    engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_upgrading_to_snapshot_rows_in_the_log_keeps_one_run_of_positions(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Revision 0005 (a snapshot row is its own event): a database written before it, by the
    old serials, upgrades; the log goes on after the larger of both tables' positions, and
    snapshots from before it stay out of the log (their events are in the events table)."""
    url = (
        f"sqlite:///{tmp_path / 'old.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_postgres_url")
    )
    grace = build(make_settings(url))
    grace.registry.register_model("fraud", "1")
    grace.close()
    engine = make_engine(url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0004")
    engine.dispose()
    for _ in range(3):
        _old_snapshot_row(url)  # ids 1..3 from the restored serial, below no event's seq

    grace = build(make_settings(url))
    try:
        asyncio.run(
            grace.registry.record_performance_snapshot(snapshot("fraud", "1", at=datetime.now(UTC)))
        )
        grace.registry.update_model("fraud", "1", description="after the upgrade")
        logged = grace.events.list_events(after_seq=0)
    finally:
        grace.close()
    seqs = [e.seq or 0 for e in logged]
    assert seqs == sorted(set(seqs))
    types = [e.event_type for e in logged]
    assert types[-2:] == ["model.performance_snapshot", "model.updated"]
    assert types.count("model.performance_snapshot") == 1
    assert seqs[-2] > 3
