"""grace demo, grace serve and grace db."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grace.adapters.sqlstore import migrate
from grace.adapters.sqlstore.engine import make_engine, normalise_url
from grace.cli.common import DEMO_DATABASE, reported, settings_for
from grace.errors import GraceError
from grace.settings import Settings, load_settings


@click.command()
@click.option(
    "--database-url",
    default=DEMO_DATABASE,
    show_default=True,
    help="Where the demo writes; the default demo file is recreated on every run.",
)
@reported
def demo(database_url: str) -> None:
    """Register a fleet, feed it snapshots, degrade one model and watch Grace heal it."""
    from grace.demo import run_demo  # noqa: PLC0415 - keep `grace --help` fast

    if database_url == DEMO_DATABASE:
        for suffix in ("", "-wal", "-shm"):
            Path(f"grace-demo.db{suffix}").unlink(missing_ok=True)
    run_demo(settings_for(database_url))
    click.echo(f"\nEverything above is stored in {database_url}")


@click.command()
@click.option("--host", default=None, help="Address to bind (default GRACE_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default GRACE_PORT, 8000).")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
@click.option(
    "--insecure", is_flag=True, help="Serve without API tokens on a non-loopback address."
)
@reported
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


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@reported
def db_upgrade(database_url: str | None) -> None:
    """Bring the schema to this version's head revision."""
    settings = settings_for(database_url)
    revision = migrate.upgrade(make_engine(settings.database_url))
    click.echo(f"{normalise_url(settings.database_url).render_as_string()} is at {revision}")


@db.command("current")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@reported
def db_current(database_url: str | None) -> None:
    """Show the schema revision of the database and whether it is current."""
    settings = settings_for(database_url)
    engine = make_engine(settings.database_url)
    current = migrate.current_revision(engine)
    try:
        migrate.check(engine)
    except GraceError as exc:
        click.echo(f"revision {current}: {exc.detail}")
        sys.exit(1)
    click.echo(f"revision {current} (head)")
