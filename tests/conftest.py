"""Fixtures shared by every test: databases (SQLite always, PostgreSQL when reachable), a fake clock
and a wired Grace.

PostgreSQL tests skip with a clear message when no server answers, except under CI (CI=true),
where a missing server fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from grace.adapters.sqlstore import migrate
from grace.adapters.sqlstore.engine import make_engine
from grace.adapters.sqlstore.schema import metadata
from grace.bootstrap import Grace, build
from grace.clock import FakeClock
from grace.settings import Settings

PG_ADMIN_URL = os.environ.get(
    "GRACE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def service_missing(what: str, why: object) -> None:
    """Skip on a laptop, fail under CI: a service test that did not run proves nothing."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI (CI=true) but is not reachable: {why}")
    pytest.skip(f"{what} is not reachable ({why}); start it to run this test")


_APT_UPDATED: list[bool] = []


def debian_package(package: str, executable: str) -> str:
    """The path of ``executable``, installing Debian's ``package`` with apt-get when it is
    missing and we may (root); otherwise a skip (a failure under CI) that says how to get it."""
    found = shutil.which(executable)
    if found:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() == 0 and apt:
        if not _APT_UPDATED:
            subprocess.run([apt, "update", "-qq"], capture_output=True, check=False)
            _APT_UPDATED.append(True)
        subprocess.run(
            [apt, "install", "-y", "-qq", package],
            capture_output=True,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which(executable)
        if found:
            return found
    service_missing(f"the Debian package {package}", f"`apt-get install {package}` did not give it")
    raise AssertionError("unreachable")  # service_missing skips or fails


def make_settings(database_url: str, **overrides: object) -> Settings:
    return Settings(database_url=database_url, **overrides)  # type: ignore[arg-type]


# -- SQLite ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once keeps the suite fast)."""
    path = tmp_path_factory.mktemp("template") / "grace.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "grace.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


# -- PostgreSQL ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres_server() -> str:
    try:
        engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server"
        service_missing(f"PostgreSQL at {PG_ADMIN_URL}", exc)
    return PG_ADMIN_URL


def create_postgres_database(admin_url: str) -> str:
    name = f"grace_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fresh_postgres_url(postgres_server: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own (not migrated)."""
    url = create_postgres_database(postgres_server)
    yield url
    drop_postgres_database(postgres_server, url)


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    url = create_postgres_database(postgres_server)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    drop_postgres_database(postgres_server, url)


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The session's migrated database, emptied before the test."""
    engine = make_engine(postgres_database)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres_database


# -- both -------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def grace(sqlite_url: str, clock: FakeClock) -> Iterator[Grace]:
    """A wired Grace on SQLite with a fake clock."""
    instance = build(make_settings(sqlite_url), clock=clock)
    yield instance
    instance.close()


@pytest.fixture
def any_grace(database_url: str, clock: FakeClock) -> Iterator[Grace]:
    """A wired Grace on each database in turn."""
    instance = build(make_settings(database_url), clock=clock)
    yield instance
    instance.close()


# -- NATS ------------------------------------------------------------------------------------
NATS_URL = os.environ.get("GRACE_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
async def nats_server() -> str:
    """A NATS server with JetStream (``.ci/run`` starts one when it is down)."""
    import nats  # noqa: PLC0415 - only the NATS tests need the client

    try:
        client = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
        try:
            await client.jetstream().account_info()
        finally:
            await client.close()
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server"
        service_missing(f"NATS with JetStream at {NATS_URL}", exc)
    return NATS_URL


# -- Alertmanager ------------------------------------------------------------------------------
_ALERTMANAGER_CONFIG = """\
route:
  receiver: nobody
  group_wait: 1h
receivers:
  - name: nobody
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Prometheus Alertmanager on a loopback port of its own (clustering off), from
    Debian's prometheus-alertmanager (installed when missing and we may); its base URL."""
    import socket  # noqa: PLC0415
    import time  # noqa: PLC0415

    import httpx  # noqa: PLC0415

    binary = debian_package("prometheus-alertmanager", "prometheus-alertmanager")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "alertmanager.yml"
    config.write_text(_ALERTMANAGER_CONFIG)
    log = (tmp_path / "alertmanager.log").open("w")
    child = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                service_missing("Alertmanager", (tmp_path / "alertmanager.log").read_text())
            time.sleep(0.1)
        yield base
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)
        log.close()
