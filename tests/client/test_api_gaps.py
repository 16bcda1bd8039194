"""Details where the client over HTTP must match the in-process registry exactly.

Each test states a behaviour the in-process registry has and proves the
client has it too (these were gaps of the API once: strict numbers, error
attributes, a non-production version check, batch error types, full pages).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest

from grace.api.app import create_app
from grace.bootstrap import Grace
from grace.client import RegistryClient
from grace.clock import FakeClock
from grace.domain.stages import DeploymentStage
from grace.errors import InvalidInput, InvalidTransition, VersionNotFound
from tests.client.support import GATES
from tests.helpers import DEGRADED, snapshot

FRAUD = "fraud_detector_v3"


@pytest.fixture
async def client(grace: Grace) -> AsyncIterator[RegistryClient]:
    transport = httpx.ASGITransport(create_app(grace, allow_open=True))
    async with RegistryClient("http://grace.test", transport=transport) as remote:
        yield remote


def test_min_snapshots_can_be_configured(client: RegistryClient, grace: Grace) -> None:
    """configure_model(thresholds={'min_snapshots': 3}) works in-process."""
    grace.registry.register_model(FRAUD, "1.0")
    assert grace.registry.configure_model(FRAUD, thresholds={"min_snapshots": 2})

    settings = client.configure_model(FRAUD, thresholds={"min_snapshots": 3})

    assert settings.thresholds.min_snapshots == 3


def test_a_string_for_a_flag_is_refused(client: RegistryClient, grace: Grace) -> None:
    """register_model(constitutional_compliance='yes') is InvalidInput in-process."""
    with pytest.raises(InvalidInput):
        grace.registry.register_model(FRAUD, "1.0", constitutional_compliance="yes")  # type: ignore[arg-type]

    with pytest.raises(InvalidInput) as refused:
        client.register_model(FRAUD, "1.0", constitutional_compliance="yes")  # type: ignore[arg-type]
    assert refused.value.field == "constitutional_compliance"


def test_an_invalid_transition_names_both_stages(client: RegistryClient) -> None:
    """InvalidTransition has from_stage and to_stage in-process."""
    client.register_model(FRAUD, "1.0", stage="production", **GATES)

    with pytest.raises(InvalidTransition) as refused:
        client.update_deployment_status(FRAUD, DeploymentStage.STAGING, "1.0")

    assert (refused.value.from_stage, refused.value.to_stage) == ("production", "staging")


async def test_a_version_other_than_production_can_be_checked(
    client: RegistryClient, clock: FakeClock
) -> None:
    """check_rollback_triggers(model_id, version='1.1') judges that version in-process."""
    client.register_model(FRAUD, "1.0", stage="production", **GATES)
    client.register_model(FRAUD, "1.1", stage="canary", **GATES)
    await client.record_performance_snapshot(snapshot(FRAUD, "1.1", at=clock.now(), base=DEGRADED))

    check = await cast(Any, client).check_rollback_triggers(FRAUD, version="1.1")

    assert check["version"] == "1.1"


async def test_a_refused_batch_item_keeps_its_error_type(
    client: RegistryClient, clock: FakeClock
) -> None:
    """The in-process BatchItem.error is the VersionNotFound the core raised."""
    client.register_model(FRAUD, "1.0", stage="production", **GATES)

    result = await client.record_performance_snapshots([snapshot(FRAUD, "9.9", at=clock.now())])

    assert isinstance(result.items[0].error, VersionNotFound)


async def test_the_largest_page_still_says_more_follow(grace: Grace) -> None:
    """1001 versions: a page of 1000 must hand out a cursor for the last one."""
    for number in range(1001):
        grace.registry.register_model(FRAUD, f"v{number:04d}")
    transport = httpx.ASGITransport(create_app(grace, allow_open=True))

    async with httpx.AsyncClient(transport=transport, base_url="http://grace.test") as http:
        page = (await http.get("/api/model-registry/models", params={"limit": 1000})).json()

    assert len(page["items"]) == 1000
    assert page["next_cursor"] is not None
