"""What the client and the service say to each other: paths, query values, and the
exceptions rebuilt from problem+json answers."""

from __future__ import annotations

import base64
import inspect
import json
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from grace.errors import (
    GraceError,
    InvalidInput,
    error_types,
)

API = "/api/model-registry"
PROBLEM_PREFIX = "urn:grace:problem:"
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


def api_path(*parts: str) -> str:
    return API + "".join(f"/{_segment(p)}" for p in parts)


def encode_cursor(after: tuple[str, str]) -> str:
    """The API's page cursor for the key ``after`` (as ``grace.api.routes.models`` encodes it)."""
    return base64.urlsafe_b64encode(json.dumps(list(after)).encode()).decode()


def jsonable(value: object) -> object:
    """Tags (any iterable) and metadata (any mapping) as JSON; other values go as they are."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    return value


def query_params(params: Mapping[str, Any]) -> dict[str, Any]:
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
    if problem_type is not None and problem_type.startswith(PROBLEM_PREFIX):
        kind = error_types().get(problem_type.removeprefix(PROBLEM_PREFIX))
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


def answer_of(response: httpx.Response, context: Mapping[str, object]) -> Any:
    if response.is_success:
        try:
            return response.json()
        except ValueError:
            raise RemoteError(
                f"HTTP {response.status_code} with a body that is not JSON",
                status=response.status_code,
            ) from None
    raise _error_from(response, context)
