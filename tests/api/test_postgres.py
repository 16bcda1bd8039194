"""The HTTP API over PostgreSQL, where plain core calls run in worker threads."""

from __future__ import annotations

import httpx
import pytest

from grace.api.app import create_app
from grace.bootstrap import build
from grace.clock import FakeClock
from tests.conftest import make_settings

API = "/api/model-registry"
GATES = {
    "expected_latency_p95_ms": 245.3,
    "constitutional_compliance": True,
    "bias_check_passed": True,
}
SNAPSHOT = {
    "version": "3.2.1",
    "latency_p50_ms": 120.5,
    "latency_p95_ms": 245.3,
    "latency_p99_ms": 350.1,
    "requests_per_second": 250.0,
    "error_rate": 0.085,
    "ood_rate": 0.22,
    "input_drift_score": 0.35,
    "accuracy": 0.89,
}


@pytest.mark.postgres
async def test_the_guides_flow_over_http_on_postgres(postgres_url: str, clock: FakeClock) -> None:
    """Register, promote, degrade, check, heal and read back, all over HTTP on PostgreSQL."""
    grace = build(make_settings(postgres_url), clock=clock)
    app = create_app(grace, allow_open=True)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://grace.test"
        ) as client:
            for version in ("3.1.5", "3.2.1"):
                created = await client.post(
                    f"{API}/models",
                    json={"model_id": "fraud_detector_v3", "version": version, **GATES},
                )
                assert created.status_code == 201
                promoted = await client.post(
                    f"{API}/models/fraud_detector_v3/versions/{version}/stage",
                    json={"stage": "production"},
                )
                assert promoted.json()["status"] == "production"
            posted = await client.post(f"{API}/models/fraud_detector_v3/performance", json=SNAPSHOT)
            assert posted.status_code == 201
            check = await client.post(
                f"{API}/models/fraud_detector_v3/rollback-check",
                params={"window_minutes": 10, "auto_remediate": "true"},
            )
            assert check.json()["reasons"] == [
                "High error rate: 8.50%",
                "High OOD rate: 22.00%",
                "Input distribution drift: 0.350",
            ]
            production = await client.get(f"{API}/models/fraud_detector_v3/production")
            assert production.json()["version"] == "3.1.5"
            incidents = await client.get(
                f"{API}/incidents", params={"model_id": "fraud_detector_v3"}
            )
            assert incidents.json()["items"][0]["severity"] == "high"
            history = await client.get(f"{API}/models/fraud_detector_v3/history")
            assert history.json()[-1]["cause"] == "auto_remediation"
            missing = await client.get(f"{API}/models/nope")
            assert missing.status_code == 404
    finally:
        grace.close()
