"""grace tokens: API tokens."""

from __future__ import annotations

import click

from grace.cli.common import open_grace, reported


@click.group()
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
@reported
def tokens_create(name: str, scopes: tuple[str, ...], database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        token, secret = grace.tokens.create(name, scopes)
    click.echo(f"created token {token.token_id} for {token.name} ({', '.join(sorted(scopes))})")
    click.echo("store this secret now; it is not shown again:")
    click.echo(secret)


@tokens.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@reported
def tokens_list(include_revoked: bool, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        for token in grace.tokens.list_tokens(include_revoked=include_revoked):
            state = "active" if token.active else "revoked"
            scopes = ",".join(sorted(s.value for s in token.scopes))
            click.echo(f"{token.token_id}  {token.name:<20} {scopes:<30} {state}")


@tokens.command("revoke")
@click.argument("token_id")
@click.option("--database-url", default=None, help="Defaults to GRACE_DATABASE_URL.")
@reported
def tokens_revoke(token_id: str, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        token = grace.tokens.revoke(token_id)
    click.echo(f"revoked {token.token_id} ({token.name})")
