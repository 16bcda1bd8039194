"""API token scopes and the one rule that decides what a token may do."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from grace.domain.timeutil import isoformat
from grace.errors import InvalidInput

__all__ = ["ApiToken", "Scope", "allows", "parse_scopes"]


class Scope(StrEnum):
    READ = "read"  # look at anything
    INGEST = "ingest"  # post performance snapshots
    WRITE = "write"  # register, update, promote, configure thresholds
    OPERATE = "operate"  # roll back, act on incidents, run playbooks, remediate
    ADMIN = "admin"  # manage tokens; implies every other scope


def allows(granted: Iterable[Scope], needed: Scope) -> bool:
    """True when a token holding ``granted`` may do what needs ``needed``."""
    held = set(granted)
    return needed in held or Scope.ADMIN in held


def parse_scopes(values: Iterable[object]) -> frozenset[Scope]:
    scopes: set[Scope] = set()
    for value in values:
        try:
            scopes.add(Scope(str(value).strip().lower()))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise InvalidInput("scopes", f"{value!r} is not a scope; expected {known}") from None
    if not scopes:
        raise InvalidInput("scopes", "name at least one scope")
    return frozenset(scopes)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as the registry knows it; the secret itself is never stored, only its hash."""

    token_id: str
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "name": self.name,
            "scopes": sorted(s.value for s in self.scopes),
            "created_at": isoformat(self.created_at),
            "revoked_at": isoformat(self.revoked_at),
            "last_used_at": isoformat(self.last_used_at),
            "active": self.active,
        }
