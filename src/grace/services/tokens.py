"""API tokens: created with scopes, stored as a hash, revocable.

A token reads ``grc_<id>_<secret>``.  Only a SHA-256 of the secret is kept
(the secret is 256 random bits, so a slow password hash would add nothing);
checks compare in constant time.  Verified tokens are cached for a couple of
seconds, so a revocation takes effect everywhere within ``cache_seconds``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import datetime

from grace.adapters.store import Store, StoreBusy
from grace.clock import Clock
from grace.domain.tokens import ApiToken, parse_scopes
from grace.domain.validation import check_identifier
from grace.errors import GraceError

__all__ = ["TOKEN_PREFIX", "TokenService"]

log = logging.getLogger("grace.tokens")

TOKEN_PREFIX = "grc"  # noqa: S105 - a public prefix, not a secret
_TOUCH_EVERY_SECONDS = 60.0


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenService:
    def __init__(self, store: Store, clock: Clock, *, cache_seconds: float = 2.0) -> None:
        self._store = store
        self._clock = clock
        self._ttl = cache_seconds
        self._lock = threading.Lock()
        self._verified: dict[str, tuple[float, ApiToken | None]] = {}
        self._touched: dict[str, float] = {}

    def create(self, name: str, scopes: Iterable[object]) -> tuple[ApiToken, str]:
        """A new token; the plaintext is returned once and never stored."""
        check_identifier("name", name)
        granted = parse_scopes(scopes)
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self._store.write() as s:
            token = s.insert_token(token_id, name, _digest(secret), granted, self._clock.now())
        self._forget()
        return token, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def revoke(self, token_id: str) -> ApiToken:
        with self._store.write() as s:
            token = s.revoke_token(token_id, self._clock.now())
        self._forget()
        return token

    def list_tokens(self, *, include_revoked: bool = False) -> list[ApiToken]:
        with self._store.read() as s:
            return s.list_tokens(include_revoked=include_revoked)

    def any_active(self) -> bool:
        """Whether at least one unrevoked token exists (asked once, as the service starts)."""
        with self._store.read() as s:
            return s.count_active_tokens() > 0

    def active_since(self, at: datetime) -> bool:
        """Whether any token has been active at some moment since ``at`` (never cached: the
        first token created while a service runs open must guard it at once)."""
        return self._store.token_active_since(at)

    def recall(self, presented: str) -> tuple[bool, ApiToken | None]:
        """(whether ``presented`` was verified within the cache time, the answer then), with
        no database work: what callers on an event loop ask before ``verify``."""
        return self._recall(_digest(presented))

    def _recall(self, key: str) -> tuple[bool, ApiToken | None]:
        with self._lock:
            cached = self._verified.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return True, cached[1]
        return False, None

    def verify(self, presented: str) -> ApiToken | None:
        """The active token ``presented`` stands for, or None."""
        key = _digest(presented)
        known, token = self._recall(key)
        if known:
            return token
        now = time.monotonic()
        token = self._lookup(presented)
        with self._lock:  # at once: a revocation committing after the read clears it again
            if len(self._verified) > 10_000:  # bounded: a flood of wrong tokens must not grow it
                self._verified.clear()
            self._verified[key] = (now + self._ttl, token)
        if token is not None:
            self._touch(token.token_id, now)
        return token

    def _lookup(self, presented: str) -> ApiToken | None:
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
            return None
        with self._store.read() as s:
            found = s.get_token_secret(parts[1])
        if found is None:
            return None
        token, stored = found
        if not hmac.compare_digest(stored, _digest(parts[2])) or not token.active:
            return None
        return token

    def _touch(self, token_id: str, now: float) -> None:
        """Note when the token was last used, at most once a minute, on a best-effort basis:
        it is information for people, so a busy or failing database never fails the check
        (the next verification tries again)."""
        if self._touched.get(token_id, 0.0) > now:
            return
        try:
            with self._store.write() as s:
                s.touch_token(token_id, self._clock.now())
        except StoreBusy:
            return  # on the event loop with the lock held: not worth waiting for
        except GraceError as exc:
            log.warning("could not record the use of token %s: %s", token_id, exc.detail)
            return
        self._touched[token_id] = now + _TOUCH_EVERY_SECONDS

    def _forget(self) -> None:
        with self._lock:
            self._verified.clear()
