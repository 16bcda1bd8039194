"""Rules about the code's shape that a reader should be able to rely on."""

from __future__ import annotations

import ast
from pathlib import Path

import grace

PACKAGE = Path(grace.__file__).parent
# The one way async code runs blocking database work (grace.services.runner); the HTTP
# client's threads carry no database work.
MAY_START_THREADS = {PACKAGE / "services" / "runner.py", PACKAGE / "client.py"}


def _calls_to_thread(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "to_thread"
    ]


def test_only_the_runner_hands_database_work_to_threads() -> None:
    """Every module but grace.runner (and the HTTP client) goes through Grace.run."""
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in MAY_START_THREADS and (lines := _calls_to_thread(path))
    }
    assert found == {}


def test_the_rule_sees_a_call_to_thread(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import asyncio\n\nasync def f():\n    await asyncio.to_thread(print)\n")
    assert _calls_to_thread(sample) == [4]
