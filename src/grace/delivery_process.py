"""The delivery worker in a process of its own, beside ``grace serve``'s HTTP workers.

Delivering is Python work per event (a CloudEvent to encode and sign, an HTTP exchange);
done on the serving event loop it would take turns with every request.  So ``grace serve``
starts one ``grace deliver`` process (:class:`DeliveryProcess`), restarts it if it dies, and
stops it on shutdown; the child dies with its parent (Linux: ``PR_SET_PDEATHSIG``; elsewhere
it notices within a second).  It follows the event log by polling its head every
``GRACE_DELIVERY_POLL_SECONDS``.  Several such processes (replicas on PostgreSQL) share the
subscriptions through their leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from grace.bootstrap import build
from grace.settings import Settings, load_settings

__all__ = ["DeliveryProcess", "run_delivery"]

log = logging.getLogger("grace.delivery")

_PR_SET_PDEATHSIG = 1
_PARENT = "GRACE_DELIVERY_PARENT_PID"  # set by DeliveryProcess for its child


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_delivery(settings: Settings, parent: int | None = None) -> None:
    """Deliver until SIGTERM or SIGINT, or until ``parent`` (the process that started this
    one) is gone."""
    _die_with_parent()
    if parent is not None and os.getppid() != parent:
        return  # the parent died before we could ask to die with it
    grace = build(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        grace.delivery.start()
        log.info("delivering events (worker %s)", grace.delivery.owner)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if parent is not None and os.getppid() != parent:  # orphaned, untold
                break
        await grace.delivery.stop()

    try:
        asyncio.run(main())
    finally:
        grace.close()


class DeliveryProcess:
    """``grace deliver`` as a supervised child of ``grace serve``."""

    def __init__(self, database_url: str) -> None:
        self._env = {
            **os.environ,
            "GRACE_DATABASE_URL": database_url,
            _PARENT: str(os.getpid()),
        }
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, name="grace-delivery-supervisor", daemon=True
        )
        self._supervisor.start()

    def _spawn(self) -> None:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "grace.delivery_process"], env=self._env
        )

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            child = self._child
            if child is None:
                return
            status = child.wait()
            if self._stopping.is_set():
                return
            log.warning("the delivery process exited with status %s; restarting it", status)
            time.sleep(1.0)
            if not self._stopping.is_set():
                self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        child = self._child
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)


if __name__ == "__main__":
    from grace.api.app import configure_logging

    loaded = load_settings()
    configure_logging(loaded)
    started_by = os.environ.get(_PARENT, "")
    run_delivery(loaded, int(started_by) if started_by.isdigit() else None)
