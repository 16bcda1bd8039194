"""The registry over HTTP: the in-process registry's methods and return types, served remotely.

``RegistryClient(base_url, token)`` stands in for ``get_registry()``: the same
method names, keywords and defaults, the same records and result dicts, and the
same exceptions, rebuilt from the service's problem+json answers.  What the
registry awaits is a coroutine here too (over ``httpx.AsyncClient``); what it
calls plainly is a plain method (over ``httpx.Client``).  ``client.incidents``
and ``client.engine`` mirror the reads and acts of the incident registry and
the self-healing engine, as ``Grace.incidents`` and ``Grace.engine`` do.

Not offered remotely: the ``set_*_callback`` methods (callbacks run in the
service's process), ``actor`` (over HTTP the actor is the token's name) and
``window_stats`` (the API has no endpoint for it).

Errors: every refusal of the core arrives as the exception the core raised;
the HTTP path adds its own failures under :class:`RemoteError`::

    GraceError                     (grace.errors: InvalidInput, NotFound, Conflict, ...)
    └── RemoteError                the exchange failed in a way the in-process registry cannot
        ├── AuthenticationError    401: no token, or a wrong or revoked one
        ├── AuthorizationError     403: the token lacks the scope the operation needs
        └── Unreachable            no answer: connection refused, timeout, broken connection

This module must never decide a rule of the registry: it sends, and it rebuilds.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import inspect
import json
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, cast
from urllib.parse import quote

import httpx

from grace.domain.events import Event
from grace.domain.history import production_version_at
from grace.domain.records import (
    ChangeCause,
    ExecutionStatus,
    Incident,
    IncidentStatus,
    ModelEntry,
    ModelSettings,
    PlaybookExecution,
    StageChange,
    StepRecord,
    StepStatus,
    TimelineEntry,
)
from grace.domain.severity import Severity, parse_severity
from grace.domain.snapshots import ModelPerformanceSnapshot
from grace.domain.stages import DeploymentStage, parse_stage
from grace.domain.timeutil import ensure_utc
from grace.domain.triggers import TriggerThresholds
from grace.errors import (
    GraceError,
    InvalidInput,
    NoProductionVersion,
    error_types,
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

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "RegistryClient",
    "RemoteError",
    "RemoteIncidents",
    "RemoteSelfHealing",
    "Unreachable",
]

API = "/api/model-registry"
_PROBLEM_PREFIX = "urn:grace:problem:"
_T = TypeVar("_T")


class RemoteError(GraceError):
    """The service answered with a problem the core never raises, or not as the API promises."""

    title = "Remote error"

    def __init__(
        self, detail: str, *, status: int | None = None, problem_type: str | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.problem_type = problem_type


class AuthenticationError(RemoteError):
    """401: the service wants a valid token (none was sent, or it is wrong or revoked)."""

    title = "Authentication failed"


class AuthorizationError(RemoteError):
    """403: the token is valid but lacks the scope the operation needs."""

    title = "Not authorized"


class Unreachable(RemoteError):
    """No answer from the service: the connection failed, broke or timed out."""

    title = "Registry unreachable"


# -- the wire: paths, errors, records ---------------------------------------------------------
def _segment(value: str) -> str:
    """One path segment, escaped; ``.`` and ``..`` too, which URL normalisation would eat."""
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if escaped in {".", ".."} else escaped


def _path(*parts: str) -> str:
    return API + "".join(f"/{_segment(p)}" for p in parts)


def _cursor(after: tuple[str, str]) -> str:
    """The API's page cursor for the key ``after`` (as ``grace.api.routes.models`` encodes it)."""
    return base64.urlsafe_b64encode(json.dumps(list(after)).encode()).decode()


def _jsonable(value: object) -> object:
    """Tags (any iterable) and metadata (any mapping) as JSON; other values go as they are."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    return value


def _query(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _error_from(response: httpx.Response, context: Mapping[str, object]) -> GraceError:
    """The exception a problem+json answer stands for; ``context`` is what the call asked for."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip()[:200] or response.reason_phrase
        body = {"detail": f"HTTP {status} without a problem body: {text}"}
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    problem_type = str(body["type"]) if body.get("type") else None
    if status == 401:
        return AuthenticationError(detail, status=status, problem_type=problem_type)
    if status == 403:
        return AuthorizationError(detail, status=status, problem_type=problem_type)
    kind = None
    if problem_type is not None and problem_type.startswith(_PROBLEM_PREFIX):
        kind = error_types().get(problem_type.removeprefix(_PROBLEM_PREFIX))
    if kind is None or issubclass(kind, RemoteError):  # a service never raises the client's own
        return RemoteError(detail, status=status, problem_type=problem_type)
    # The problem carries the error's own attributes (model_id, field, failed_gates, ...);
    # what this call asked for fills in any the service did not send.
    wanted = inspect.signature(kind).parameters
    attributes: dict[str, object] = {
        k: v for k, v in context.items() if k in wanted and v is not None
    }
    attributes |= {k: v for k, v in body.items() if k not in _PROBLEM_KEYS}
    if issubclass(kind, InvalidInput):
        field = str(body.get("field") or "body")
        attributes.setdefault("problem", detail.removeprefix(f"{field}: "))
        attributes["field"] = field
    elif not issubclass(kind, InvalidInput):
        attributes.pop("field", None)  # a not-found problem names the field for people only
    return kind.rebuild(detail, **attributes)


_PROBLEM_KEYS = frozenset({"type", "title", "status", "detail", "instance", "errors"})


def _answer(response: httpx.Response, context: Mapping[str, object]) -> Any:
    if response.is_success:
        try:
            return response.json()
        except ValueError:
            raise RemoteError(
                f"HTTP {response.status_code} with a body that is not JSON",
                status=response.status_code,
            ) from None
    raise _error_from(response, context)


def _time(value: str) -> datetime:
    return ensure_utc(datetime.fromisoformat(value))


def _optional_time(value: str | None) -> datetime | None:
    return None if value is None else _time(value)


def _entry(d: Mapping[str, Any]) -> ModelEntry:
    return ModelEntry(
        model_id=d["model_id"],
        version=d["version"],
        status=DeploymentStage(d["status"]),
        name=d["name"],
        description=d["description"],
        owner=d["owner"],
        tags=tuple(d["tags"]),
        artifact_uri=d["artifact_uri"],
        expected_latency_p95_ms=d["expected_latency_p95_ms"],
        constitutional_compliance=d["constitutional_compliance"],
        bias_check_passed=d["bias_check_passed"],
        calibration_error=d["calibration_error"],
        trust_score=d["trust_score"],
        metadata=dict(d["metadata"]),
        registered_at=_time(d["registered_at"]),
        updated_at=_time(d["updated_at"]),
        stage_changed_at=_time(d["stage_changed_at"]),
        deployed_at=_optional_time(d["deployed_at"]),
    )


def _stage_change(d: Mapping[str, Any]) -> StageChange:
    return StageChange(
        id=d["id"],
        model_id=d["model_id"],
        version=d["version"],
        from_stage=DeploymentStage(d["from_stage"]) if d["from_stage"] else None,
        to_stage=DeploymentStage(d["to_stage"]),
        at=_time(d["at"]),
        actor=d["actor"],
        reason=d["reason"],
        cause=ChangeCause(d["cause"]),
    )


def _settings(d: Mapping[str, Any]) -> ModelSettings:
    return ModelSettings(
        model_id=d["model_id"],
        auto_remediate=d["auto_remediate"],
        window_minutes=d["window_minutes"],
        thresholds=TriggerThresholds(**d["thresholds"]),
        overrides=dict(d["overrides"]),
    )


def _event(d: Mapping[str, Any]) -> Event:
    # Every event Grace stores is built by Event.of: its payload is resource_id plus data.
    return Event(
        event_type=d["event_type"],
        source=d["source"],
        payload={"resource_id": d["resource_id"], **d["data"]},
        timestamp=_time(d["timestamp"]),
        event_id=d["id"],
        resource_id=d["resource_id"],
        seq=d["seq"],
    )


def _timeline_entry(d: Mapping[str, Any]) -> TimelineEntry:
    return TimelineEntry(
        id=d["id"],
        at=_time(d["at"]),
        kind=d["kind"],
        message=d["message"],
        actor=d["actor"],
        data=dict(d["data"]),
    )


def _incident(d: Mapping[str, Any]) -> Incident:
    return Incident(
        id=d["id"],
        source=d["source"],
        resource_type=d["resource_type"],
        resource_id=d["resource_id"],
        severity=Severity(d["severity"]),
        title=d["title"],
        description=d["description"],
        context=dict(d["context"]),
        status=IncidentStatus(d["status"]),
        dedup_key=d["dedup_key"],
        occurrences=d["occurrences"],
        created_at=_time(d["created_at"]),
        updated_at=_time(d["updated_at"]),
        last_seen_at=_time(d["last_seen_at"]),
        acknowledged_at=_optional_time(d["acknowledged_at"]),
        acknowledged_by=d["acknowledged_by"],
        resolved_at=_optional_time(d["resolved_at"]),
        resolved_by=d["resolved_by"],
        timeline=tuple(_timeline_entry(t) for t in d["timeline"]),
    )


def _step(d: Mapping[str, Any]) -> StepRecord:
    return StepRecord(
        name=d["name"],
        status=StepStatus(d["status"]),
        started_at=_time(d["started_at"]),
        finished_at=_time(d["finished_at"]),
        duration_ms=d["duration_ms"],
        detail=dict(d["detail"]),
        error=d["error"],
    )


def _execution(d: Mapping[str, Any]) -> PlaybookExecution:
    return PlaybookExecution(
        id=d["id"],
        playbook=d["playbook"],
        resource_type=d["resource_type"],
        resource_id=d["resource_id"],
        status=ExecutionStatus(d["status"]),
        context=dict(d["context"]),
        steps=tuple(_step(s) for s in d["steps"]),
        result=dict(d["result"]),
        error=d["error"],
        started_at=_time(d["started_at"]),
        finished_at=_optional_time(d["finished_at"]),
    )


def _check(d: Mapping[str, Any] | None) -> RollbackCheck | None:
    return None if d is None else cast(RollbackCheck, dict(d))


def _batch_item(d: Mapping[str, Any]) -> BatchItem:
    if d["status"] == "stored":
        return BatchItem(d["index"], d["snapshot_id"], None)
    detail = str(d.get("detail") or "refused")
    field = d.get("field")
    problem_type = str(d.get("type") or "")
    kind = error_types().get(problem_type.removeprefix(_PROBLEM_PREFIX), InvalidInput)
    error: GraceError
    if issubclass(kind, InvalidInput):
        name = str(field or "snapshot")
        error = InvalidInput.rebuild(detail, field=name, problem=detail.removeprefix(f"{name}: "))
    else:
        error = kind.rebuild(detail)
    return BatchItem(d["index"], None, error)


# -- transports: a sync transport driven from async code, and the reverse -----------------------
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _buffered(response: httpx.Response) -> httpx.Response:
    """A read response as a new one, its body already decoded (so its framing headers go)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _FRAMING]
    return httpx.Response(response.status_code, headers=headers, content=response.content)


class _ThreadedTransport(httpx.AsyncBaseTransport):
    """A plain transport (e.g. ``httpx.WSGITransport``) used by the coroutines, in a thread."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        def send() -> httpx.Response:
            response = self._inner.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
            return _buffered(response)

        return await asyncio.to_thread(send)

    async def aclose(self) -> None:
        pass  # the inner transport is the plain client's; it closes it


class _LoopThread:
    """An event loop of its own in a daemon thread, for driving async-only transports."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="grace-client-loop", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        async def settle() -> None:
            # An in-process app may leave work behind (event fan-out); let it finish first.
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if pending:
                _, late = await asyncio.wait(pending, timeout=5.0)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            loop = asyncio.get_running_loop()
            await loop.shutdown_asyncgens()
            await loop.shutdown_default_executor()

        self.run(settle())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class _PortalTransport(httpx.BaseTransport):
    """An async-only transport (e.g. ``httpx.ASGITransport``) used by the plain methods.

    The requests run on a private event loop in a thread, so a plain call works
    whether or not the caller is inside an event loop of its own.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self._loop: _LoopThread | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            return _buffered(response)

        with self._lock:
            if self._loop is None:
                self._loop = _LoopThread()
            loop = self._loop
        return loop.run(send())

    def close(self) -> None:
        # The inner transport is the async client's, which closes it on its own loop.
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.close()


# -- the client -------------------------------------------------------------------------------
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
            self._sync_transport = _PortalTransport(cast(httpx.AsyncBaseTransport, transport))
        if transport is not None and self._async_transport is None:
            self._async_transport = _ThreadedTransport(cast(httpx.BaseTransport, transport))
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
            response = self._client().request(method, path, params=_query(params or {}), json=body)
        except httpx.TransportError as exc:
            raise Unreachable(f"no answer from {self.base_url}: {exc}") from exc
        return _answer(response, context)

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
                method, path, params=_query(params or {}), json=body
            )
        except httpx.TransportError as exc:
            raise Unreachable(f"no answer from {self.base_url}: {exc}") from exc
        return _answer(response, context)

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
            body["tags"] = _jsonable(tags)
        if metadata is not None:
            body["metadata"] = _jsonable(metadata)
        answer = self._call("POST", _path("models"), body=body, model_id=model_id, version=version)
        return _entry(answer)

    def get_model(self, model_id: str, version: str | None = None) -> ModelEntry:
        """That version, or without one the latest registered version."""
        if version is None:
            return _entry(self._call("GET", _path("models", model_id), model_id=model_id))
        path = _path("models", model_id, "versions", version)
        return _entry(self._call("GET", path, model_id=model_id, version=version))

    def get_production_version(self, model_id: str) -> ModelEntry | None:
        try:
            path = _path("models", model_id, "production")
            return _entry(self._call("GET", path, model_id=model_id))
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
            "cursor": _cursor(after) if after is not None else None,
            "limit": limit,
        }
        answer = self._call("GET", _path("models"), params=params)
        return [_entry(item) for item in answer["items"]]

    def update_model(self, model_id: str, version: str, **changes: Any) -> ModelEntry:
        """Change descriptive fields of a version (never its stage)."""
        body = {k: _jsonable(v) if k in {"tags", "metadata"} else v for k, v in changes.items()}
        path = _path("models", model_id, "versions", version)
        return _entry(self._call("PATCH", path, body=body, model_id=model_id, version=version))

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
            path = _path("models", model_id, "stage")
            return _entry(self._call("POST", path, body=body, model_id=model_id))
        path = _path("models", model_id, "versions", version, "stage")
        return _entry(self._call("POST", path, body=body, model_id=model_id, version=version))

    def get_stage_history(self, model_id: str) -> list[StageChange]:
        answer = self._call("GET", _path("models", model_id, "history"), model_id=model_id)
        return [_stage_change(item) for item in answer]

    def production_version_at(self, model_id: str, at: datetime) -> str | None:
        """Which version was in production at instant ``at`` (naive means local time)."""
        return production_version_at(self.get_stage_history(model_id), ensure_utc(at))

    def get_timeline(
        self, model_id: str, *, before_seq: int | None = None, limit: int = 100
    ) -> list[Event]:
        """The model's events, newest first."""
        params = {"before_seq": before_seq or None, "limit": limit}
        path = _path("models", model_id, "timeline")
        answer = self._call("GET", path, params=params, model_id=model_id)
        return [_event(item) for item in answer["items"]]

    # -- settings ------------------------------------------------------------------------------
    def get_model_settings(self, model_id: str) -> ModelSettings:
        path = _path("models", model_id, "settings")
        return _settings(self._call("GET", path, model_id=model_id))

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
        path = _path("models", model_id, "settings")
        return _settings(self._call("PATCH", path, body=body, model_id=model_id))

    # -- snapshots, triggers, health -------------------------------------------------------------
    async def record_performance_snapshot(
        self, snapshot: ModelPerformanceSnapshot
    ) -> SnapshotResult:
        """Store a snapshot, emit its monitoring event, check triggers and act on them."""
        if not isinstance(snapshot, ModelPerformanceSnapshot):
            raise InvalidInput("snapshot", "must be a ModelPerformanceSnapshot")
        answer = await self._acall(
            "POST",
            _path("models", snapshot.model_id, "performance"),
            body=snapshot.to_dict(),
            model_id=snapshot.model_id,
            version=snapshot.version,
        )
        return SnapshotResult(
            answer["snapshot_id"],
            answer["model_id"],
            answer["version"],
            judged=answer["judged"],
            check=_check(answer["check"]),
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
        answer = await self._acall("POST", _path("performance", "batch"), body=body)
        for index, received in zip(sent, answer["items"], strict=True):
            items[index] = dataclasses.replace(_batch_item(received), index=index)
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
            _path("models", model_id, "rollback-check"),
            params=params,
            model_id=model_id,
        )
        return cast(RollbackCheck, answer)

    def get_model_health_summary(
        self, model_id: str, window_minutes: int | None = None
    ) -> HealthSummary:
        """The guide's health summary of the production version over the model's window."""
        path = _path("models", model_id, "health")
        answer = self._call(
            "GET", path, params={"window_minutes": window_minutes}, model_id=model_id
        )
        return cast(HealthSummary, answer)

    async def monitor_production_models(self, window_minutes: int = 10) -> FleetHealth:
        """Judge every production model over the window."""
        path = _path("monitor", "production")
        answer = await self._acall("GET", path, params={"window_minutes": window_minutes})
        return cast(FleetHealth, answer)

    async def rollback(
        self, model_id: str, reason: str, target_version: str | None = None
    ) -> RollbackResult:
        """Roll production back to ``target_version``, or to the previous stable version."""
        answer = await self._acall(
            "POST",
            _path("models", model_id, "rollback"),
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
        path = _path("incidents", str(incident_id))
        return _incident(self._client._call("GET", path, incident_id=incident_id))

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
        answer = self._client._call("GET", _path("incidents"), params=params)
        return [_incident(item) for item in answer["items"]]

    async def acknowledge(self, incident_id: int, *, note: str | None = None) -> Incident:
        return await self._act(incident_id, "acknowledge", note)

    async def resolve(self, incident_id: int, *, note: str | None = None) -> Incident:
        return await self._act(incident_id, "resolve", note)

    async def _act(self, incident_id: int, action: str, note: str | None) -> Incident:
        path = _path("incidents", str(incident_id), action)
        answer = await self._client._acall(
            "POST", path, body={"note": note}, incident_id=incident_id
        )
        return _incident(answer)

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
        path = _path("incidents", str(incident_id), "notes")
        answer = await self._client._acall("POST", path, body=body, incident_id=incident_id)
        return _timeline_entry(answer)


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
        answer = self._client._call("GET", _path("executions"), params=params)
        return [_execution(item) for item in answer["items"]]

    def get_execution(self, execution_id: int) -> PlaybookExecution:
        path = _path("executions", str(execution_id))
        answer = self._client._call("GET", path, execution_id=execution_id)
        return _execution(answer)
