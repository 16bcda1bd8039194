"""The grace command: the demo, and the schema commands."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from grace.bootstrap import build
from tests.conftest import make_settings
from tests.helpers import register
from tests.plugins import install_plugin

GRACE = shutil.which("grace") or str(
    Path(__file__).resolve().parents[2] / ".venv" / "bin" / "grace"
)


def _grace(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRACE, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_shows_the_incident_and_the_rollback_from_the_database(tmp_path: Path) -> None:
    """`grace demo` registers a fleet, degrades one model, and reads the healing back."""
    done = _grace("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "monitor over 30 minutes: 5 healthy, 0 degraded, 0 failing" in out
    assert "High error rate: 8.50%, High OOD rate: 22.00%, Input distribution drift: 0.350" in out
    assert "production is now 3.1.5; 3.2.1 is rollback" in out
    assert "remediation: playbook model_rollback run #1 succeeded, 3.2.1 -> 3.1.5" in out
    steps = [line.split(".")[0] for line in out.splitlines() if line[:1].isdigit()]
    assert steps == ["1", "2", "3", "4", "5"]
    assert "{'" not in out  # no raw Python dict
    assert "Model performance degradation detected: Fraud Detector V3" in out
    assert "playbook run #1 model_rollback: succeeded" in out
    for step in ("find_previous_stable_version", "verify_rollback", "update_trust_metrics"):
        assert step in out
    assert "health of fraud_detector_v3 3.1.5: healthy" in out

    grace = build(make_settings(f"sqlite:///{tmp_path / 'grace-demo.db'}"))
    try:
        production = grace.registry.get_production_version("fraud_detector_v3")
        assert production is not None
        assert production.version == "3.1.5"
        assert len(grace.incidents.list_incidents()) == 1
    finally:
        grace.close()

    again = _grace("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # the demo database is recreated each run


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    """`grace db upgrade` migrates the configured database; `grace db current` reports it."""
    env = {"GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    before = _grace("db", "current", cwd=tmp_path, env=env)
    assert before.returncode == 1
    assert "grace db upgrade" in before.stdout
    upgraded = _grace("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    after = _grace("db", "current", cwd=tmp_path, env=env)
    assert after.returncode == 0
    assert "(head)" in after.stdout


@pytest.mark.parametrize(
    ("command", "url", "says"),
    [
        (("serve",), "sqlite:///{tmp}/no/such/dir/g.db", "unable to open database file"),
        (("db", "upgrade"), "sqlite:///{tmp}/no/such/dir/g.db", "unable to open database file"),
        (("tokens", "list"), "sqlite:///{tmp}/no/such/dir/g.db", "unable to open database file"),
        pytest.param(
            ("serve",),
            "postgresql://postgres@127.0.0.1:5432/grace_no_such_database",
            'database "grace_no_such_database" does not exist',
            marks=pytest.mark.postgres,
        ),
    ],
)
def test_a_database_that_cannot_be_used_is_one_line_and_exit_status_2(
    tmp_path: Path, command: tuple[str, ...], url: str, says: str
) -> None:
    """No traceback: one line that says what is wrong and what to check, and status 2."""
    done = _grace(*command, "--database-url", url.format(tmp=tmp_path), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("grace: error: cannot use the database")
    assert says in lines[0]
    assert "GRACE_DATABASE_URL" in lines[0]


def test_subscriptions_deliveries_and_dependents_from_the_command_line(tmp_path: Path) -> None:
    """add shows a generated secret once; list masks credentials; a refused target is one
    line naming the field; remove, and the dependents of a model."""
    env = {"GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    added = _grace(
        "subscriptions", "add", "--url", "https://ops:pw@93.184.215.14/hook",
        "--event-type", "model.rolled_back", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    secret = added.stdout.splitlines()[-1]
    assert secret.startswith("whsec_")
    listed = _grace("subscriptions", "list", cwd=tmp_path, env=env)
    assert "https://***@93.184.215.14/hook" in listed.stdout
    assert "pw" not in listed.stdout
    assert secret not in listed.stdout
    assert "model.rolled_back of *" in listed.stdout

    refused = _grace("subscriptions", "add", "--url", "http://10.1.2.3/x", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert refused.stderr.startswith("grace: error: url: 10.1.2.3 resolves to 10.1.2.3")
    nats = _grace(
        "subscriptions", "add", "--kind", "nats", "--url", "nats://127.0.0.1:4222",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert nats.returncode == 0, nats.stderr
    assert "whsec_" not in nats.stdout

    grace = build(make_settings(env["GRACE_DATABASE_URL"]))
    try:
        grace.registry.register_model("fraud", "1")
    finally:
        grace.close()
    dependent = _grace(
        "dependents", "add", "fraud", "--name", "billing", "--url", "https://93.184.215.14/b",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert dependent.returncode == 0, dependent.stderr
    assert "billing" in _grace("dependents", "list", "fraud", cwd=tmp_path, env=env).stdout
    assert _grace("deliveries", "list", cwd=tmp_path, env=env).returncode == 0
    missing = _grace("deliveries", "replay", "99", cwd=tmp_path, env=env)
    assert missing.returncode == 2
    assert "delivery 99 does not exist" in missing.stderr
    rotated = _grace("subscriptions", "rotate-secret", "1", cwd=tmp_path, env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.splitlines()[-1].startswith("whsec_")
    assert rotated.stdout.splitlines()[-1] != secret
    finished = _grace("subscriptions", "rotate-secret", "1", "--finish", cwd=tmp_path, env=env)
    assert "newest secret only" in finished.stdout
    assert _grace("subscriptions", "remove", "1", cwd=tmp_path, env=env).returncode == 0
    assert "93.184.215.14/hook" not in _grace("subscriptions", "list", cwd=tmp_path, env=env).stdout


def test_maintenance_windows_approvals_and_policies_from_the_command_line(
    tmp_path: Path,
) -> None:
    """maintenance add|list|remove, remediation show|set|close-breaker, playbooks
    approve|deny: each a line a person reads, a refusal one line naming the field."""
    env = {"GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    grace = build(make_settings(env["GRACE_DATABASE_URL"]))
    try:
        for version in ("1", "2"):
            register(grace.registry, "fraud", version, production=True)
        grace.registry.configure_model("fraud", auto_remediate=True)
    finally:
        grace.close()

    added = _grace(
        "maintenance", "add", "--model", "fraud", "--end", "+2h", "--reason", "db move",
        "--actor", "alice", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "created maintenance window 1" in added.stdout
    listed = _grace("maintenance", "list", cwd=tmp_path, env=env)
    assert "fraud" in listed.stdout
    assert "by alice" in listed.stdout
    assert "db move" in listed.stdout
    backwards = _grace(
        "maintenance", "add", "--start", "+2h", "--end", "+1h", "--reason", "x",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert backwards.returncode == 2
    assert backwards.stderr.startswith("grace: error: ends_at: must be after starts_at")
    removed = _grace("maintenance", "remove", "1", cwd=tmp_path, env=env)
    assert removed.returncode == 0, removed.stderr
    assert "no maintenance windows" in _grace("maintenance", "list", cwd=tmp_path, env=env).stdout

    made = _grace(
        "remediation", "set", "fraud", "--require-approval", "--max-per-hour", "2",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "require approval: yes" in made.stdout
    assert "max per hour:     2" in made.stdout
    shown = _grace("remediation", "show", "fraud", cwd=tmp_path, env=env)
    assert "circuit breaker:  closed" in shown.stdout
    not_open = _grace("remediation", "close-breaker", "fraud", cwd=tmp_path, env=env)
    assert not_open.returncode == 2
    assert "is not open" in not_open.stderr

    grace = build(make_settings(env["GRACE_DATABASE_URL"]))
    try:
        import asyncio  # noqa: PLC0415

        from tests.helpers import DEGRADED, snapshot  # noqa: PLC0415

        asyncio.run(
            grace.registry.record_performance_snapshot(
                snapshot("fraud", "2", at=grace.clock.now(), base=DEGRADED)
            )
        )
        (waiting,) = grace.engine.list_executions("fraud")
    finally:
        grace.close()
    assert waiting.status.value == "waiting_approval"
    approved = _grace(
        "playbooks", "approve", str(waiting.id), "--actor", "bob", cwd=tmp_path, env=env
    )
    assert approved.returncode == 0, approved.stderr
    assert f"playbook run #{waiting.id} model_rollback of fraud: succeeded" in approved.stdout
    assert "by bob" in approved.stdout
    twice = _grace("playbooks", "deny", str(waiting.id), cwd=tmp_path, env=env)
    assert twice.returncode == 2
    assert "not waiting_approval" in twice.stderr

    drilled = _grace("drill", cwd=tmp_path, env=env)
    assert drilled.returncode == 0, drilled.stderr
    assert "rollback drill over 1 production models" in drilled.stdout
    assert "FAIL  fraud: no_stable_version" in drilled.stdout  # 2 is rolled back; 1 is alone


def test_an_installed_playbook_is_listed_and_chosen_from_the_command_line(
    tmp_path: Path,
) -> None:
    """An entry point in the grace.playbooks group of an installed distribution (here on
    PYTHONPATH) is registered by every grace command; a model's policy can name it."""
    env = {
        "GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}",
        "PYTHONPATH": str(tmp_path / "site"),
    }
    install_plugin(tmp_path / "site")
    grace = build(make_settings(env["GRACE_DATABASE_URL"], playbook_entry_points=False))
    try:
        register(grace.registry, "fraud", "1", production=True)
    finally:
        grace.close()

    listed = _grace("playbooks", "registered", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "page_owner (for ml_model): Page the model's owner" in listed.stdout
    assert "  page_owner: timeout 300 s, retries 0" in listed.stdout
    assert "model_rollback (for ml_model)" in listed.stdout
    chosen = _grace(
        "remediation", "set", "fraud", "--playbook", "page_owner", cwd=tmp_path, env=env
    )
    assert chosen.returncode == 0, chosen.stderr
    assert "playbook:         page_owner" in chosen.stdout
    unknown = _grace("remediation", "set", "fraud", "--playbook", "nope", cwd=tmp_path, env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("grace: error: playbook: 'nope' is not a registered")
    back = _grace("remediation", "set", "fraud", "--playbook", "", cwd=tmp_path, env=env)
    assert "playbook:         model_rollback" in back.stdout
