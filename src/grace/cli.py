"""The ``grace`` command.

A refusal or a failure to reach the database is one line on stderr saying what is wrong and
how to fix it, with exit status 2; never a traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from grace.adapters.sqlstore import migrate
from grace.adapters.sqlstore.engine import make_engine, normalise_url
from grace.bootstrap import build
from grace.errors import GraceError, InvalidInput, StorageError
from grace.settings import Settings, load_settings

DEMO_DATABASE = "sqlite:///./grace-demo.db"
#: Exit status of a command refused for its input or its environment (as click's usage errors).
EXIT_REFUSED = 2

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _one_line(exc: GraceError) -> str:
    if isinstance(exc, StorageError):
        return (
            f"cannot use the database: {' '.join(exc.internal.split())} "
            "(check GRACE_DATABASE_URL or --database-url: the server must be running, the "
            "database must exist, and a SQLite file's directory must exist and be writable)"
        )
    if isinstance(exc, InvalidInput):
        return f"{exc.field}: {exc.detail}"
    return " ".join(exc.detail.split())


def _reported(command: Callable[_P, _T]) -> Callable[_P, _T]:
    """Turn the package's errors into one line on stderr and exit status 2."""

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return command(*args, **kwargs)
        except GraceError as exc:
            click.echo(f"grace: error: {_one_line(exc)}", err=True)
            sys.exit(EXIT_REFUSED)

    return run


def _settings(database_url: str | None) -> Settings:
    base = load_settings()
    if database_url:
        return base.model_copy(update={"database_url": database_url})
    return base


@click.group()
@click.version_option(package_name="grace")
def main() -> None:
    """Grace: a model registry that watches the models it serves and heals them."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.option(
    "--database-url",
    default=DEMO_DATABASE,
    show_default=True,
    help="Where the demo writes; the default demo file is recreated on every run.",
)
@_reported
def demo(database_url: str) -> None:
    """Register a fleet, feed it snapshots, degrade one model and watch Grace heal it."""
    from grace.demo import run_demo  # noqa: PLC0415 - keep `grace --help` fast

    if database_url == DEMO_DATABASE:
        for suffix in ("", "-wal", "-shm"):
            Path(f"grace-demo.db{suffix}").unlink(missing_ok=True)
    run_demo(_settings(database_url))
    click.echo(f"\nEverything above is stored in {database_url}")


@main.command()
@click.option("--host", default=None, help="Address to bind (default GRACE_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default GRACE_PORT, 8000).")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
@click.option(
    "--insecure", is_flag=True, help="Serve without API tokens on a non-loopback address."
)
@_reported
def serve(
    host: str | None,
    port: int | None,
    database_url: str | None,
    workers: int | None,
    insecure: bool,
) -> None:
    """Run the HTTP API (FastAPI on uvicorn); migrations run first."""
    from grace.server import serve as run  # noqa: PLC0415 - keep `grace --help` fast

    updates: dict[str, object] = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "database_url": database_url,
            "workers": workers,
        }.items()
        if v is not None
    }
    if insecure:
        updates["insecure"] = True
    settings = Settings.model_validate({**load_settings().model_dump(), **updates})
    run(settings)


@main.group()
def tokens() -> None:
    """API tokens: create (the secret is printed once), list, revoke."""


@tokens.command("create")
@click.option("--name", required=True, help="Who or what uses the token (shown as the actor).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["read", "ingest", "write", "operate", "admin"]),
    help="Repeat for several; admin implies all.",
)
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@_reported
def tokens_create(name: str, scopes: tuple[str, ...], database_url: str | None) -> None:
    grace = build(_settings(database_url))
    try:
        token, secret = grace.tokens.create(name, scopes)
    finally:
        grace.close()
    click.echo(f"created token {token.token_id} for {token.name} ({', '.join(sorted(scopes))})")
    click.echo("store this secret now; it is not shown again:")
    click.echo(secret)


@tokens.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@_reported
def tokens_list(include_revoked: bool, database_url: str | None) -> None:
    grace = build(_settings(database_url))
    try:
        for token in grace.tokens.list_tokens(include_revoked=include_revoked):
            state = "active" if token.active else "revoked"
            scopes = ",".join(sorted(s.value for s in token.scopes))
            click.echo(f"{token.token_id}  {token.name:<20} {scopes:<30} {state}")
    finally:
        grace.close()


@tokens.command("revoke")
@click.argument("token_id")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@_reported
def tokens_revoke(token_id: str, database_url: str | None) -> None:
    grace = build(_settings(database_url))
    try:
        token = grace.tokens.revoke(token_id)
    finally:
        grace.close()
    click.echo(f"revoked {token.token_id} ({token.name})")


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@_reported
def db_upgrade(database_url: str | None) -> None:
    """Bring the schema to this version's head revision."""
    settings = _settings(database_url)
    revision = migrate.upgrade(make_engine(settings.database_url))
    click.echo(f"{normalise_url(settings.database_url).render_as_string()} is at {revision}")


@db.command("current")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@_reported
def db_current(database_url: str | None) -> None:
    """Show the schema revision of the database and whether it is current."""
    settings = _settings(database_url)
    engine = make_engine(settings.database_url)
    current = migrate.current_revision(engine)
    try:
        migrate.check(engine)
    except GraceError as exc:
        click.echo(f"revision {current}: {exc.detail}")
        sys.exit(1)
    click.echo(f"revision {current} (head)")
