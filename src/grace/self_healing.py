"""The guide's import path ``backend.services.self_healing``, as a thin facade.

It re-exports what the guide (and Grace's own client) name from
:mod:`grace.services.self_healing`, and gives ``get_self_healing_engine()``: the
process-wide instance built from the environment (see :func:`grace.bootstrap.default`).
"""

from __future__ import annotations

from grace.bootstrap import default
from grace.services.self_healing import (
    Playbook,
    PlaybookRun,
    PlaybookStep,
    SelfHealingEngine,
)

__all__ = [
    "Playbook",
    "PlaybookRun",
    "PlaybookStep",
    "SelfHealingEngine",
    "get_self_healing_engine",
]


def get_self_healing_engine() -> SelfHealingEngine:
    """The process-wide engine, configured from settings."""
    return default().engine
