"""Rules about the code's shape that a reader should be able to rely on."""

from __future__ import annotations

import ast
from pathlib import Path

import grace

PACKAGE = Path(grace.__file__).parent
# The one way async code runs blocking database work (grace.services.runner); the HTTP
# client's threads carry no database work.
MAY_START_THREADS = {
    PACKAGE / "services" / "runner.py",
    PACKAGE / "client" / "transport.py",
    PACKAGE / "client" / "registry.py",
}


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


FACADES = {"grace.model_registry", "grace.incident_registry", "grace.self_healing", "grace.clarity"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_what_bootstrap_wires_never_imports_bootstrap_or_the_guides_facades() -> None:
    """The facades import bootstrap, which imports the services: no cycle, no late import."""
    layers = ("services", "domain", "adapters")
    found = {
        str(path.relative_to(PACKAGE)): sorted(bad)
        for layer in layers
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        if (bad := _imports(path) & (FACADES | {"grace.bootstrap"}))
    }
    assert found == {}


def test_the_domain_does_no_io() -> None:
    """grace.domain imports nothing of the adapters, the services or the outside world's I/O."""
    forbidden = ("grace.adapters", "grace.services", "grace.api", "sqlalchemy", "httpx", "asyncio")
    found = {
        str(path.relative_to(PACKAGE)): sorted(m for m in _imports(path) if m.startswith(forbidden))
        for path in sorted((PACKAGE / "domain").rglob("*.py"))
    }
    assert {k: v for k, v in found.items() if v} == {}
