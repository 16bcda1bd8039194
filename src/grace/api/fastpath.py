"""The snapshot POST without FastAPI's routing and dependency machinery, when nothing about
the request is unusual.

``POST /api/model-registry/models/{model_id}/performance`` is the one route a fleet calls
thousands of times a second, and resolving its route and dependencies costs FastAPI more
than Grace's whole snapshot path.  :class:`SnapshotFastPath` sits in the middleware stack
inside :class:`~grace.api.app.BodyGuard`, which leaves it the body whole and within its
limits (``WHOLE_BODY``), and answers such a request itself, with the route's own pieces: the path's
``Identifier`` type, the ``SnapshotIn`` model validating the parsed JSON as FastAPI would,
the route's ``Authorizer``, :func:`~grace.api.routes.monitoring.record_one` for the work and
the one error mapping for a refusal by the core.

Anything else goes on to the app unchanged: another route or method, a content type other
than JSON, a body that does not parse or validate, a caller the authorizer refuses.  Those
answers (422, 401, 403, ...) are the app's own, so every error still has one home.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from grace.api.asgi import WHOLE_BODY
from grace.api.deps import ApiContext, require
from grace.api.problems import ApiProblem, grace_error_response
from grace.api.routes.monitoring import record_one
from grace.api.schemas import SnapshotIn
from grace.api.shapes import Identifier
from grace.domain.tokens import Scope as TokenScope
from grace.errors import GraceError

__all__ = ["SnapshotFastPath"]

_PREFIX = "/api/model-registry/models/"
_SUFFIX = "/performance"
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_INGESTER = require(TokenScope.INGEST)  # as the route's Ingester dependency


class SnapshotFastPath:
    def __init__(self, app: ASGIApp, api: ApiContext) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        model_id = path[len(_PREFIX) : -len(_SUFFIX)]
        body = scope.get(WHOLE_BODY)
        if (
            isinstance(body, bytes)
            and scope["method"] == "POST"
            and path.startswith(_PREFIX)
            and path.endswith(_SUFFIX)
            and "/" not in model_id  # as the route's {model_id}
        ):
            answer = await self._answer(scope, model_id, body)
            if answer is not None:
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, model_id: str, body: bytes) -> Any:
        """The response, or None to leave the request to the app."""
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if content_type != b"application/json":
            return None
        scheme, token = get_authorization_scheme_param(
            headers[b"authorization"].decode("latin-1") if b"authorization" in headers else None
        )
        try:
            model_id = _IDENTIFIER.validate_python(model_id)
            await _INGESTER.authorize(
                self.api, token if scheme.lower() == "bearer" and token else None
            )
            snapshot = SnapshotIn.model_validate(json.loads(body))
        # json's errors are ValueErrors; a document nested deeper than Python recurses is a
        # RecursionError, which the app answers as any unparseable body.
        except (ValueError, RecursionError, ValidationError, ApiProblem):
            return None
        try:
            return await record_one(self.api.grace, model_id, snapshot)
        except GraceError as exc:
            return grace_error_response(exc)
