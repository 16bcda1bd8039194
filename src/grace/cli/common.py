"""What every grace command shares: settings, opening Grace, and one-line errors."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import click

from grace.bootstrap import Grace, build
from grace.errors import GraceError, InvalidInput, StorageError
from grace.settings import Settings, load_settings

DEMO_DATABASE = "sqlite:///./grace-demo.db"
#: Exit status of a command refused for its input or its environment (as click's usage errors).
EXIT_REFUSED = 2

_P = ParamSpec("_P")
_T = TypeVar("_T")


def one_line(exc: GraceError) -> str:
    if isinstance(exc, StorageError):
        return (
            f"cannot use the database: {' '.join(exc.internal.split())} "
            "(check GRACE_DATABASE_URL or --database-url: the server must be running, the "
            "database must exist, and a SQLite file's directory must exist and be writable)"
        )
    if isinstance(exc, InvalidInput):
        return exc.detail  # "field: problem"
    return " ".join(exc.detail.split())


def reported(command: Callable[_P, _T]) -> Callable[_P, _T]:
    """Turn the package's errors into one line on stderr and exit status 2."""

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return command(*args, **kwargs)
        except GraceError as exc:
            click.echo(f"grace: error: {one_line(exc)}", err=True)
            sys.exit(EXIT_REFUSED)

    return run


def settings_for(database_url: str | None) -> Settings:
    base = load_settings()
    if database_url:
        return base.model_copy(update={"database_url": database_url})
    return base


@contextmanager
def open_grace(database_url: str | None) -> Iterator[Grace]:
    """A Grace on the database asked for, closed when the command is done."""
    grace = build(settings_for(database_url))
    try:
        yield grace
    finally:
        grace.close()


DB_OPTION = click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
