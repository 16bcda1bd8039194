"""Playbooks installed as Python entry points (group ``grace.playbooks``).

A package declares, in its ``pyproject.toml``::

    [project.entry-points."grace.playbooks"]
    restart_serving = "my_ops.playbooks:restart_serving"

where the object named is a :class:`~grace.services.playbook_steps.Playbook`, a list of
them, or a function of no arguments that returns either.  Every one installed is
registered with the engine when Grace is built (unless ``GRACE_PLAYBOOK_ENTRY_POINTS`` is
false); one that cannot be loaded, is not a well-formed playbook, or takes a name already
registered stops the start-up with an error naming the entry point.  A model runs one when
its remediation policy names it (``PATCH /models/{id}/remediation {"playbook": ...}``).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from grace.errors import InvalidInput, PlaybookPluginFailed
from grace.services.playbook_steps import Playbook, check_playbook
from grace.services.playbooks import MODEL_ROLLBACK
from grace.services.self_healing import SelfHealingEngine

__all__ = ["GROUP", "installed_playbooks", "register_installed"]

GROUP = "grace.playbooks"


def _load(entry: EntryPoint) -> list[Playbook]:
    label = f"{entry.name} = {entry.value}"
    try:
        found: object = entry.load()
    except Exception as exc:
        problem = f"could not be imported: {type(exc).__name__}: {exc}"
        raise PlaybookPluginFailed(label, problem) from exc
    if callable(found) and not isinstance(found, Playbook):
        try:
            found = found()
        except Exception as exc:
            raise PlaybookPluginFailed(label, f"raised {type(exc).__name__}: {exc}") from exc
    items = list(found) if isinstance(found, list | tuple) else [found]
    if not items:
        raise PlaybookPluginFailed(label, "gave no playbook")
    for item in items:
        try:
            check_playbook(item)
        except InvalidInput as exc:
            problem = f"is not a well-formed playbook: {exc.detail}"
            raise PlaybookPluginFailed(label, problem) from exc
    return [item for item in items if isinstance(item, Playbook)]


def installed_playbooks(
    group: str = GROUP, *, reserved: Iterable[str] = (MODEL_ROLLBACK,)
) -> list[Playbook]:
    """Every installed entry point's playbooks, in entry point name order; two of one name,
    or one taking a ``reserved`` (built-in) name, is an error naming the entry point."""
    taken = dict.fromkeys(reserved, "the built-in playbook")
    found: list[Playbook] = []
    for entry in sorted(entry_points(group=group), key=lambda e: e.name):
        for playbook in _load(entry):
            if playbook.name in taken:
                raise PlaybookPluginFailed(
                    f"{entry.name} = {entry.value}",
                    f"names its playbook {playbook.name!r}, as {taken[playbook.name]} does",
                )
            taken[playbook.name] = f"the entry point {entry.name!r}"
            found.append(playbook)
    return found


def register_installed(engine: SelfHealingEngine, playbooks: Iterable[Playbook]) -> list[str]:
    """Register ``playbooks`` (from :func:`installed_playbooks`) with ``engine``; their
    names."""
    names: list[str] = []
    for playbook in playbooks:
        engine.register_playbook(playbook)
        names.append(playbook.name)
    return names
