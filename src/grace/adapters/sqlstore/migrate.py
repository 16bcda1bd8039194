"""Schema migrations: Alembic scripts shipped in the package, run under a lock.

``upgrade`` brings a database to the code's head revision; ``check`` refuses a
database that is behind (unless the caller upgrades) or ahead of the code.
Several processes may start at once: on PostgreSQL an advisory lock, on SQLite
the write lock of ``BEGIN IMMEDIATE``, lets exactly one of them migrate.
"""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from grace.adapters.sqlstore.engine import WRITE_OPTION, translated
from grace.errors import SchemaMismatch

__all__ = ["alembic_config", "check", "current_revision", "head_revision", "upgrade"]

_LOCK_KEY = 0x67726163  # "grac"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("grace.adapters.sqlstore") / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise SchemaMismatch("the package ships no migrations")
    return head


def _known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    with translated(), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _verdict(current: str | None) -> str | None:
    """None when ``current`` is the head, else why not."""
    head = head_revision()
    if current == head:
        return None
    if current is not None and current not in _known_revisions():
        return (
            f"the database is at schema revision {current!r}, which this version of Grace "
            f"does not know (it expects {head!r}); it was probably written by a newer Grace. "
            "Refusing to run: upgrade Grace or point it at another database."
        )
    return (
        f"the database is at schema revision {current!r} but this code expects {head!r}; "
        "run `grace db upgrade`"
    )


def check(engine: Engine) -> None:
    """Raise SchemaMismatch unless the database is exactly at the code's head revision."""
    problem = _verdict(current_revision(engine))
    if problem:
        raise SchemaMismatch(problem)


def upgrade(engine: Engine) -> str:
    """Migrate to head under the migration lock; refuses a database newer than the code."""
    with translated(), engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            current = MigrationContext.configure(conn).get_current_revision()
            problem = _verdict(current)
            if problem and current is not None and current not in _known_revisions():
                raise SchemaMismatch(problem)
            if problem:
                command.upgrade(alembic_config(conn), "head")
    return head_revision()
