"""Storage contract, listing versions: filters, order, keyset pages and the page-size bound."""

from __future__ import annotations

from typing import Any

from grace.adapters.store import MAX_PAGE_SIZE, Store
from grace.domain.records import ModelEntry
from grace.domain.stages import DeploymentStage
from tests.contract.support import T0, at, new_version

DEV = DeploymentStage.DEVELOPMENT
STAGING = DeploymentStage.STAGING
PROD = DeploymentStage.PRODUCTION

Row = tuple[str, str, DeploymentStage, str | None, tuple[str, ...]]

# Registration order interleaves models, and version names sort against registration order.
CATALOGUE: list[Row] = [
    ("fraud_detector_v3", "3.1.5", STAGING, "alice", ("fraud", "prod-eu")),
    ("churn", "2.0", DEV, "bob", ("churn",)),
    ("ab_ranker", "b", PROD, "alice", ()),
    ("fraud_detector_v3", "10.0", DEV, "bob", ("fraud",)),
    ("churn", "1.0", STAGING, "alice", ("prod",)),
    ("ab_ranker", "a", STAGING, None, ("prod", "fraud")),
    ("fraud_detector_v3", "2.0", STAGING, "alice", ("prod",)),
]


def insert_rows(store: Store, rows: list[Row]) -> None:
    with store.write() as s:
        for minute, (model_id, version, stage, owner, tags) in enumerate(rows):
            s.ensure_model(model_id, T0)
            s.insert_version(
                new_version(model_id, version, stage=stage, owner=owner, tags=tags), at(minute)
            )


def keys(entries: list[ModelEntry]) -> list[tuple[str, str]]:
    return [(e.model_id, e.version) for e in entries]


def test_list_versions_orders_by_model_then_registration(store: Store) -> None:
    """Versions come grouped by model id, each model's in the order they were registered."""
    insert_rows(store, CATALOGUE)
    with store.read() as s:
        listed = s.list_versions()
    assert keys(listed) == [
        ("ab_ranker", "b"),
        ("ab_ranker", "a"),
        ("churn", "2.0"),
        ("churn", "1.0"),
        ("fraud_detector_v3", "3.1.5"),
        ("fraud_detector_v3", "10.0"),
        ("fraud_detector_v3", "2.0"),
    ]


def test_list_versions_returns_only_versions_matching_every_filter(store: Store) -> None:
    """Each filter narrows the listing, filters combine with AND, and the order is kept."""
    insert_rows(store, CATALOGUE)
    cases: dict[str, dict[str, Any]] = {
        "model_id": {"model_id": "churn"},
        "stage": {"stage": STAGING},
        "owner": {"owner": "alice"},
        "tag": {"tag": "prod"},  # an exact tag: "prod-eu" does not match
        "all": {"model_id": "fraud_detector_v3", "stage": STAGING, "owner": "alice", "tag": "prod"},
        "unknown model": {"model_id": "unknown_model"},
        "unknown tag": {"tag": "no-such-tag"},
    }
    with store.read() as s:
        listed = {name: keys(s.list_versions(**filters)) for name, filters in cases.items()}
    assert listed == {
        "model_id": [("churn", "2.0"), ("churn", "1.0")],
        "stage": [
            ("ab_ranker", "a"),
            ("churn", "1.0"),
            ("fraud_detector_v3", "3.1.5"),
            ("fraud_detector_v3", "2.0"),
        ],
        "owner": [
            ("ab_ranker", "b"),
            ("churn", "1.0"),
            ("fraud_detector_v3", "3.1.5"),
            ("fraud_detector_v3", "2.0"),
        ],
        "tag": [("ab_ranker", "a"), ("churn", "1.0"), ("fraud_detector_v3", "2.0")],
        "all": [("fraud_detector_v3", "2.0")],
        "unknown model": [],
        "unknown tag": [],
    }


def paging_catalogue() -> list[Row]:
    rows: list[Row] = []
    for i in range(24):
        model_id = ("model-b", "model-a", "model-c")[i % 3]
        stage = STAGING if i % 2 else DEV
        owner = "alice" if i % 4 < 2 else "bob"
        tags = ("all", "even" if i % 2 == 0 else "odd")
        rows.append((model_id, str(24 - i), stage, owner, tags))
    return rows


def walk_pages(
    store: Store, filters: dict[str, Any], size: int, max_pages: int
) -> list[list[ModelEntry]]:
    """Every page of the listing, each started after the last entry of the one before."""
    pages: list[list[ModelEntry]] = []
    cursor: tuple[str, str] | None = None
    with store.read() as s:
        while page := s.list_versions(**filters, after=cursor, limit=size):
            pages.append(page)
            assert len(pages) <= max_pages, f"the cursor does not advance past {cursor}"
            cursor = (page[-1].model_id, page[-1].version)
    return pages


def test_keyset_pages_visit_every_version_exactly_once(store: Store) -> None:
    """Following ``after`` from each page's last entry yields the full listing, no gap or repeat."""
    insert_rows(store, paging_catalogue())
    cases: list[tuple[dict[str, Any], int]] = [
        ({}, 24),
        ({"tag": "even"}, 12),
        ({"stage": STAGING}, 12),
        ({"owner": "alice"}, 12),
        ({"model_id": "model-a", "tag": "all"}, 8),
    ]
    for filters, expected_count in cases:
        with store.read() as s:
            everything = keys(s.list_versions(**filters, limit=MAX_PAGE_SIZE))
        pages = walk_pages(store, filters, size=5, max_pages=expected_count)
        walked = [key for page in pages for key in keys(page)]
        assert len(everything) == expected_count, filters
        assert walked == everything, filters
        assert [len(page) for page in pages[:-1]] == [5] * (len(pages) - 1), filters


def test_page_size_is_capped_at_the_maximum(store: Store) -> None:
    """A limit above 1000 returns at most 1000 versions, and the next page holds the rest."""
    total = MAX_PAGE_SIZE + 5
    with store.write() as s:
        s.ensure_model("bulk", T0)
        for i in range(total):
            s.insert_version(new_version("bulk", f"v{i:05d}", tags=("bulk",)), T0)

    with store.read() as s:
        first = s.list_versions(limit=5 * MAX_PAGE_SIZE)
        tagged = s.list_versions(tag="bulk", limit=5 * MAX_PAGE_SIZE)
        rest = s.list_versions(after=("bulk", first[-1].version), limit=5 * MAX_PAGE_SIZE)

    assert MAX_PAGE_SIZE == 1000
    assert [e.version for e in first] == [f"v{i:05d}" for i in range(MAX_PAGE_SIZE)]
    assert len(tagged) == MAX_PAGE_SIZE
    assert [e.version for e in rest] == [f"v{i:05d}" for i in range(MAX_PAGE_SIZE, total)]
