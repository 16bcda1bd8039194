"""Several processes promoting and rolling back one model at once never leave two in production."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from grace.adapters.sqlstore.engine import make_engine
from grace.adapters.sqlstore.schema import model_versions
from grace.bootstrap import build
from grace.domain.stages import DeploymentStage
from grace.errors import GraceError
from tests.conftest import make_settings
from tests.helpers import register

MODEL = "contended_model"
VERSIONS = [f"1.{i}" for i in range(6)]
WORKERS = 4
SECONDS = 3.0


def _writer(url: str, seed: int, seconds: float, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Promote, re-qualify and roll back at random until time is up; report what happened."""
    grace = build(make_settings(url))
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            version = rng.choice(VERSIONS)
            try:
                if rng.random() < 0.25:
                    asyncio.run(grace.registry.rollback(MODEL, f"worker {seed}"))
                    outcomes["rollback"] += 1
                elif grace.registry.get_model(MODEL, version).status is DeploymentStage.ROLLBACK:
                    grace.registry.update_deployment_status(MODEL, DeploymentStage.STAGING, version)
                    outcomes["requalify"] += 1
                else:
                    grace.registry.update_deployment_status(
                        MODEL, DeploymentStage.PRODUCTION, version
                    )
                    outcomes["promote"] += 1
            except GraceError as exc:  # refusals are expected under contention
                outcomes[type(exc).__name__] += 1
    except Exception as exc:  # noqa: BLE001 - report anything unexpected to the test
        outcomes[f"UNEXPECTED {type(exc).__name__}: {exc}"] += 1
    finally:
        grace.close()
    results.put(dict(outcomes))


def _run_contention(url: str) -> None:
    setup = build(make_settings(url))
    for version in VERSIONS:
        register(setup.registry, MODEL, version)
    setup.registry.update_deployment_status(MODEL, DeploymentStage.PRODUCTION, VERSIONS[0])
    setup.close()

    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()  # type: ignore[type-arg]
    workers = [
        context.Process(target=_writer, args=(url, seed, SECONDS, results))
        for seed in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    engine = make_engine(url)
    worst = 0
    deadline = time.monotonic() + SECONDS + 20
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        with engine.connect() as conn:
            count = conn.execute(
                select(func.count()).where(model_versions.c.stage == "production")
            ).scalar_one()
        worst = max(worst, count)
        time.sleep(0.005)
    reports = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    engine.dispose()

    totals: Counter[str] = Counter()
    for report in reports:
        totals.update(report)
    assert not [k for k in totals if k.startswith("UNEXPECTED")], totals
    assert totals["promote"] + totals["rollback"] > 20, totals
    assert worst <= 1

    check = build(make_settings(url))
    try:
        production = [
            e for e in check.registry.list_models(model_id=MODEL) if e.status.value == "production"
        ]
        assert len(production) == 1
        assert (
            check.registry.production_version_at(MODEL, check.clock.now()) == production[0].version
        )
        # Replaying the append-only history gives exactly the stages in the table.
        replayed: dict[str, str] = {}
        for change in check.registry.get_stage_history(MODEL):
            if change.from_stage is not None:
                assert replayed[change.version] == change.from_stage.value
            replayed[change.version] = change.to_stage.value
        assert replayed == {
            e.version: e.status.value for e in check.registry.list_models(model_id=MODEL)
        }
    finally:
        check.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_writers_on_postgres_keep_one_production_version(postgres_url: str) -> None:
    """Four processes contending on PostgreSQL: at most one production version at every moment."""
    _run_contention(postgres_url)


@pytest.mark.slow
def test_concurrent_writers_on_sqlite_keep_one_production_version(sqlite_url: str) -> None:
    """The same contention on the embedded database."""
    _run_contention(sqlite_url)
