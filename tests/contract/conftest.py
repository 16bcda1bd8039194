"""Fixtures of the storage contract suite: one :class:`Store` per test, on each database in turn."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grace.adapters.sqlstore.engine import make_engine
from grace.adapters.sqlstore.store import SqlStore
from grace.adapters.store import Store


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """The store under test, typed as the contract so the suite uses nothing beyond it."""
    instance: Store = SqlStore(make_engine(database_url))
    yield instance
    instance.close()
