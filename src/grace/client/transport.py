"""Transports that let one client serve plain and async callers, in any thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx

_T = TypeVar("_T")


FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _buffered(response: httpx.Response) -> httpx.Response:
    """A read response as a new one, its body already decoded (so its framing headers go)."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in FRAMING]
    return httpx.Response(response.status_code, headers=headers, content=response.content)


class ThreadedTransport(httpx.AsyncBaseTransport):
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


class PortalTransport(httpx.BaseTransport):
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
