"""Every code block of README.md runs as written, against a fresh SQLite file.

The first shell block holds the two quick-start commands: `./dev test` is what CI runs (so this
suite is its proof), and `./dev serve` runs `grace serve`, which tests/e2e/test_serve.py drives.
Every other shell block runs here, line by line, with the project's `grace` on the PATH.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)

# Runs a block that may use top-level await (as the README's examples do) in one event loop.
RUNNER = """
import ast, asyncio, sys, types
source = sys.stdin.read()
code = compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
namespace = {"__name__": "__readme__"}
result = eval(code, namespace)
if isinstance(result, types.CoroutineType):
    asyncio.run(result)
"""


def _blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README.read_text()) if lang == language]


def test_the_readme_has_the_two_quick_start_commands() -> None:
    """The first shell block starts the service and runs the tests, as CI expects."""
    first = _blocks("bash")[0]
    assert first.splitlines()[0].startswith("./dev serve")
    assert first.splitlines()[1].startswith("./dev test")


@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_each_python_block_of_the_readme_runs(index: int, tmp_path: Path) -> None:
    """The block runs to the end without an error, on its own database."""
    done = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=_blocks("python")[index],
        env={"GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'readme.db'}", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("index", range(1, len(_blocks("bash"))))
def test_each_other_shell_block_of_the_readme_runs(index: int, tmp_path: Path) -> None:
    """Each command of the block succeeds, on its own database."""
    script = "set -euo pipefail\n" + _blocks("bash")[index]
    done = subprocess.run(
        ["/bin/bash", "-c", script],
        cwd=tmp_path,
        env={
            "GRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'readme.db'}",
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
