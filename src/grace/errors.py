"""The one exception hierarchy of Grace.

Every refusal the core makes is one of these; the HTTP layer maps them to
problem+json in a single table and the client maps them back, so callers
catch the same types in-process and over the wire::

    GraceError
    ├── InvalidInput            bad value or shape; names the offending field
    ├── NotFound
    │   ├── ModelNotFound
    │   ├── VersionNotFound
    │   ├── NoProductionVersion
    │   ├── IncidentNotFound
    │   ├── ExecutionNotFound
    │   ├── PlaybookNotFound
    │   └── TokenNotFound
    ├── Conflict                the request is well formed but the state refuses it
    │   ├── VersionExists
    │   ├── InvalidTransition
    │   ├── NoStableVersion
    │   ├── ConcurrentChange
    │   └── GovernanceRefused   promotion blocked; lists every failed governance gate
    └── StorageError
        └── SchemaMismatch      the database schema is not the one this code expects

This module must never import anything from the rest of the package.
"""

from __future__ import annotations

__all__ = [
    "ConcurrentChange",
    "Conflict",
    "DeliveryNotFound",
    "DependentNotFound",
    "ExecutionNotFound",
    "GovernanceRefused",
    "GraceError",
    "IncidentNotFound",
    "InvalidInput",
    "InvalidTransition",
    "ModelNotFound",
    "NoProductionVersion",
    "NoStableVersion",
    "NotFound",
    "PlaybookNotFound",
    "SchemaMismatch",
    "StorageError",
    "SubscriptionNotFound",
    "TokenNotFound",
    "VersionExists",
    "VersionNotFound",
    "WindowNotFound",
    "error_field",
    "error_types",
]


class GraceError(Exception):
    """Base of every error Grace raises on purpose."""

    title = "Grace error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @classmethod
    def code(cls) -> str:
        """A stable name for the error type: ``ModelNotFound`` -> ``model-not-found``."""
        return "".join(f"-{c.lower()}" if c.isupper() else c for c in cls.__name__).lstrip("-")

    def attributes(self) -> dict[str, object]:
        """What the error carries besides its detail (model_id, field, failed_gates, ...)."""
        return {
            k: v
            for k, v in vars(self).items()
            if k != "detail" and not k.startswith("_") and isinstance(v, str | int | float | list)
        }

    @classmethod
    def rebuild(cls, detail: str, **attributes: object) -> GraceError:
        """The error as it was raised elsewhere (the client uses this for problem+json)."""
        error = cls.__new__(cls)
        GraceError.__init__(error, detail)
        for name, value in attributes.items():
            setattr(error, name, value)
        return error


def error_field(error: GraceError) -> str | None:
    """The input field an error is about, if any (for problem+json and batch answers)."""
    if isinstance(error, InvalidInput):
        return error.field
    if isinstance(error, ModelNotFound):
        return "model_id"
    if isinstance(error, VersionNotFound):
        return "version"
    return None


def error_types() -> dict[str, type[GraceError]]:
    """Every error type by its code."""
    found: dict[str, type[GraceError]] = {}
    pending: list[type[GraceError]] = [GraceError]
    while pending:
        kind = pending.pop()
        found[kind.code()] = kind
        pending.extend(kind.__subclasses__())
    return found


class InvalidInput(GraceError, ValueError):
    """A value is missing, of the wrong type or out of range; nothing was changed."""

    title = "Invalid input"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class NotFound(GraceError, LookupError):
    """The thing named does not exist."""

    title = "Not found"


class ModelNotFound(NotFound):
    title = "Model not found"

    def __init__(self, model_id: str) -> None:
        super().__init__(f"model {model_id!r} is not registered")
        self.model_id = model_id


class VersionNotFound(NotFound):
    title = "Model version not found"

    def __init__(self, model_id: str, version: str) -> None:
        super().__init__(f"model {model_id!r} has no version {version!r}")
        self.model_id = model_id
        self.version = version


class NoProductionVersion(NotFound):
    title = "No production version"

    def __init__(self, model_id: str) -> None:
        super().__init__(f"model {model_id!r} has no version in production")
        self.model_id = model_id


class IncidentNotFound(NotFound):
    title = "Incident not found"

    def __init__(self, incident_id: int) -> None:
        super().__init__(f"incident {incident_id} does not exist")
        self.incident_id = incident_id


class ExecutionNotFound(NotFound):
    title = "Playbook execution not found"

    def __init__(self, execution_id: int) -> None:
        super().__init__(f"playbook execution {execution_id} does not exist")
        self.execution_id = execution_id


class PlaybookNotFound(NotFound):
    title = "Playbook not found"

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no playbook named {name!r}; known playbooks: {', '.join(known)}")
        self.name = name


class TokenNotFound(NotFound):
    title = "Token not found"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"no API token {token_id!r}")
        self.token_id = token_id


class SubscriptionNotFound(NotFound):
    title = "Subscription not found"

    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"subscription {subscription_id} does not exist")
        self.subscription_id = subscription_id


class DependentNotFound(NotFound):
    title = "Dependent not found"

    def __init__(self, model_id: str, name: str) -> None:
        super().__init__(f"model {model_id!r} has no dependent {name!r}")
        self.model_id = model_id
        self.name = name


class DeliveryNotFound(NotFound):
    title = "Delivery not found"

    def __init__(self, delivery_id: int) -> None:
        super().__init__(f"delivery {delivery_id} does not exist")
        self.delivery_id = delivery_id


class WindowNotFound(NotFound):
    title = "Maintenance window not found"

    def __init__(self, window_id: int) -> None:
        super().__init__(f"maintenance window {window_id} does not exist")
        self.window_id = window_id


class Conflict(GraceError):
    """The request is well formed, but the current state refuses it."""

    title = "Conflict"


class VersionExists(Conflict):
    title = "Version already registered"

    def __init__(self, model_id: str, version: str) -> None:
        super().__init__(f"model {model_id!r} already has a version {version!r}")
        self.model_id = model_id
        self.version = version


class InvalidTransition(Conflict):
    title = "Invalid stage transition"

    def __init__(
        self, model_id: str, version: str, from_stage: str, to_stage: str, why: str = ""
    ) -> None:
        super().__init__(
            f"model {model_id!r} version {version!r} cannot move from {from_stage} to {to_stage}"
            + (f": {why}" if why else "")
        )
        self.from_stage = from_stage
        self.to_stage = to_stage


class NoStableVersion(Conflict):
    title = "No stable version to roll back to"


class ConcurrentChange(Conflict):
    title = "Concurrent change"


class GovernanceRefused(Conflict):
    """Promotion to production blocked; ``failed_gates`` names every gate that failed."""

    title = "Governance gates refused the promotion"

    def __init__(self, model_id: str, version: str, failed_gates: list[str]) -> None:
        super().__init__(
            f"model {model_id!r} version {version!r} cannot be promoted to production: "
            + "; ".join(failed_gates)
        )
        self.failed_gates = failed_gates


class StorageError(GraceError):
    """The database failed or cannot be reached.

    ``detail`` is what a client may see and never holds the database's own words (host,
    database name, SQL); ``internal`` holds them, for the server's log and its operator.
    """

    title = "Storage error"

    def __init__(self, detail: str, *, internal: str | None = None) -> None:
        super().__init__(detail)
        self._internal = internal

    @property
    def internal(self) -> str:
        """The database's own account of the failure (never sent to a client)."""
        return getattr(self, "_internal", None) or self.detail


class SchemaMismatch(StorageError):
    title = "Database schema mismatch"


class PlaybookPluginFailed(GraceError):
    """An installed playbook entry point could not be loaded or is not a playbook; the
    service does not start without it (a remediation must never run another by surprise)."""

    title = "Playbook plugin failed"

    def __init__(self, entry_point: str, problem: str) -> None:
        super().__init__(f"playbook entry point {entry_point!r} {problem}")
        self.entry_point = entry_point
