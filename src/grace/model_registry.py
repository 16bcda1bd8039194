"""The guide's import path ``backend.services.model_registry``, as a thin facade.

It re-exports what the guide (and Grace's own client) name from
:mod:`grace.services.model_registry`, and gives ``get_registry()``: the process-wide
instance built from the environment (see :func:`grace.bootstrap.default`).
"""

from __future__ import annotations

from grace.bootstrap import default
from grace.services.model_registry import (
    DeploymentStage,
    ModelEntry,
    ModelPerformanceSnapshot,
    ModelRegistry,
)
from grace.services.results import (
    BatchItem,
    BatchResult,
    FleetHealth,
    FleetIssue,
    HealthSummary,
    RollbackCheck,
    RollbackResult,
    SnapshotResult,
)

__all__ = [
    "BatchItem",
    "BatchResult",
    "DeploymentStage",
    "FleetHealth",
    "FleetIssue",
    "HealthSummary",
    "ModelEntry",
    "ModelPerformanceSnapshot",
    "ModelRegistry",
    "RollbackCheck",
    "RollbackResult",
    "SnapshotResult",
    "get_registry",
]


def get_registry() -> ModelRegistry:
    """The process-wide registry, configured from settings."""
    return default().registry
