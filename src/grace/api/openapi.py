"""/openapi.json: the document FastAPI derives from the routes, completed with what it cannot see.

FastAPI documents each route's parameters, bodies and success answer (with the rules of
``grace.api.shapes``).  This adds:

- every problem+json answer an operation can give, including those sent before any route
  runs: 400 (not valid HTTP), 408 (headers or body too slow), 413 (body too large) and
  414 (URL too long), from :mod:`grace.api.protocol` and :class:`grace.api.app.BodyGuard`;
- the bearer security scheme, only while the service requires tokens: in open mode it asks
  for none, and a document that said otherwise would send clients a header nobody reads;
- the batch body, which its route reads itself, with the service's item limit;
- optional parameters as absent rather than null (a query string has no null).

Both documents (open and guarded) are built once, when first asked for; which one a request
gets is decided per request, because open mode ends the moment a first token is created.
This module must never change what the routes accept, only what the document says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse

from grace.api import problems
from grace.api.deps import ApiContext
from grace.api.schemas import BatchIn, ProblemOut
from grace.api.shapes import JSON_OBJECT_MARK, JSON_VALUE, json_object_schema, json_value_schema

__all__ = ["DOCS_URL", "OPENAPI_URL", "build_document", "install"]

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
_OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
_REDOC_URL = "/redoc"

_NULL = {"type": "null"}

# Answers any request can get before a route runs: from the HTTP protocol (400, 408, 414) or
# from the body guard (408, 413).  They are problem+json like every other error.
_BEFORE_ROUTING = {
    "400": "Not valid HTTP/1.1; the connection is closed",
    "408": "The request line and headers, or the body, did not arrive in time; "
    "the connection is closed",
    "413": "The body is larger than the limit",
    "414": "The URL is longer than the limit",
}


def _problem(description: str) -> dict[str, Any]:
    content = {problems.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {"description": description, "content": content}


def _absent_not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without the null branch FastAPI gives an optional one."""
    options = schema.get("anyOf")
    if not options or _NULL not in options:
        return schema
    kept = [option for option in options if option != _NULL]
    rest = {k: v for k, v in schema.items() if k not in {"anyOf", "title"}}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _expand_json_objects(node: Any, ref: str) -> None:
    """Replace each JSON-object mark of ``grace.api.shapes`` with the schema it stands for."""
    if isinstance(node, dict):
        if node.pop(JSON_OBJECT_MARK, False):
            node.update(json_object_schema(ref))
            return
        for child in node.values():
            _expand_json_objects(child, ref)
    elif isinstance(node, list):
        for child in node:
            _expand_json_objects(child, ref)


def build_document(app: FastAPI, *, guarded: bool, max_batch_snapshots: int) -> dict[str, Any]:
    """The OpenAPI document of ``app``, for a service that does or does not require tokens."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = ProblemOut.model_json_schema(ref_template="#/components/schemas/{model}")
    # The batch route reads its body itself (a bounded read); its schema is declared here.
    batch = BatchIn.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(batch.pop("$defs", {}))
    batch["properties"]["snapshots"]["maxItems"] = max_batch_snapshots
    schemas["BatchIn"] = batch
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    if not guarded:
        components.pop("securitySchemes", None)
    json_value = f"#/components/schemas/{JSON_VALUE}"
    _expand_json_objects(schema, json_value)
    schemas[JSON_VALUE] = json_value_schema(json_value)

    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if not guarded:
                operation.pop("security", None)
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _absent_not_null(parameter["schema"])
            operation["responses"] = _responses(path, method, operation, guarded=guarded)
    return schema


def _responses(
    path: str, method: str, operation: dict[str, Any], *, guarded: bool
) -> dict[str, Any]:
    """The operation's own answers, then every problem it can answer with, by status."""
    responses: dict[str, Any] = {
        status: response
        for status, response in operation.get("responses", {}).items()
        if status != "422"  # FastAPI's validation error: Grace answers a problem instead
    }
    errors = dict(_BEFORE_ROUTING)
    if operation.get("parameters") or operation.get("requestBody"):
        errors["422"] = "Invalid input; `field` names the offending one"
    if path.startswith("/api/"):
        errors["401"] = (
            "Missing, invalid or revoked token"
            if guarded
            else "An Authorization header was sent and its token is not valid"
        )
        if guarded:
            errors["403"] = "The token lacks the scope this needs"
        errors["503"] = "The database is unavailable"
        if "{" in path:
            errors["404"] = "Not found"
        if method in {"post", "patch", "put", "delete"}:
            errors["409"] = "Refused by the current state"
        if path.endswith("/performance/batch"):
            errors["413"] = (
                "The body is larger than the limit, or holds more snapshots than allowed"
            )
    for status, description in errors.items():
        own = responses.get(status)  # a route's own wording of a status wins; the body is a problem
        responses[status] = _problem(own["description"] if own else description)
    return dict(sorted(responses.items()))


def install(app: FastAPI, api: ApiContext) -> None:
    """Serve the documents and the interactive pages (built with FastAPI's own helpers)."""
    cache: dict[bool, dict[str, Any]] = {}

    def document(*, guarded: bool) -> dict[str, Any]:
        if guarded not in cache:
            cache[guarded] = build_document(
                app, guarded=guarded, max_batch_snapshots=api.grace.settings.max_batch_snapshots
            )
        return cache[guarded]

    def current() -> dict[str, Any]:
        return document(guarded=not api.is_open())

    app.openapi = current  # type: ignore[method-assign]

    async def openapi_json(request: Request) -> JSONResponse:
        # is_open reads the database while open; like every database call, off the event loop.
        guarded = not await api.run(api.is_open)
        spec = document(guarded=guarded)
        root_path = str(request.scope.get("root_path", "")).rstrip("/")
        if root_path:
            spec = {**spec, "servers": [{"url": root_path}, *spec.get("servers", [])]}
        return JSONResponse(spec)

    def page(build: Callable[[str], HTMLResponse]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> HTMLResponse:
            return build(str(request.scope.get("root_path", "")).rstrip("/"))

        return endpoint

    swagger = page(
        lambda root: get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=root + _OAUTH2_REDIRECT_URL,
        )
    )
    redirect = page(lambda _: get_swagger_ui_oauth2_redirect_html())
    redoc = page(
        lambda root: get_redoc_html(openapi_url=root + OPENAPI_URL, title=f"{app.title} - ReDoc")
    )
    app.add_route(OPENAPI_URL, openapi_json, include_in_schema=False)
    app.add_route(DOCS_URL, swagger, include_in_schema=False)
    app.add_route(_OAUTH2_REDIRECT_URL, redirect, include_in_schema=False)
    app.add_route(_REDOC_URL, redoc, include_in_schema=False)
