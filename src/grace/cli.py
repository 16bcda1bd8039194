"""The ``grace`` command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from grace.adapters.sqlstore import migrate
from grace.adapters.sqlstore.engine import make_engine, normalise_url
from grace.errors import GraceError
from grace.settings import Settings, load_settings

DEMO_DATABASE = "sqlite:///./grace-demo.db"


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
def demo(database_url: str) -> None:
    """Register a fleet, feed it snapshots, degrade one model and watch Grace heal it."""
    from grace.demo import run_demo  # noqa: PLC0415 - keep `grace --help` fast

    if database_url == DEMO_DATABASE:
        for suffix in ("", "-wal", "-shm"):
            Path(f"grace-demo.db{suffix}").unlink(missing_ok=True)
    try:
        run_demo(_settings(database_url))
    except GraceError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"\nEverything above is stored in {database_url}")


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
def db_upgrade(database_url: str | None) -> None:
    """Bring the schema to this version's head revision."""
    settings = _settings(database_url)
    try:
        revision = migrate.upgrade(make_engine(settings.database_url))
    except GraceError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo(f"{normalise_url(settings.database_url).render_as_string()} is at {revision}")


@db.command("current")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
def db_current(database_url: str | None) -> None:
    """Show the schema revision of the database and whether it is current."""
    settings = _settings(database_url)
    engine = make_engine(settings.database_url)
    try:
        current = migrate.current_revision(engine)
        migrate.check(engine)
    except GraceError as exc:
        click.echo(f"revision {current}: {exc.detail}")
        sys.exit(1)
    click.echo(f"revision {current} (head)")
