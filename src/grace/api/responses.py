"""JSON replies built directly, so FastAPI does not re-validate what the core already shaped.

Routes still declare ``response_model`` for /openapi.json; the schemathesis suite checks
that what they return matches it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

__all__ = ["JSONReply", "reply"]


class JSONReply(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


def reply(content: Any, status_code: int = 200) -> JSONReply:
    return JSONReply(content, status_code=status_code)
