"""Storage contract, API tokens: which were active when (the open-mode rule reads this)."""

from __future__ import annotations

from grace.adapters.sqlstore.engine import make_engine
from grace.adapters.sqlstore.store import SqlStore
from grace.adapters.store import Store
from grace.domain.tokens import Scope
from tests.contract.support import at


def test_a_token_counts_as_active_since_any_instant_before_its_revocation(store: Store) -> None:
    """Active now, or revoked at or after the instant asked about: it was active since then."""
    with store.read() as s:
        assert not s.token_active_since(at(0))
    with store.write() as s:
        s.insert_token("aaaaaaaaaaaa", "ops", "digest", frozenset({Scope.READ}), at(1))
    with store.read() as s:
        assert s.token_active_since(at(0))
        assert s.token_active_since(at(100))  # still active
    with store.write() as s:
        s.revoke_token("aaaaaaaaaaaa", at(5))
    with store.read() as s:
        assert s.token_active_since(at(5))
        assert s.token_active_since(at(2))
        assert not s.token_active_since(at(6))
        assert s.count_active_tokens() == 0


def test_the_stores_own_check_answers_as_the_session_and_sees_each_commit_at_once(
    store: Store, database_url: str
) -> None:
    """store.token_active_since (asked on every anonymous request) agrees with the session's
    and sees a token committed by another store (another worker) on the very next call."""
    other = SqlStore(make_engine(database_url))
    try:
        assert not store.token_active_since(at(0))
        with other.write() as s:
            s.insert_token("bbbbbbbbbbbb", "ops", "digest", frozenset({Scope.READ}), at(1))
        assert store.token_active_since(at(0))
        with other.write() as s:
            s.revoke_token("bbbbbbbbbbbb", at(5))
        assert store.token_active_since(at(5))
        assert not store.token_active_since(at(6))
    finally:
        other.close()
