"""The remediation pipeline: every decision about acting on fired rollback triggers
(incidents, guardrails, maintenance windows, approvals, the playbook, notices)."""

from grace.services.remediation.pipeline import Action, Remediation

__all__ = ["Action", "Remediation"]
