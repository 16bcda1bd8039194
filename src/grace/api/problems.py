"""RFC 9457 problem details: every error the API returns, mapped from exception types here, once.

Routes never build error responses; they let the core's exceptions (and the
few of the HTTP layer's own) propagate, and this table decides the status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from grace.errors import (
    Conflict,
    GraceError,
    InvalidInput,
    NotFound,
    StorageError,
    error_field,
)

__all__ = [
    "PROBLEM_JSON",
    "ApiProblem",
    "Forbidden",
    "PayloadTooLarge",
    "Unauthorized",
    "install",
    "problem_response",
    "problem_type",
]

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    """An error of the HTTP layer itself (authentication, size limits)."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(ApiProblem):
    status = 401
    title = "Unauthorized"


class Forbidden(ApiProblem):
    status = 403
    title = "Forbidden"


class PayloadTooLarge(ApiProblem):
    status = 413
    title = "Payload too large"


# The status of each kind of error; most specific first, the first matching row decides.
# The problem's type names the exact error class, so the client can raise the same one.
_STATUS: tuple[tuple[type[GraceError], int], ...] = (
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),  # GovernanceRefused among them, with its failed_gates
    (StorageError, 503),
    (GraceError, 400),
)


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def problem_response(
    status: int, title: str, detail: str, *, slug: str | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"urn:grace:problem:{slug or _slug(title)}",
        "title": title,
        "status": status,
        "detail": detail,
        **{k: v for k, v in extra.items() if v is not None},
    }
    headers = {"WWW-Authenticate": 'Bearer realm="grace"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_type(exc: GraceError) -> str:
    return f"urn:grace:problem:{exc.code()}"


def grace_error_response(exc: GraceError) -> JSONResponse:
    if isinstance(exc, StorageError):
        log.error("database error: %s", exc.internal)  # the client hears only that it failed
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            # The error's own attributes (model_id, version, failed_gates, field, ...) travel
            # with it, so the client can raise the same error with the same attributes.
            extra: dict[str, Any] = exc.attributes()
            extra.setdefault("field", error_field(exc))
            return problem_response(status, exc.title, exc.detail, slug=exc.code(), **extra)
    raise AssertionError("GraceError is the last row")  # pragma: no cover


def unparseable_body(cause: BaseException) -> str:
    """Why a request body could not be read as JSON, in the client's terms."""
    if isinstance(cause, UnicodeDecodeError):
        return f"is not valid UTF-8 (byte {cause.start})"
    if isinstance(cause, RecursionError):
        return "nests too deeply to parse"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "holds an integer with more digits than allowed (4300)"
    return "is not a JSON document"


def _location(error: Mapping[str, Any]) -> str:
    if error.get("type") == "json_invalid":  # its loc ends in a character offset
        return "body"
    parts = [str(p) for p in error.get("loc", ()) if p not in {"body", "query", "path", "header"}]
    return ".".join(parts) or "body"


def _allowed(app: FastAPI, path: str) -> list[str]:
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        regex, _, _ = compile_path(str(getattr(route, "path", "")))
        if regex.fullmatch(path):
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(GraceError)
    async def _grace(_: Request, exc: GraceError) -> JSONResponse:
        return grace_error_response(exc)

    @app.exception_handler(ApiProblem)
    async def _api(_: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _location(e), "detail": str(e.get("msg", ""))} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "detail": "invalid request"}
        return problem_response(
            422,
            "Invalid input",
            f"{first['field']}: {first['detail']}",
            slug="invalid-input",
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's "There was an error parsing the body": say why, as any invalid input.
            why = unparseable_body(exc.__cause__)
            return problem_response(
                422, "Invalid input", f"body: {why}", slug="invalid-input", field="body"
            )
        # Routing errors get their own type: "no such route" is not "no such model".
        title = HTTPStatus(exc.status_code).phrase
        response = problem_response(
            exc.status_code, title, str(exc.detail), slug=f"http-{exc.status_code}"
        )
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Allow: every method of every route on this path
            response.headers["Allow"] = ", ".join(_allowed(request.app, request.url.path))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "Internal server error", "an unexpected error occurred")
