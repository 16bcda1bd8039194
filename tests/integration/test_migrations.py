"""Schema migrations: the only way the schema changes; they match the code and refuse the future."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from grace.adapters.sqlstore import migrate
from grace.adapters.sqlstore.engine import make_engine
from grace.adapters.sqlstore.schema import metadata
from grace.bootstrap import build
from grace.errors import SchemaMismatch
from tests.conftest import make_settings


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
