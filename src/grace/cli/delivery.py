"""grace subscriptions, grace deliveries and grace dependents: events leaving the process."""

from __future__ import annotations

import asyncio

import click

from grace.cli.common import DB_OPTION, open_grace, reported, settings_for


@click.group()
def subscriptions() -> None:
    """Where events go: webhooks (signed CloudEvents) and NATS JetStream."""


@subscriptions.command("add")
@click.option(
    "--kind",
    type=click.Choice(["webhook", "nats", "pagerduty", "slack", "alertmanager"]),
    default="webhook",
    show_default=True,
)
@click.option(
    "--url",
    required=True,
    help="The webhook's URL, the NATS server's, PagerDuty's Events API "
    "(https://events.pagerduty.com), a Slack incoming webhook or an Alertmanager.",
)
@click.option(
    "--secret",
    default=None,
    help="Webhooks: whsec_... (generated when left out); PagerDuty: the routing key.",
)
@click.option("--event-type", "event_types", multiple=True, help="Only these; repeat for more.")
@click.option("--model", "model_ids", multiple=True, help="Only these models; repeat for more.")
@click.option("--tag", "tags", multiple=True, help="Only models with this tag; repeat for more.")
@click.option(
    "--min-severity",
    type=click.Choice(["low", "medium", "high", "critical"]),
    default=None,
    help="Only events that say at least this severity.",
)
@DB_OPTION
@reported
def subscriptions_add(
    kind: str,
    url: str,
    secret: str | None,
    event_types: tuple[str, ...],
    model_ids: tuple[str, ...],
    tags: tuple[str, ...],
    min_severity: str | None,
    database_url: str | None,
) -> None:
    with open_grace(database_url) as grace:
        created = asyncio.run(
            grace.subscriptions.create(
                kind,
                url,
                secret=secret,
                event_types=list(event_types) or None,
                model_ids=list(model_ids) or None,
                tags=list(tags) or None,
                min_severity=min_severity,
            )
        )
    made = created.subscription
    click.echo(f"created subscription {made.id}: {made.kind.value} {made.to_dict()['url']}")
    if created.generated_secret:
        click.echo("its signing secret, shown once (receivers verify with it):")
        click.echo(created.generated_secret)


@subscriptions.command("list")
@DB_OPTION
@reported
def subscriptions_list(database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        for sub in grace.subscriptions.list_subscriptions(limit=1000):
            shown = sub.to_dict()
            counts = grace.subscriptions.counts(sub.id)
            what = ",".join(sub.event_types or ["*"]) + " of " + ",".join(sub.model_ids or ["*"])
            tally = " ".join(f"{k}={v}" for k, v in counts.items())
            click.echo(f"{sub.id:>4}  {sub.kind.value:<7} {shown['status']:<8} {shown['url']}")
            click.echo(f"      {what}  cursor={sub.cursor}  {tally}")


@subscriptions.command("remove")
@click.argument("subscription_id", type=int)
@DB_OPTION
@reported
def subscriptions_remove(subscription_id: int, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        removed = grace.subscriptions.remove(subscription_id)
    click.echo(f"removed subscription {removed.id} ({removed.to_dict()['url']})")


@subscriptions.command("replay")
@click.argument("subscription_id", type=int)
@click.option("--from-seq", type=int, required=True, help="Deliver again from this seq on.")
@DB_OPTION
@reported
def subscriptions_replay(subscription_id: int, from_seq: int, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        reopened = grace.subscriptions.replay(subscription_id, from_seq)
    click.echo(
        f"subscription {subscription_id}: delivering again from seq {from_seq} "
        f"({reopened} earlier deliveries reopened)"
    )


@subscriptions.command("rotate-secret")
@click.argument("subscription_id", type=int)
@click.option("--secret", default=None, help="whsec_... (generated when left out).")
@click.option("--finish", is_flag=True, help="End the rotation: sign with the newest only.")
@DB_OPTION
@reported
def subscriptions_rotate_secret(
    subscription_id: int, secret: str | None, finish: bool, database_url: str | None
) -> None:
    """A new signing secret; the previous one keeps signing beside it until --finish."""
    with open_grace(database_url) as grace:
        if finish:
            grace.subscriptions.drop_previous_secret(subscription_id)
            click.echo(f"subscription {subscription_id} now signs with its newest secret only")
            return
        rotated = grace.subscriptions.rotate_secret(subscription_id, secret)
    click.echo(f"subscription {subscription_id} signs with two secrets until --finish")
    if rotated.generated_secret:
        click.echo("the new secret, shown once:")
        click.echo(rotated.generated_secret)


@click.group()
def deliveries() -> None:
    """What became of each event sent to a subscription; replay dead letters."""


@deliveries.command("list")
@click.option("--subscription", "subscription_id", type=int, default=None)
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@DB_OPTION
@reported
def deliveries_list(
    subscription_id: int | None, status: str | None, limit: int, database_url: str | None
) -> None:
    with open_grace(database_url) as grace:
        found = grace.subscriptions.deliveries(
            subscription_id=subscription_id, status=status, limit=limit
        )
    for d in found:
        last = d.last_status_code if d.last_status_code is not None else (d.last_error or "-")
        click.echo(
            f"{d.id:>6}  sub {d.subscription_id:<4} seq {d.seq:<8} {d.event_type:<28} "
            f"{d.model_id or '-':<20} {d.status.value:<9} tries={d.tries} last={last}"
        )


@deliveries.command("replay")
@click.argument("delivery_id", type=int)
@DB_OPTION
@reported
def deliveries_replay(delivery_id: int, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        replayed = grace.subscriptions.replay_delivery(delivery_id)
    click.echo(f"delivery {replayed.id} (seq {replayed.seq}) is pending again")


@click.group()
def dependents() -> None:
    """Services that use a model: each of its rollbacks is sent to them."""


@dependents.command("add")
@click.argument("model_id")
@click.option("--name", required=True, help="The dependent service's name.")
@click.option("--url", required=True, help="Its webhook URL.")
@click.option("--secret", default=None, help="whsec_... (generated when left out).")
@DB_OPTION
@reported
def dependents_add(
    model_id: str, name: str, url: str, secret: str | None, database_url: str | None
) -> None:
    with open_grace(database_url) as grace:
        created = asyncio.run(grace.subscriptions.add_dependent(model_id, name, url, secret))
    click.echo(
        f"{name} now hears of every rollback of {model_id} (subscription {created.subscription.id})"
    )
    if created.generated_secret:
        click.echo("its signing secret, shown once:")
        click.echo(created.generated_secret)


@dependents.command("list")
@click.argument("model_id")
@DB_OPTION
@reported
def dependents_list(model_id: str, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        for d in grace.subscriptions.dependents(model_id):
            click.echo(f"{d.dependent_name:<24} {d.to_dict()['url']}  (subscription {d.id})")


@dependents.command("remove")
@click.argument("model_id")
@click.option("--name", required=True)
@DB_OPTION
@reported
def dependents_remove(model_id: str, name: str, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        grace.subscriptions.remove_dependent(model_id, name)
    click.echo(f"removed dependent {name} of {model_id}")


@click.command()
@DB_OPTION
@reported
def deliver(database_url: str | None) -> None:
    """Run the delivery worker alone, until stopped (grace serve runs one beside its HTTP
    workers; run more, on other machines, to share the subscriptions)."""
    from grace.delivery_process import run_delivery  # noqa: PLC0415 - keep `grace --help` fast

    run_delivery(settings_for(database_url))
