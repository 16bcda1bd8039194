"""Request and response shapes of the guardrails: remediation policies, maintenance
windows, approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictFloat, StrictInt

from grace.api.schemas import KeptBool, WholeNumber, _In, _Out
from grace.api.shapes import Documented, Identifier, non_blank_text

RunbookUrl = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^https?://[!-~]+$")]
MaxPerHour = Annotated[WholeNumber, Documented(minimum=0, maximum=1000)]


class PolicyIn(_In):
    """Fields left out stay as they are; ``null`` clears max_per_hour, runbook_url,
    min_trust and playbook."""

    require_approval: KeptBool = Field(
        default=None, description="Automatic remediation waits for a human's approval."
    )
    dry_run: KeptBool = Field(
        default=None, description="Record what remediation would do; do nothing else."
    )
    max_per_hour: MaxPerHour | None = Field(
        default=None,
        description="At most this many automatic remediations of the model in any hour "
        "(never more than GRACE_REMEDIATION_MAX_PER_MODEL_PER_HOUR).",
    )
    runbook_url: RunbookUrl | None = Field(
        default=None, description="The model's runbook, linked from its incidents and alerts."
    )
    min_trust: Annotated[StrictFloat | StrictInt, Documented(minimum=0, maximum=1)] | None = Field(
        default=None, description="Promotion to production needs this trust score."
    )
    playbook: Identifier | None = Field(
        default=None,
        description="The playbook automatic remediation runs: one registered for models "
        "(GET /playbooks); null: the built-in model_rollback.",
    )


class BreakerOut(_Out):
    open: bool
    opened_at: str | None
    reason: str | None


class PolicyOut(_Out):
    model_id: str
    require_approval: bool
    dry_run: bool
    max_per_hour: int | None
    runbook_url: str | None
    min_trust: float | None = None
    playbook: str | None = None
    breaker: BreakerOut


class WindowIn(_In):
    """Inside the window, snapshots, triggers, events and incidents are recorded as usual;
    automatic remediation is held back.  Times without an offset are UTC."""

    model_id: Identifier | None = Field(description="The model, or null for every model.")
    starts_at: datetime
    ends_at: datetime = Field(description="After starts_at and in the future; 31 days at most.")
    reason: Annotated[str, non_blank_text(1000)] = Field(description="Why; not blank.")
    on_end: Literal["act", "page"] = Field(
        default="act",
        description="When the window ends on a model still failing: page and remediate "
        "(act), or only page.",
    )


class WindowOut(_Out):
    id: int
    model_id: str | None
    starts_at: str
    ends_at: str
    reason: str
    created_by: str | None
    created_at: str
    on_end: str
    removed_at: str | None
    released_at: str | None


class DrillIn(_In):
    open_incidents: StrictBool = Field(
        default=False, description="Open a LOW incident for each model it could not heal."
    )


class DrillOut(_Out):
    at: str
    models: int = Field(description="Production models drilled.")
    healable: dict[str, dict[str, str]] = Field(description="model -> from_version, to_version")
    findings: dict[str, dict[str, Any]] = Field(
        description="model -> kind (no_stable_version, restore_fails_gates) and detail"
    )
    incidents: list[int]
