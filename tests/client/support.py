"""What the client tests share: a real uvicorn server in a thread, and the API both sides offer.

The Protocols below are the registry API as the guide uses it; the ``backend``
fixture is typed with them, so mypy proves that the in-process registry and the
client both offer every method with compatible keywords and return types.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

import uvicorn
from fastapi import FastAPI

from grace.domain.events import Event
from grace.domain.records import (
    Incident,
    IncidentStatus,
    ModelEntry,
    ModelSettings,
    PlaybookExecution,
    StageChange,
    TimelineEntry,
)
from grace.domain.severity import Severity
from grace.domain.snapshots import ModelPerformanceSnapshot
from grace.domain.stages import DeploymentStage
from grace.model_registry import (
    BatchResult,
    FleetHealth,
    HealthSummary,
    RollbackCheck,
    RollbackResult,
    SnapshotResult,
)

GATES: dict[str, Any] = {
    "expected_latency_p95_ms": 245.3,
    "constitutional_compliance": True,
    "bias_check_passed": True,
}


class RegistryAPI(Protocol):
    def register_model(
        self,
        model_id: str,
        version: str,
        *,
        name: str | None = ...,
        description: str | None = ...,
        owner: str | None = ...,
        tags: Iterable[str] | None = ...,
        artifact_uri: str | None = ...,
        expected_latency_p95_ms: float | None = ...,
        constitutional_compliance: bool = ...,
        bias_check_passed: bool = ...,
        calibration_error: float | None = ...,
        stage: DeploymentStage | str = ...,
        metadata: Mapping[str, Any] | None = ...,
    ) -> ModelEntry: ...

    def get_model(self, model_id: str, version: str | None = ...) -> ModelEntry: ...

    def get_production_version(self, model_id: str) -> ModelEntry | None: ...

    def list_models(
        self,
        stage: DeploymentStage | str | None = ...,
        *,
        model_id: str | None = ...,
        owner: str | None = ...,
        tag: str | None = ...,
        after: tuple[str, str] | None = ...,
        limit: int = ...,
    ) -> list[ModelEntry]: ...

    def update_model(self, model_id: str, version: str, **changes: Any) -> ModelEntry: ...

    def update_deployment_status(
        self,
        model_id: str,
        stage: DeploymentStage | str,
        version: str | None = ...,
        *,
        reason: str | None = ...,
        override_governance: bool = ...,
    ) -> ModelEntry: ...

    def get_stage_history(self, model_id: str) -> list[StageChange]: ...

    def production_version_at(self, model_id: str, at: datetime) -> str | None: ...

    def get_timeline(
        self, model_id: str, *, before_seq: int | None = ..., limit: int = ...
    ) -> list[Event]: ...

    def get_model_settings(self, model_id: str) -> ModelSettings: ...

    def configure_model(
        self,
        model_id: str,
        *,
        auto_remediate: bool | None = ...,
        window_minutes: int | None = ...,
        thresholds: Mapping[str, float | int | None] | None = ...,
        reset: Iterable[str] = ...,
    ) -> ModelSettings: ...

    async def record_performance_snapshot(
        self, snapshot: ModelPerformanceSnapshot
    ) -> SnapshotResult: ...

    async def record_performance_snapshots(
        self, batch: Sequence[ModelPerformanceSnapshot]
    ) -> BatchResult: ...

    async def check_rollback_triggers(
        self, model_id: str, window_minutes: int = ..., auto_remediate: bool = ...
    ) -> RollbackCheck: ...

    def get_model_health_summary(
        self, model_id: str, window_minutes: int | None = ...
    ) -> HealthSummary: ...

    async def monitor_production_models(self, window_minutes: int = ...) -> FleetHealth: ...

    async def rollback(
        self, model_id: str, reason: str, target_version: str | None = ...
    ) -> RollbackResult: ...


class IncidentsAPI(Protocol):
    def get_incident(self, incident_id: int) -> Incident: ...

    def list_incidents(
        self,
        resource_id: str | None = ...,
        status: IncidentStatus | str | None = ...,
        *,
        severity: Severity | str | None = ...,
        before_id: int | None = ...,
        limit: int = ...,
    ) -> list[Incident]: ...

    async def acknowledge(self, incident_id: int, *, note: str | None = ...) -> Incident: ...

    async def resolve(self, incident_id: int, *, note: str | None = ...) -> Incident: ...

    async def annotate(
        self,
        incident_id: int,
        message: str,
        *,
        kind: str = ...,
        data: Mapping[str, Any] | None = ...,
    ) -> TimelineEntry: ...


class EngineAPI(Protocol):
    def list_executions(
        self,
        model_id: str | None = ...,
        *,
        playbook: str | None = ...,
        before_id: int | None = ...,
        limit: int = ...,
    ) -> list[PlaybookExecution]: ...

    def get_execution(self, execution_id: int) -> PlaybookExecution: ...


@dataclass(frozen=True)
class Backend:
    """One side of the suite: the in-process services, or the client over HTTP."""

    name: str
    registry: RegistryAPI
    incidents: IncidentsAPI
    engine: EngineAPI

    @property
    def remote(self) -> bool:
        return self.name == "remote"


class LiveServer:
    """``app`` served by uvicorn on 127.0.0.1 (a free port) in a thread, for real HTTP."""

    def __init__(self, app: FastAPI) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, log_config=None, log_level="warning", access_log=False, lifespan="off", ws="none"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
