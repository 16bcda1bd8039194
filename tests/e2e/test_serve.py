"""`grace serve` as an operator runs it: secure by default, migrations first, real HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

GRACE = shutil.which("grace") or str(
    Path(__file__).resolve().parents[2] / ".venv" / "bin" / "grace"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(*args: str, env: dict[str, str]) -> Iterator[tuple[list[str], str]]:
    """Run `grace serve`; the list receives everything it printed once it has stopped."""
    port = _free_port()
    process = subprocess.Popen(
        [GRACE, "serve", "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield printed, base
    finally:
        process.terminate()
        try:
            out, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        printed.append(out)


def test_loopback_without_tokens_serves_open_and_says_so(tmp_path: Path) -> None:
    """On 127.0.0.1 with no token the API answers anonymously and the start-up says OPEN."""
    env = {"GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    with _serving("--host", "127.0.0.1", env=env) as (printed, base):
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200
        assert ready.json()["schema_revision"]
        created = httpx.post(
            f"{base}/api/model-registry/models",
            json={"model_id": "m", "version": "1"},
            timeout=5,
        )
        assert created.status_code == 201
        assert httpx.get(f"{base}/openapi.json", timeout=5).json()["info"]["title"]
    assert "serving OPEN on 127.0.0.1" in printed[0]


def test_public_address_without_tokens_is_refused(tmp_path: Path) -> None:
    """Asked to listen on 0.0.0.0 with no token, grace serve refuses to start."""
    done = subprocess.run(
        [GRACE, "serve", "--host", "0.0.0.0", "--port", str(_free_port())],  # noqa: S104
        env={**os.environ, "GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "refusing to listen on 0.0.0.0 with no API token" in done.stderr


def test_tokens_created_on_the_command_line_guard_the_api(tmp_path: Path) -> None:
    """After `grace tokens create`, requests need that token and its scope."""
    env = {**os.environ, "GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    made = subprocess.run(
        [GRACE, "tokens", "create", "--name", "ci", "--scope", "read"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    secret = made.stdout.strip().splitlines()[-1]
    assert secret.startswith("grc_")
    with _serving("--host", "127.0.0.1", env=env) as (printed, base):
        anonymous = httpx.get(f"{base}/api/model-registry/models", timeout=5)
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        auth = {"Authorization": f"Bearer {secret}"}
        assert (
            httpx.get(f"{base}/api/model-registry/models", headers=auth, timeout=5).status_code
            == 200
        )
        write = httpx.post(
            f"{base}/api/model-registry/models",
            json={"model_id": "m", "version": "1"},
            headers=auth,
            timeout=5,
        )
        assert write.status_code == 403
    assert secret not in printed[0]  # the secret is never logged
    listed = subprocess.run(
        [GRACE, "tokens", "list"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert "ci" in listed.stdout
    assert secret not in listed.stdout


def _create_token(env: dict[str, str], scope: str) -> str:
    made = subprocess.run(
        [GRACE, "tokens", "create", "--name", f"cli_{scope}", "--scope", scope],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


def test_revoking_the_last_token_never_opens_a_running_service(tmp_path: Path) -> None:
    """With two workers, after DELETE of the last token no worker serves anonymous requests."""
    env = {"GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}", "GRACE_TOKEN_CACHE_SECONDS": "0"}
    secret = _create_token(env, "admin")
    token_id = secret.split("_")[1]
    with _serving("--host", "127.0.0.1", "--workers", "2", env=env) as (_, base):
        api = f"{base}/api/model-registry"
        auth = {"Authorization": f"Bearer {secret}"}
        revoked = httpx.delete(f"{api}/tokens/{token_id}", headers=auth, timeout=5)
        assert revoked.status_code == 200, revoked.text
        # Fresh connections, so that both workers are asked.
        answers = {httpx.get(f"{api}/models", timeout=5).status_code for _ in range(20)}
        grab = httpx.post(f"{api}/tokens", json={"name": "x", "scopes": ["admin"]}, timeout=5)
    assert answers == {401}
    assert grab.status_code == 401


def test_the_first_token_guards_an_open_service_in_every_worker(tmp_path: Path) -> None:
    """Open on loopback with two workers; once a token exists, every worker wants it."""
    env = {"GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    with _serving("--host", "127.0.0.1", "--workers", "2", env=env) as (printed, base):
        api = f"{base}/api/model-registry"
        assert httpx.get(f"{api}/models", timeout=5).status_code == 200
        _create_token(env, "read")
        answers = {httpx.get(f"{api}/models", timeout=5).status_code for _ in range(20)}
    assert answers == {401}
    assert "serving OPEN" in printed[0]
