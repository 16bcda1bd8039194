"""grace maintenance, grace playbooks and grace remediation: people in the loop of the
remediation pipeline (maintenance windows, approvals, a model's policy and breaker)."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime, timedelta

import click

from grace.cli.common import DB_OPTION, open_grace, reported
from grace.domain.guardrails import MaintenanceWindow, RemediationPolicy
from grace.domain.records import PlaybookExecution
from grace.errors import InvalidInput

ACTOR_OPTION = click.option(
    "--actor", default=None, help="Who decides (recorded); defaults to cli:<your login>."
)


def _actor(given: str | None) -> str:
    if given:
        return given
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in this environment
        return "cli"


def _when(field: str, value: str | None, default: datetime) -> datetime:
    """An ISO 8601 time (without an offset: UTC), ``now``, or ``+90m`` / ``+2h`` from now."""
    if value is None or value == "now":
        return default
    if value.startswith("+") and value[-1:] in ("m", "h") and value[1:-1].isdigit():
        amount = int(value[1:-1])
        return datetime.now(UTC) + (
            timedelta(minutes=amount) if value.endswith("m") else timedelta(hours=amount)
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a time (ISO 8601, now, +90m or +2h)") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _window_line(w: MaintenanceWindow) -> str:
    shown = w.to_dict()
    state = " removed" if w.removed_at else ""
    return (
        f"{w.id:>4}  {w.model_id or '(every model)':<24} {shown['starts_at']} -> "
        f"{shown['ends_at']}  on end: {w.on_end.value}  by {w.created_by or '-'}{state}  "
        f"{w.reason}"
    )


@click.group()
def maintenance() -> None:
    """Maintenance windows: automatic remediation and paging held back for a while."""


@maintenance.command("add")
@click.option("--model", "model_id", default=None, help="The model (every model if left out).")
@click.option("--start", default=None, help="ISO 8601, now or +30m (default now).")
@click.option("--end", required=True, help="ISO 8601, or +90m / +2h from now.")
@click.option("--reason", required=True, help="Why (shown on held actions).")
@click.option(
    "--on-end",
    type=click.Choice(["act", "page"]),
    default="act",
    show_default=True,
    help="On a model still failing when the window ends: page and remediate, or page only.",
)
@ACTOR_OPTION
@DB_OPTION
@reported
def maintenance_add(
    model_id: str | None,
    start: str | None,
    end: str,
    reason: str,
    on_end: str,
    actor: str | None,
    database_url: str | None,
) -> None:
    now = datetime.now(UTC)
    with open_grace(database_url) as grace:
        window = asyncio.run(
            grace.windows.create(
                model_id,
                _when("starts_at", start, now),
                _when("ends_at", end, now),
                reason,
                on_end=on_end,
                created_by=_actor(actor),
            )
        )
    click.echo(f"created maintenance window {window.id}")
    click.echo(_window_line(window))


@maintenance.command("list")
@click.option("--model", "model_id", default=None, help="This model's and every model's.")
@click.option("--all", "include_past", is_flag=True, help="Past and removed windows too.")
@DB_OPTION
@reported
def maintenance_list(model_id: str | None, include_past: bool, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        windows = grace.windows.list_windows(model_id, include_past=include_past)
    if not windows:
        click.echo("no maintenance windows")
    for window in windows:
        click.echo(_window_line(window))


@maintenance.command("remove")
@click.argument("window_id", type=int)
@DB_OPTION
@reported
def maintenance_remove(window_id: int, database_url: str | None) -> None:
    """End a window now; what it held is acted on."""
    with open_grace(database_url) as grace:
        window = asyncio.run(grace.windows.remove(window_id))
    click.echo(f"removed maintenance window {window.id}")


def _run_line(run: PlaybookExecution) -> str:
    who = f" by {run.decided_by}" if run.decided_by else ""
    why = f" ({run.reason})" if run.reason else ""
    return (
        f"playbook run #{run.id} {run.playbook} of {run.resource_id}: {run.status.value}{why}{who}"
    )


@click.group()
def playbooks() -> None:
    """Playbook runs: approve or deny a remediation that waits for a human."""


@playbooks.command("approve")
@click.argument("execution_id", type=int)
@ACTOR_OPTION
@DB_OPTION
@reported
def playbooks_approve(execution_id: int, actor: str | None, database_url: str | None) -> None:
    """The run acts now; this waits for it to finish."""
    with open_grace(database_url) as grace:
        run = asyncio.run(grace.approvals.approve(execution_id, _actor(actor)))
    click.echo(_run_line(run))


@playbooks.command("deny")
@click.argument("execution_id", type=int)
@ACTOR_OPTION
@DB_OPTION
@reported
def playbooks_deny(execution_id: int, actor: str | None, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        run = asyncio.run(grace.approvals.deny(execution_id, _actor(actor)))
    click.echo(_run_line(run))


@playbooks.command("registered")
@DB_OPTION
@reported
def playbooks_registered(database_url: str | None) -> None:
    """The playbooks this installation has: the built-in ones and the installed entry
    points (group grace.playbooks), with their steps, timeouts and retries."""
    with open_grace(database_url) as grace:
        found = grace.engine.playbooks
        default_timeout = grace.engine.step_timeout
    for playbook in found:
        click.echo(f"{playbook.name} (for {playbook.resource_type}): {playbook.description}")
        for step in playbook.steps:
            shown = step.to_dict(default_timeout)
            click.echo(
                f"  {step.name}: timeout {shown['timeout_seconds']:g} s, retries {step.retries}"
            )


@playbooks.command("list")
@click.option("--model", "model_id", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@DB_OPTION
@reported
def playbooks_list(model_id: str | None, limit: int, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        runs = grace.engine.list_executions(model_id, limit=limit)
    for run in runs:
        click.echo(_run_line(run))


def _policy_lines(policy: RemediationPolicy) -> list[str]:
    breaker = (
        f"open since {policy.to_dict()['breaker']['opened_at']}: {policy.breaker_reason}"
        if policy.breaker_open
        else "closed"
    )
    return [
        f"remediation policy of {policy.model_id}",
        f"  require approval: {'yes' if policy.require_approval else 'no'}",
        f"  dry run:          {'yes' if policy.dry_run else 'no'}",
        f"  max per hour:     {policy.max_per_hour if policy.max_per_hour is not None else '-'}",
        f"  runbook:          {policy.runbook_url or '-'}",
        f"  playbook:         {policy.playbook or 'model_rollback'}",
        f"  circuit breaker:  {breaker}",
    ]


@click.group()
def remediation() -> None:
    """A model's remediation policy: approvals, dry runs, its rate limit, runbook, breaker."""


@remediation.command("show")
@click.argument("model_id")
@DB_OPTION
@reported
def remediation_show(model_id: str, database_url: str | None) -> None:
    with open_grace(database_url) as grace:
        policy = grace.policies.get(model_id)
    for line in _policy_lines(policy):
        click.echo(line)


@remediation.command("set")
@click.argument("model_id")
@click.option("--require-approval/--no-require-approval", default=None)
@click.option("--dry-run/--no-dry-run", default=None)
@click.option("--max-per-hour", type=int, default=None, help="A number, or -1 to clear.")
@click.option("--runbook-url", default=None, help="A URL, or '' to clear.")
@click.option(
    "--playbook",
    default=None,
    help="The playbook automatic remediation runs (grace playbooks registered), "
    "or '' for the built-in model_rollback.",
)
@DB_OPTION
@reported
def remediation_set(
    model_id: str,
    require_approval: bool | None,
    dry_run: bool | None,
    max_per_hour: int | None,
    runbook_url: str | None,
    playbook: str | None,
    database_url: str | None,
) -> None:
    changes: dict[str, object] = {}
    if require_approval is not None:
        changes["require_approval"] = require_approval
    if dry_run is not None:
        changes["dry_run"] = dry_run
    if max_per_hour is not None:
        changes["max_per_hour"] = None if max_per_hour == -1 else max_per_hour
    if runbook_url is not None:
        changes["runbook_url"] = runbook_url or None
    if playbook is not None:
        changes["playbook"] = playbook or None
    with open_grace(database_url) as grace:
        policy = asyncio.run(grace.policies.update(model_id, changes, actor=_actor(None)))
    for line in _policy_lines(policy):
        click.echo(line)


@remediation.command("close-breaker")
@click.argument("model_id")
@ACTOR_OPTION
@DB_OPTION
@reported
def remediation_close_breaker(model_id: str, actor: str | None, database_url: str | None) -> None:
    """Turn automatic remediation back on after the circuit breaker switched it off."""
    with open_grace(database_url) as grace:
        policy = asyncio.run(grace.policies.close_breaker(model_id, actor=_actor(actor)))
    click.echo(f"automatic remediation of {policy.model_id} is back on")


@click.command()
@click.option("--open-incidents", is_flag=True, help="A LOW incident per model not healable.")
@DB_OPTION
@reported
def drill(open_incidents: bool, database_url: str | None) -> None:
    """A rollback drill: model_rollback as a dry run for every production model."""
    with open_grace(database_url) as grace:
        report = asyncio.run(grace.drills.run(open_incidents=open_incidents))
    click.echo(
        f"rollback drill over {report.models} production models: "
        f"{len(report.healable)} healable, {len(report.findings)} not"
    )
    for model, plan in sorted(report.healable.items()):
        click.echo(f"  ok    {model}: {plan['from_version']} -> {plan['to_version']}")
    for model, found in sorted(report.findings.items()):
        click.echo(f"  FAIL  {model}: {found['kind']}: {found['detail']}")
    if report.incidents:
        click.echo(f"opened incidents {', '.join(map(str, report.incidents))}")
