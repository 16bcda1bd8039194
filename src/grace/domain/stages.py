"""Deployment stages and the transitions allowed between them.

The table below is the single copy of the lifecycle rule; the registry, the
rollback path and the HTTP layer all ask :func:`is_allowed`.
"""

from __future__ import annotations

from enum import StrEnum

from grace.errors import InvalidInput

__all__ = ["ALLOWED_TRANSITIONS", "DeploymentStage", "is_allowed", "parse_stage"]


class DeploymentStage(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    CANARY = "canary"
    PRODUCTION = "production"
    ROLLBACK = "rollback"
    ARCHIVED = "archived"


_S = DeploymentStage

# Why these edges:
# - any pre-production stage may go straight to production (the guide's Example 3
#   promotes whatever it validated); the governance gates guard that door;
# - production leaves only to ROLLBACK (it degraded) or ARCHIVED (it was replaced);
# - a rolled-back version is latched: it must be re-qualified through development,
#   staging or canary before it can reach production again (the table forbids the
#   direct edge; grace.domain.history.needs_requalification closes the detour
#   through ARCHIVED, which needs the version's history);
# - an archived version may return to production, which is how a rollback restores
#   the previous stable version and how an operator re-promotes an old release.
ALLOWED_TRANSITIONS: dict[DeploymentStage, frozenset[DeploymentStage]] = {
    _S.DEVELOPMENT: frozenset({_S.STAGING, _S.CANARY, _S.PRODUCTION, _S.ARCHIVED}),
    _S.STAGING: frozenset({_S.DEVELOPMENT, _S.CANARY, _S.PRODUCTION, _S.ARCHIVED}),
    _S.CANARY: frozenset({_S.STAGING, _S.PRODUCTION, _S.ROLLBACK, _S.ARCHIVED}),
    _S.PRODUCTION: frozenset({_S.ROLLBACK, _S.ARCHIVED}),
    _S.ROLLBACK: frozenset({_S.DEVELOPMENT, _S.STAGING, _S.ARCHIVED}),
    _S.ARCHIVED: frozenset({_S.DEVELOPMENT, _S.STAGING, _S.PRODUCTION}),
}


def is_allowed(from_stage: DeploymentStage, to_stage: DeploymentStage) -> bool:
    """True when a version in ``from_stage`` may move to ``to_stage``."""
    return to_stage in ALLOWED_TRANSITIONS[from_stage]


def parse_stage(value: object, field: str = "stage") -> DeploymentStage:
    """Turn ``value`` (a stage or its name, any case) into a stage, or raise InvalidInput."""
    if isinstance(value, DeploymentStage):
        return value
    if isinstance(value, str):
        try:
            return DeploymentStage(value.strip().lower())
        except ValueError:
            pass
    known = ", ".join(s.value for s in DeploymentStage)
    raise InvalidInput(field, f"{value!r} is not a deployment stage; expected one of {known}")
