"""A real service (uvicorn on 127.0.0.1, in a thread) with API tokens, and the guide against it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from grace.api.app import create_app
from grace.bootstrap import Grace, build
from grace.client import AuthenticationError, AuthorizationError, RegistryClient
from grace.domain.records import ChangeCause
from grace.domain.stages import DeploymentStage
from grace.model_registry import ModelPerformanceSnapshot
from tests.client.support import GATES, LiveServer
from tests.conftest import make_settings
from tests.e2e.guide_runner import FakeModelServer, guide_blocks, run_block

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "model-registry-integration-guide.md"
FRAUD = "fraud_detector_v3"


async def test_tokens_decide_who_may_call_what(grace: Grace) -> None:
    """A wrong or revoked token is AuthenticationError; a read-only one, AuthorizationError."""
    _, admin_token = grace.tokens.create("ops-admin", ["admin"])
    reader, reader_token = grace.tokens.create("dashboard", ["read"])

    with LiveServer(create_app(grace, allow_open=False)) as server:
        async with RegistryClient(server.url, admin_token) as admin:
            admin.register_model(FRAUD, "3.2.1", stage="production", **GATES)
            assert admin.get_stage_history(FRAUD)[0].actor == "ops-admin"

        for token in (None, "grc_0000_wrong", "not-even-a-token"):
            with RegistryClient(server.url, token) as stranger:
                with pytest.raises(AuthenticationError) as unknown:
                    stranger.get_model(FRAUD)
                assert unknown.value.status == 401

        async with RegistryClient(server.url, reader_token) as dashboard:
            assert dashboard.get_model(FRAUD).version == "3.2.1"
            dry_run = await dashboard.check_rollback_triggers(FRAUD)
            assert dry_run["should_rollback"] is False
            with pytest.raises(AuthorizationError) as refused:
                dashboard.register_model(FRAUD, "3.3.0")
            assert refused.value.status == 403
            assert "'write'" in refused.value.detail
            with pytest.raises(AuthorizationError, match="'operate'"):
                await dashboard.check_rollback_triggers(FRAUD, auto_remediate=True)
            with pytest.raises(AuthorizationError, match="'operate'"):
                await dashboard.rollback(FRAUD, "not mine to do")

            grace.tokens.revoke(reader.token_id)
            with pytest.raises(AuthenticationError, match="revoked"):
                dashboard.get_model(FRAUD)

    assert [e.version for e in grace.registry.list_models()] == ["3.2.1"]


@pytest.fixture
def live_grace(sqlite_url: str) -> Iterator[Grace]:
    """A Grace on the system clock: the guide stamps its snapshot with datetime.now()."""
    instance = build(make_settings(sqlite_url))
    yield instance
    instance.close()


def seed(registry: RegistryClient) -> None:
    """The guide's fleet, registered over HTTP."""
    for version in ("3.1.5", "3.2.1"):
        registry.register_model(FRAUD, version, **GATES)
        registry.update_deployment_status(FRAUD, DeploymentStage.PRODUCTION, version)
    registry.configure_model(FRAUD, auto_remediate=True)
    registry.register_model("test_model", "1.0", stage="production", **GATES)
    registry.register_model("churn_predictor", "2.0", **GATES)
    registry.register_model("unvetted_model", "0.1")


async def test_the_guides_examples_run_against_a_remote_registry(
    live_grace: Grace, capsys: pytest.CaptureFixture[str]
) -> None:
    """Examples 2 and 3 and the testing block, with get_registry() swapped for a RegistryClient."""
    _, token = live_grace.tokens.create("guide-admin", ["admin"])
    blocks = guide_blocks(GUIDE)
    example2 = next(b for b in blocks if "ingest_model_metrics" in b)
    example3 = next(b for b in blocks if "validate_before_production" in b)
    testing = next(b for b in blocks if "# Test incident creation" in b)

    with LiveServer(create_app(live_grace, allow_open=False)) as server:
        async with RegistryClient(server.url, token) as client:
            seed(client)
            namespace: dict[str, Any] = {
                "__name__": "guide",
                "get_registry": lambda: client,
                "ModelPerformanceSnapshot": ModelPerformanceSnapshot,
                "DeploymentStage": DeploymentStage,
                "datetime": datetime,
                "ml_server": FakeModelServer(),
            }

            await run_block(example2, namespace, "guide:example-2")
            await namespace["ingest_model_metrics"]()

            production = client.get_production_version(FRAUD)
            assert production is not None
            assert production.version == "3.1.5"
            assert client.get_model(FRAUD, "3.2.1").status is DeploymentStage.ROLLBACK
            assert client.get_stage_history(FRAUD)[-1].cause is ChangeCause.AUTO_REMEDIATION
            (incident,) = client.incidents.list_incidents(FRAUD)
            assert incident.severity.value == "high"
            assert incident.title == "Model performance degradation detected: Fraud Detector V3"
            (run,) = client.engine.list_executions(FRAUD)
            assert run.status.value == "succeeded"

            await run_block(example3, namespace, "guide:example-3")
            assert await namespace["validate_before_production"]("churn_predictor") is True
            assert await namespace["validate_before_production"]("unvetted_model") is False
            assert client.get_model("churn_predictor").status is DeploymentStage.PRODUCTION
            assert client.get_model("unvetted_model").status is DeploymentStage.DEVELOPMENT

            await run_block(testing, namespace, "guide:testing")
            assert namespace["health"]["total_models"] == 3
            assert namespace["summary"]["model_id"] == FRAUD
            assert namespace["summary"]["version"] == "3.1.5"

    printed = capsys.readouterr().out
    assert "Cannot promote to production:" in printed
    assert "❌ Constitutional compliance check required" in printed
    assert "⚠️ No latency SLO defined" in printed
    # The service itself saw every step: the guide's code changed the served database.
    assert live_grace.registry.get_model("churn_predictor").status is DeploymentStage.PRODUCTION
