"""The registry, its incidents and its self-healing engine, over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, cast

import httpx

from grace.client.records import (
    batch_item_from,
    check_from,
    entry_from,
    event_from,
    execution_from,
    incident_from,
    settings_from,
    stage_change_from,
    timeline_entry_from,
)
from grace.client.transport import PortalTransport, ThreadedTransport
from grace.client.wire import (
    Unreachable,
    answer_of,
    api_path,
    encode_cursor,
    jsonable,
    query_params,
)
from grace.domain.events import Event
from grace.domain.history import production_version_at
from grace.domain.records import (
    Incident,
    IncidentStatus,
    ModelEntry,
    ModelSettings,
    PlaybookExecution,
    StageChange,
    TimelineEntry,
)
from grace.domain.severity import Severity, parse_severity
from grace.domain.snapshots import ModelPerformanceSnapshot
from grace.domain.stages import DeploymentStage, parse_stage
from grace.domain.timeutil import ensure_utc
from grace.errors import (
    InvalidInput,
    NoProductionVersion,
)
from grace.services.results import (
    BatchItem,
    BatchResult,
    FleetHealth,
    HealthSummary,
    RollbackCheck,
    RollbackResult,
    SnapshotResult,
)


class RegistryClient:
    """The model registry of a Grace service at ``base_url`` (its root, e.g. ``http://host:8000``).

    ``token`` is an API token (``grc_<id>_<secret>``); leave it out only for a
    service running open.  ``transport`` replaces the network, e.g. with
    ``httpx.ASGITransport(app)`` or ``httpx.MockTransport(handler)``.

    Close it with ``close()`` / ``with``, or ``aclose()`` / ``async with`` once
    coroutines were used.  The coroutines share one connection pool, bound to the
    event loop that first uses it; to use them from another loop, ``aclose()``
    first (a closed client opens new connections when used again).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = httpx.Timeout(timeout)
        self._sync_transport: httpx.BaseTransport | None = None
        self._async_transport: httpx.AsyncBaseTransport | None = None
        if isinstance(transport, httpx.BaseTransport):
            self._sync_transport = transport
        if isinstance(transport, httpx.AsyncBaseTransport):
            self._async_transport = transport
        if transport is not None and self._sync_transport is None:
            self._sync_transport = PortalTransport(cast(httpx.AsyncBaseTransport, transport))
        if transport is not None and self._async_transport is None:
            self._async_transport = ThreadedTransport(cast(httpx.BaseTransport, transport))
        self._lock = threading.Lock()
        self._sync: httpx.Client | None = None
        self._async: httpx.AsyncClient | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self.incidents = RemoteIncidents(self)
        self.engine = RemoteSelfHealing(self)

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r})"

    # -- plumbing ------------------------------------------------------------------------------
    def _client(self) -> httpx.Client:
        with self._lock:
            if self._sync is None:
                self._sync = httpx.Client(
                    base_url=self.base_url,
                    headers=self._headers,
                    timeout=self._timeout,
                    transport=self._sync_transport,
                )
            return self._sync

    def _aclient(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._async is None:
                self._async = httpx.AsyncClient(
                    base_url=self.base_url,
                    headers=self._headers,
                    timeout=self._timeout,
                    transport=self._async_transport,
                )
                self._async_loop = loop
            elif self._async_loop is not loop:
                raise RuntimeError(
                    "this RegistryClient's connections belong to another event loop; "
                    "await client.aclose() there (or use `async with`) before using it here"
                )
            return self._async

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        **context: object,
    ) -> Any:
        try:
            response = self._client().request(
                method, path, params=query_params(params or {}), json=body
            )
        except httpx.TransportError as exc:
            raise Unreachable(f"no answer from {self.base_url}: {exc}") from exc
        return answer_of(response, context)

    async def _acall(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        **context: object,
    ) -> Any:
        try:
            response = await self._aclient().request(
                method, path, params=query_params(params or {}), json=body
            )
        except httpx.TransportError as exc:
            raise Unreachable(f"no answer from {self.base_url}: {exc}") from exc
        return answer_of(response, context)

    def close(self) -> None:
        """Release the plain methods' connections."""
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()  # and its transport
        elif self._sync_transport is not None:
            self._sync_transport.close()

    async def aclose(self) -> None:
        """Release every connection; call it on the loop the coroutines ran on."""
        with self._lock:
            client, self._async, self._async_loop = self._async, None, None
        if client is not None:
            await client.aclose()
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- registration and reading -------------------------------------------------------------
    def register_model(
        self,
        model_id: str,
        version: str,
        *,
        name: str | None = None,
        description: str | None = None,
        owner: str | None = None,
        tags: Iterable[str] | None = None,
        artifact_uri: str | None = None,
        expected_latency_p95_ms: float | None = None,
        constitutional_compliance: bool = False,
        bias_check_passed: bool = False,
        calibration_error: float | None = None,
        stage: DeploymentStage | str = DeploymentStage.DEVELOPMENT,
        metadata: Mapping[str, Any] | None = None,
    ) -> ModelEntry:
        """Register ``version`` of ``model_id``; VersionExists if it is already registered."""
        body: dict[str, Any] = {
            "model_id": model_id,
            "version": version,
            "name": name,
            "description": description,
            "owner": owner,
            "artifact_uri": artifact_uri,
            "expected_latency_p95_ms": expected_latency_p95_ms,
            "constitutional_compliance": constitutional_compliance,
            "bias_check_passed": bias_check_passed,
            "calibration_error": calibration_error,
            "stage": parse_stage(stage).value,
        }
        if tags is not None:
            body["tags"] = jsonable(tags)
        if metadata is not None:
            body["metadata"] = jsonable(metadata)
        answer = self._call(
            "POST", api_path("models"), body=body, model_id=model_id, version=version
        )
        return entry_from(answer)

    def get_model(self, model_id: str, version: str | None = None) -> ModelEntry:
        """That version, or without one the latest registered version."""
        if version is None:
            return entry_from(self._call("GET", api_path("models", model_id), model_id=model_id))
        path = api_path("models", model_id, "versions", version)
        return entry_from(self._call("GET", path, model_id=model_id, version=version))

    def get_production_version(self, model_id: str) -> ModelEntry | None:
        try:
            path = api_path("models", model_id, "production")
            return entry_from(self._call("GET", path, model_id=model_id))
        except NoProductionVersion:
            return None

    def list_models(
        self,
        stage: DeploymentStage | str | None = None,
        *,
        model_id: str | None = None,
        owner: str | None = None,
        tag: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> list[ModelEntry]:
        """Versions by model id then registration; page with ``after=(model_id, version)``."""
        params = {
            "stage": parse_stage(stage).value if stage is not None else None,
            "model_id": model_id,
            "owner": owner,
            "tag": tag,
            "cursor": encode_cursor(after) if after is not None else None,
            "limit": limit,
        }
        answer = self._call("GET", api_path("models"), params=params)
        return [entry_from(item) for item in answer["items"]]

    def update_model(self, model_id: str, version: str, **changes: Any) -> ModelEntry:
        """Change descriptive fields of a version (never its stage)."""
        body = {k: jsonable(v) if k in {"tags", "metadata"} else v for k, v in changes.items()}
        path = api_path("models", model_id, "versions", version)
        return entry_from(self._call("PATCH", path, body=body, model_id=model_id, version=version))

    def update_deployment_status(
        self,
        model_id: str,
        stage: DeploymentStage | str,
        version: str | None = None,
        *,
        reason: str | None = None,
        override_governance: bool = False,
    ) -> ModelEntry:
        """Move a version (the latest registered one when not named) to ``stage``.

        Promotion to PRODUCTION passes the governance gates (GovernanceRefused
        lists every failed gate) unless ``override_governance`` is given with a reason.
        """
        body = {
            "stage": parse_stage(stage).value,
            "reason": reason,
            "override_governance": override_governance,
        }
        if version is None:  # the latest registered version, decided by the service
            path = api_path("models", model_id, "stage")
            return entry_from(self._call("POST", path, body=body, model_id=model_id))
        path = api_path("models", model_id, "versions", version, "stage")
        return entry_from(self._call("POST", path, body=body, model_id=model_id, version=version))

    def get_stage_history(self, model_id: str) -> list[StageChange]:
        answer = self._call("GET", api_path("models", model_id, "history"), model_id=model_id)
        return [stage_change_from(item) for item in answer]

    def production_version_at(self, model_id: str, at: datetime) -> str | None:
        """Which version was in production at instant ``at`` (naive means local time)."""
        return production_version_at(self.get_stage_history(model_id), ensure_utc(at))

    def get_timeline(
        self, model_id: str, *, before_seq: int | None = None, limit: int = 100
    ) -> list[Event]:
        """The model's events, newest first."""
        params = {"before_seq": before_seq or None, "limit": limit}
        path = api_path("models", model_id, "timeline")
        answer = self._call("GET", path, params=params, model_id=model_id)
        return [event_from(item) for item in answer["items"]]

    # -- settings ------------------------------------------------------------------------------
    def get_model_settings(self, model_id: str) -> ModelSettings:
        path = api_path("models", model_id, "settings")
        return settings_from(self._call("GET", path, model_id=model_id))

    def configure_model(
        self,
        model_id: str,
        *,
        auto_remediate: bool | None = None,
        window_minutes: int | None = None,
        thresholds: Mapping[str, float | int | None] | None = None,
        reset: Iterable[str] = (),
    ) -> ModelSettings:
        """Set per-model monitoring: auto-remediation, window and any trigger threshold."""
        body: dict[str, Any] = {
            "auto_remediate": auto_remediate,
            "window_minutes": window_minutes,
            "thresholds": dict(thresholds) if thresholds is not None else None,
            "reset": list(reset),
        }
        path = api_path("models", model_id, "settings")
        return settings_from(self._call("PATCH", path, body=body, model_id=model_id))

    # -- snapshots, triggers, health -------------------------------------------------------------
    async def record_performance_snapshot(
        self, snapshot: ModelPerformanceSnapshot
    ) -> SnapshotResult:
        """Store a snapshot, emit its monitoring event, check triggers and act on them."""
        if not isinstance(snapshot, ModelPerformanceSnapshot):
            raise InvalidInput("snapshot", "must be a ModelPerformanceSnapshot")
        answer = await self._acall(
            "POST",
            api_path("models", snapshot.model_id, "performance"),
            body=snapshot.to_dict(),
            model_id=snapshot.model_id,
            version=snapshot.version,
        )
        return SnapshotResult(
            answer["snapshot_id"],
            answer["model_id"],
            answer["version"],
            judged=answer["judged"],
            check=check_from(answer["check"]),
        )

    async def record_performance_snapshots(
        self, batch: Sequence[ModelPerformanceSnapshot]
    ) -> BatchResult:
        """Record many snapshots in one request; each is stored or refused on its own."""
        items: list[BatchItem | None] = [None] * len(batch)
        sent: list[int] = []
        for index, item in enumerate(batch):
            if isinstance(item, ModelPerformanceSnapshot):
                sent.append(index)
            else:  # what cannot be sent is refused here, as the registry refuses it
                refusal = InvalidInput("snapshot", "must be a ModelPerformanceSnapshot")
                items[index] = BatchItem(index, None, refusal)
        body = {"snapshots": [batch[i].to_dict() for i in sent]}
        answer = await self._acall("POST", api_path("performance", "batch"), body=body)
        for index, received in zip(sent, answer["items"], strict=True):
            items[index] = dataclasses.replace(batch_item_from(received), index=index)
        checks = [cast(RollbackCheck, dict(c)) for c in answer["checks"]]
        return BatchResult([i for i in items if i is not None], checks)

    async def check_rollback_triggers(
        self,
        model_id: str,
        window_minutes: int = 10,
        auto_remediate: bool = False,
        *,
        version: str | None = None,
    ) -> RollbackCheck:
        """The guide's rollback check.  ``auto_remediate=False`` is a dry run with no effect."""
        params = {
            "window_minutes": window_minutes,
            "auto_remediate": auto_remediate,
            "version": version,
        }
        answer = await self._acall(
            # The check acts when remediating, so it is then a POST (and needs 'operate').
            "POST" if auto_remediate else "GET",
            api_path("models", model_id, "rollback-check"),
            params=params,
            model_id=model_id,
        )
        return cast(RollbackCheck, answer)

    def get_model_health_summary(
        self, model_id: str, window_minutes: int | None = None
    ) -> HealthSummary:
        """The guide's health summary of the production version over the model's window."""
        path = api_path("models", model_id, "health")
        answer = self._call(
            "GET", path, params={"window_minutes": window_minutes}, model_id=model_id
        )
        return cast(HealthSummary, answer)

    async def monitor_production_models(self, window_minutes: int = 10) -> FleetHealth:
        """Judge every production model over the window."""
        path = api_path("monitor", "production")
        answer = await self._acall("GET", path, params={"window_minutes": window_minutes})
        return cast(FleetHealth, answer)

    async def rollback(
        self, model_id: str, reason: str, target_version: str | None = None
    ) -> RollbackResult:
        """Roll production back to ``target_version``, or to the previous stable version."""
        answer = await self._acall(
            "POST",
            api_path("models", model_id, "rollback"),
            params={"reason": reason, "target_version": target_version},
            model_id=model_id,
            version=target_version,
        )
        return cast(RollbackResult, answer)


class RemoteIncidents:
    """The incident registry's reads and acts, over HTTP (``client.incidents``)."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def get_incident(self, incident_id: int) -> Incident:
        path = api_path("incidents", str(incident_id))
        return incident_from(self._client._call("GET", path, incident_id=incident_id))

    def list_incidents(
        self,
        resource_id: str | None = None,
        status: IncidentStatus | str | None = None,
        *,
        severity: Severity | str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[Incident]:
        """Incidents, newest first."""
        params = {
            "model_id": resource_id,
            "status": str(status) if status is not None else None,
            "severity": parse_severity(severity).value if severity is not None else None,
            "before": before_id,
            "limit": limit,
        }
        answer = self._client._call("GET", api_path("incidents"), params=params)
        return [incident_from(item) for item in answer["items"]]

    async def acknowledge(self, incident_id: int, *, note: str | None = None) -> Incident:
        return await self._act(incident_id, "acknowledge", note)

    async def resolve(self, incident_id: int, *, note: str | None = None) -> Incident:
        return await self._act(incident_id, "resolve", note)

    async def _act(self, incident_id: int, action: str, note: str | None) -> Incident:
        path = api_path("incidents", str(incident_id), action)
        answer = await self._client._acall(
            "POST", path, body={"note": note}, incident_id=incident_id
        )
        return incident_from(answer)

    async def annotate(
        self,
        incident_id: int,
        message: str,
        *,
        kind: str = "note",
        data: Mapping[str, Any] | None = None,
    ) -> TimelineEntry:
        """Add an entry to the incident's timeline."""
        body = {"message": message, "kind": kind, "data": dict(data or {})}
        path = api_path("incidents", str(incident_id), "notes")
        answer = await self._client._acall("POST", path, body=body, incident_id=incident_id)
        return timeline_entry_from(answer)


class RemoteSelfHealing:
    """The self-healing engine's playbook runs, over HTTP (``client.engine``)."""

    def __init__(self, client: RegistryClient) -> None:
        self._client = client

    def list_executions(
        self,
        model_id: str | None = None,
        *,
        playbook: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[PlaybookExecution]:
        """Playbook runs, newest first."""
        params = {"model_id": model_id, "playbook": playbook, "before": before_id, "limit": limit}
        answer = self._client._call("GET", api_path("executions"), params=params)
        return [execution_from(item) for item in answer["items"]]

    def get_execution(self, execution_id: int) -> PlaybookExecution:
        path = api_path("executions", str(execution_id))
        answer = self._client._call("GET", path, execution_id=execution_id)
        return execution_from(answer)
