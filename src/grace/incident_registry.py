"""The guide's import path ``backend.services.incident_registry``, as a thin facade.

It re-exports what the guide (and Grace's own client) name from
:mod:`grace.services.incident_registry`, and gives ``get_incident_registry()``: the
process-wide instance built from the environment (see :func:`grace.bootstrap.default`).
"""

from __future__ import annotations

from grace.bootstrap import default
from grace.services.incident_registry import (
    IncidentRegistry,
)

__all__ = [
    "IncidentRegistry",
    "get_incident_registry",
]


def get_incident_registry() -> IncidentRegistry:
    """The process-wide incidents, configured from settings."""
    return default().incidents
