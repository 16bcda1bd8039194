"""The ``grace`` command.

A refusal or a failure to reach the database is one line on stderr saying what is wrong and
how to fix it, with exit status 2; never a traceback.
"""

from __future__ import annotations

import logging

import click

from grace.cli.delivery import deliver, deliveries, dependents, subscriptions
from grace.cli.remediation import drill, maintenance, playbooks, remediation
from grace.cli.service import db, demo, serve
from grace.cli.tokens import tokens

__all__ = ["main"]


@click.group()
@click.version_option(package_name="grace")
def main() -> None:
    """Grace: a model registry that watches the models it serves and heals them."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


for _command in (
    demo,
    serve,
    tokens,
    subscriptions,
    deliveries,
    dependents,
    deliver,
    maintenance,
    playbooks,
    remediation,
    drill,
    db,
):
    main.add_command(_command)
