"""An HTTP POST that cannot be turned against the service's own network, for every sender
that speaks HTTP (webhooks, PagerDuty, Slack, Alertmanager).

The target's host is resolved here and every address it resolves to is checked
(:func:`grace.domain.delivery.is_refused_address`) before connecting, and the connection is
made to the checked address (the Host header and TLS server name stay the URL's), so a DNS
answer that changes between the check and the connection cannot slip through.  Redirects
are never followed.  The whole attempt, from resolving to the last byte read, is bounded
by the timeout, so a receiver that answers one byte at a time cannot hold a worker; at most
64 KiB of an answer is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from grace import __version__
from grace.domain.delivery import Network, Outcome, is_refused_address
from grace.errors import InvalidInput

__all__ = [
    "AddressRefused",
    "Answer",
    "HttpPoster",
    "Lanes",
    "Resolver",
    "check_target",
    "target_checker",
]

_RESOLVE_SECONDS = 5.0  # a new subscription's host must resolve within
_MAX_ANSWER_BYTES = 64 * 1024  # read (and ignore) at most this much of an answer
Resolver = Callable[[str, int], Awaitable[list[str]]]


class AddressRefused(Exception):
    """The target resolves to an address webhooks may not reach."""


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


async def check_target(
    url: str,
    *,
    allowed_hosts: frozenset[str],
    allowed_networks: Sequence[Network],
    resolve: Resolver = _resolve,
) -> str | None:
    """The address to connect to for ``url`` (None: connect by name, the host is allowed).

    Raises AddressRefused when any address the host resolves to is refused, or when it
    does not resolve at all.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if host in allowed_hosts:
        return None
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await resolve(host, _port(parts))
        except OSError as exc:
            raise AddressRefused(f"{host} does not resolve ({exc})") from None
    if not addresses:
        raise AddressRefused(f"{host} does not resolve")
    refused = [a for a in addresses if is_refused_address(a, allowed_networks)]
    if refused:
        raise AddressRefused(
            f"{host} resolves to {refused[0]}, a loopback, private, link-local or metadata "
            "address (allow it with GRACE_WEBHOOK_ALLOWED_HOSTS)"
        )
    return addresses[0]


def target_checker(
    allowed_hosts: frozenset[str], allowed_networks: Sequence[Network], resolve: Resolver = _resolve
) -> Callable[[str], Awaitable[None]]:
    """A check for new subscriptions: InvalidInput on field url when the target is refused."""

    async def check(url: str) -> None:
        try:
            async with asyncio.timeout(_RESOLVE_SECONDS):
                await check_target(
                    url,
                    allowed_hosts=allowed_hosts,
                    allowed_networks=allowed_networks,
                    resolve=resolve,
                )
        except AddressRefused as exc:
            raise InvalidInput("url", str(exc)) from None
        except TimeoutError:
            host = urlsplit(url).hostname
            raise InvalidInput("url", f"{host} does not resolve (no answer in time)") from None

    return check


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class Lanes:
    """HTTP clients of one connection each, kept per origin and lent to one attempt at a
    time.

    One shared client would do, but httpx's pool walks every connection it holds on every
    request and polls each idle one's socket: with 16 attempts in flight that bookkeeping
    took 40% of the delivery worker's time.  A client per attempt in flight keeps each walk
    to one connection, and doubled the worker's rate (README, "Delivery").
    At most ``keep`` idle clients stay open per origin, and ``keep_total`` in all.
    """

    def __init__(self, timeout: float, *, keep: int = 20, keep_total: int = 100) -> None:
        self._timeout = timeout
        self._keep = keep
        self._keep_total = keep_total
        self._idle: dict[tuple[str, str], list[httpx.AsyncClient]] = {}
        self._idle_count = 0
        self._tls: ssl.SSLContext | None = None

    def _new(self) -> httpx.AsyncClient:
        if self._tls is None:  # made once: loading the CA bundle costs milliseconds
            self._tls = httpx.create_ssl_context()
        return httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(self._timeout),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            trust_env=False,  # no proxy from the environment may see or reroute deliveries
            verify=self._tls,
        )

    @contextlib.asynccontextmanager
    async def lend(self, origin: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
        idle = self._idle.get(origin)
        if idle:
            client = idle.pop()
            self._idle_count -= 1
        else:
            client = self._new()
        kept = False
        try:
            yield client
            if len(self._idle.get(origin, ())) < self._keep and self._idle_count < self._keep_total:
                self._idle.setdefault(origin, []).append(client)
                self._idle_count += 1
                kept = True
        finally:
            if not kept:
                await client.aclose()

    async def close(self) -> None:
        idle, self._idle, self._idle_count = self._idle, {}, 0
        for clients in idle.values():
            for client in clients:
                await client.aclose()


@dataclass(frozen=True, slots=True)
class Answer:
    """What a POST saw, and the first 64 KiB of the answer's body."""

    outcome: Outcome
    body: bytes = b""


class HttpPoster:
    """POSTs to checked, pinned addresses through :class:`Lanes`, within a timeout."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        allowed_hosts: frozenset[str] = frozenset(),
        allowed_networks: Sequence[Network] = (),
        resolve: Resolver = _resolve,
    ) -> None:
        self.timeout = timeout
        self._allowed_hosts = allowed_hosts
        self._allowed_networks = tuple(allowed_networks)
        self._resolve = resolve
        self._lanes = Lanes(timeout)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """One attempt; never raises for the receiver's or the network's faults."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(url, body, headers, started)
        except TimeoutError:
            error = f"timed out after {self.timeout:g}s"
        except AddressRefused as exc:
            error = f"refused: {exc}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except (OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        return Answer(Outcome(error=error, duration_ms=(time.perf_counter() - started) * 1000))

    async def _post(
        self, url: str, body: bytes, given: Mapping[str, str], started: float
    ) -> Answer:
        address = await check_target(
            url,
            allowed_hosts=self._allowed_hosts,
            allowed_networks=self._allowed_networks,
            resolve=self._resolve,
        )
        headers = {"user-agent": f"grace/{__version__}", **given}
        extensions = {}
        target = url
        if address is not None:  # connect to the checked address, under the URL's name
            parts = urlsplit(url)
            shown = f"[{address}]" if ":" in address else address
            netloc = shown + (f":{parts.port}" if parts.port else "")
            if parts.username or parts.password:
                netloc = f"{parts.username or ''}:{parts.password or ''}@{netloc}"
            target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
            headers["host"] = parts.netloc.rsplit("@", 1)[-1]
            if parts.scheme == "https":
                extensions["sni_hostname"] = parts.hostname or ""
        parts = urlsplit(target)
        kept = bytearray()
        async with self._lanes.lend((parts.scheme, parts.netloc)) as client:
            request = client.build_request(
                "POST", target, content=body, headers=headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                async for chunk in response.aiter_raw():
                    kept += chunk[: _MAX_ANSWER_BYTES - len(kept)]
                    if len(kept) >= _MAX_ANSWER_BYTES:
                        break
            finally:
                await response.aclose()
        outcome = Outcome(
            status_code=response.status_code,
            retry_after=_retry_after(response.headers.get("retry-after")),
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        return Answer(outcome, bytes(kept))

    async def close(self) -> None:
        await self._lanes.close()
