"""Small ASGI helpers shared by the middleware."""

from __future__ import annotations

from starlette.types import Message, Receive

__all__ = ["WHOLE_BODY", "replay"]

#: The scope key under which BodyGuard leaves the request body it has read whole (b"" for a
#: request without one), so that middleware inside it need not read it again.
WHOLE_BODY = "grace.whole_body"


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives ``body`` (already read whole) once, then whatever the connection
    says next (a disconnect)."""
    pending: bytes | None = body

    async def again() -> Message:
        nonlocal pending
        if pending is None:
            return await receive()
        message: Message = {"type": "http.request", "body": pending, "more_body": False}
        pending = None
        return message

    return again
