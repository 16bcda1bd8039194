"""Events: the paged history of the event log, and a live Server-Sent Events stream of it.

The stream tails the durable log (so it shows events written by every worker
and replica, in log order, and resumes from ``Last-Event-ID``); the local bus
only wakes it early when this process wrote something.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from grace.api.deps import MAX_ID, GraceDep, Reader, Run
from grace.api.responses import JSONReply, reply
from grace.api.schemas import EventPage
from grace.api.shapes import Identifier
from grace.errors import InvalidInput
from grace.services.clarity import Event

router = APIRouter(prefix="/api/model-registry", tags=["events"])

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
BATCH = 500


@router.get("/events", response_model=EventPage)
async def list_events(
    grace: GraceDep,
    _: Reader,
    run: Run,
    after_seq: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Events after this position.")
    ] = None,
    model_id: Identifier | None = None,
    event_type: Annotated[list[Identifier] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONReply:
    """The event log in order, a page at a time (continue with ``next_after``)."""
    events = await run(
        grace.events.list_events,
        after_seq=after_seq or 0,
        resource_id=model_id,
        event_types=event_type,
        limit=limit,
    )
    return reply(
        {
            "items": [e.to_dict() for e in events],
            "next_after": events[-1].seq if events else after_seq,
        }
    )


def _frame(event: Event) -> str:
    return f"id: {event.seq}\nevent: {event.event_type}\ndata: {json.dumps(event.to_dict())}\n\n"


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An SSE stream."}},
)
async def stream_events(
    request: Request,
    grace: GraceDep,
    _: Reader,
    after_seq: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="Replay from this position.")
    ] = None,
    model_id: Identifier | None = None,
    event_type: Annotated[list[Identifier] | None, Query()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Live events as Server-Sent Events; without a position, from now on."""
    start = after_seq
    if start is None and last_event_id:
        try:
            start = int(last_event_id)
        except ValueError:
            start = -1
        if not 0 <= start <= MAX_ID:
            raise InvalidInput("Last-Event-ID", "must be an event position (seq)")
    if start is None:
        start = await grace.run(grace.events.latest_seq)
    return StreamingResponse(
        _tail(request, grace, start, model_id, event_type),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _tail(
    request: Request,
    grace: Any,
    cursor: int,
    model_id: str | None,
    event_types: list[str] | None,
) -> AsyncIterator[str]:
    wake = asyncio.Event()

    async def nudge(_: Event) -> None:
        wake.set()

    subscription = grace.bus.subscribe(nudge)
    idle = 0.0
    try:
        yield ": connected\n\n"
        while not await request.is_disconnected():
            events = await grace.run(
                grace.events.list_events,
                after_seq=cursor,
                resource_id=model_id,
                event_types=event_types,
                limit=BATCH,
            )
            for event in events:
                cursor = event.seq or cursor
                yield _frame(event)
            if len(events) == BATCH:
                continue
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), POLL_SECONDS)
                idle = 0.0
            except TimeoutError:
                idle += POLL_SECONDS
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keepalive\n\n"
    finally:
        subscription.cancel()
