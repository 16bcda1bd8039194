"""Stage history: the previous stable version and which version was in production when."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from grace.domain.history import (
    needs_requalification,
    previous_stable_version,
    production_version_at,
    rolled_back_versions,
)
from grace.domain.records import ChangeCause, StageChange
from grace.domain.stages import DeploymentStage

S = DeploymentStage
T0 = datetime(2025, 1, 1, tzinfo=UTC)
MODEL = "fraud_detector_v3"


class History:
    """Writes StageChange records by hand, ids ascending in write order as the store does."""

    def __init__(self) -> None:
        self.changes: list[StageChange] = []

    def add(
        self,
        version: str,
        from_stage: DeploymentStage | None,
        to_stage: DeploymentStage,
        at: datetime,
        cause: ChangeCause = ChangeCause.MANUAL,
    ) -> History:
        self.changes.append(
            StageChange(
                id=len(self.changes) + 1,
                model_id=MODEL,
                version=version,
                from_stage=from_stage,
                to_stage=to_stage,
                at=at,
                actor="tester",
                reason=None,
                cause=cause,
            )
        )
        return self

    def register(self, version: str, at: datetime) -> History:
        return self.add(version, None, S.DEVELOPMENT, at, ChangeCause.REGISTRATION)

    def promote(
        self, version: str, at: datetime, *, replacing: str | None = None, from_stage: S = S.STAGING
    ) -> History:
        """Promote ``version``; the version it replaces is archived first, at the same instant."""
        if replacing is not None:
            self.add(replacing, S.PRODUCTION, S.ARCHIVED, at, ChangeCause.REPLACED)
        return self.add(version, from_stage, S.PRODUCTION, at)

    def roll_back(self, version: str, at: datetime, *, restoring: str | None = None) -> History:
        """Move ``version`` to ROLLBACK and, at the same instant, restore ``restoring``."""
        self.add(version, S.PRODUCTION, S.ROLLBACK, at, ChangeCause.AUTO_REMEDIATION)
        if restoring is not None:
            self.add(restoring, S.ARCHIVED, S.PRODUCTION, at, ChangeCause.AUTO_REMEDIATION)
        return self


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


# -- previous_stable_version ------------------------------------------------------------------


def test_no_history_has_no_previous_stable_version() -> None:
    """A model with no history has nothing to roll back to."""
    assert previous_stable_version([], "1") is None


def test_a_first_production_version_has_no_previous_stable_version() -> None:
    """The only version ever in production has nothing before it."""
    history = History().register("1", day(0)).promote("1", day(1)).changes
    assert previous_stable_version(history, "1") is None


def test_the_version_replaced_by_the_current_one_is_the_previous_stable() -> None:
    """After 1 is replaced by 2, the previous stable version of 2 is 1."""
    history = History().promote("1", day(1)).promote("2", day(2), replacing="1").changes
    assert previous_stable_version(history, "2") == "1"


def test_versions_that_never_reached_production_are_not_stable() -> None:
    """A version only ever in staging or canary is not a rollback target."""
    history = (
        History()
        .promote("1", day(1))
        .add("2", None, S.STAGING, day(2))
        .add("2", S.STAGING, S.CANARY, day(3))
        .promote("3", day(4), replacing="1")
        .changes
    )
    assert previous_stable_version(history, "3") == "1"


def test_a_version_ever_rolled_back_is_never_stable() -> None:
    """A version that was moved to ROLLBACK once is skipped, even if it was later re-promoted."""
    history = (
        History()
        .promote("1", day(1))
        .promote("2", day(2), replacing="1")
        .roll_back("2", day(3), restoring="1")
        .add("2", S.ROLLBACK, S.STAGING, day(4))
        .promote("2", day(5), replacing="1")
        .promote("3", day(6), replacing="2")
        .changes
    )
    assert rolled_back_versions(history) == {"2"}
    assert previous_stable_version(history, "3") == "1"


def test_a_rolled_back_canary_is_not_stable_either() -> None:
    """A version rolled back from canary is tainted like one rolled back from production."""
    history = (
        History()
        .promote("2", day(1))
        .add("2", S.PRODUCTION, S.ARCHIVED, day(2))
        .add("2", S.ARCHIVED, S.STAGING, day(3))
        .add("2", S.STAGING, S.CANARY, day(4))
        .add("2", S.CANARY, S.ROLLBACK, day(5))
        .promote("3", day(6))
        .changes
    )
    assert previous_stable_version(history, "3") is None


def test_no_stable_version_when_every_other_version_was_rolled_back() -> None:
    """When every earlier production version was rolled back, there is no stable version."""
    history = (
        History()
        .promote("1", day(1))
        .roll_back("1", day(2))
        .promote("2", day(3), from_stage=S.DEVELOPMENT)
        .changes
    )
    assert previous_stable_version(history, "2") is None


def test_the_current_version_is_never_its_own_previous_stable() -> None:
    """The version being rolled back away from is never proposed as its own target."""
    history = (
        History()
        .promote("1", day(1))
        .promote("2", day(2), replacing="1")
        .promote("1", day(3), replacing="2", from_stage=S.ARCHIVED)
        .changes
    )
    assert previous_stable_version(history, "1") == "2"


def test_versions_are_ordered_by_when_they_last_entered_production() -> None:
    """An old release re-promoted recently outranks one that entered production in between."""
    history = (
        History()
        .promote("1", day(0))  # a year-old release...
        .promote("2", day(100), replacing="1")
        .promote("1", day(300), replacing="2", from_stage=S.ARCHIVED)  # ...re-promoted
        .promote("3", day(365), replacing="1")
        .changes
    )
    assert previous_stable_version(history, "3") == "1"


def test_latest_stable_wins_over_older_ones() -> None:
    """Of several stable versions, the one most recently in production is chosen."""
    history = (
        History()
        .promote("1", day(1))
        .promote("2", day(2), replacing="1")
        .promote("3", day(3), replacing="2")
        .promote("4", day(4), replacing="3")
        .changes
    )
    assert previous_stable_version(history, "4") == "3"


def test_previous_stable_does_not_depend_on_the_order_records_are_passed() -> None:
    """previous_stable_version answers the same for a shuffled history (it orders by id)."""
    history = (
        History()
        .promote("1", day(0))
        .promote("2", day(1), replacing="1")
        .promote("1", day(2), replacing="2", from_stage=S.ARCHIVED)
        .promote("3", day(3), replacing="1")
        .changes
    )
    shuffled = history[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != history
    assert previous_stable_version(shuffled, "3") == previous_stable_version(history, "3") == "1"


# -- production_version_at --------------------------------------------------------------------


def swap_history() -> list[StageChange]:
    """1 promoted on day 1, replaced by 2 on day 2, 2 rolled back to 1 on day 3, then nothing."""
    return (
        History()
        .register("1", day(0))
        .promote("1", day(1), from_stage=S.DEVELOPMENT)
        .register("2", day(1))
        .promote("2", day(2), replacing="1", from_stage=S.DEVELOPMENT)
        .roll_back("2", day(3), restoring="1")
        .add("1", S.PRODUCTION, S.ARCHIVED, day(4))
        .changes
    )


@pytest.mark.parametrize(
    ("at", "version"),
    [
        (day(0), None),
        (day(1) - timedelta(microseconds=1), None),
        (day(1), "1"),
        (day(2) - timedelta(microseconds=1), "1"),
        (day(2), "2"),
        (day(3) - timedelta(microseconds=1), "2"),
        (day(3), "1"),
        (day(4) - timedelta(microseconds=1), "1"),
        (day(4), None),
        (day(400), None),
    ],
)
def test_production_version_at_each_instant(at: datetime, version: str | None) -> None:
    """Each instant maps to the version in production then, the instant of a swap included."""
    assert production_version_at(swap_history(), at) == version


def test_at_the_instant_of_a_promotion_the_new_version_is_in_production() -> None:
    """When demotion and promotion share a timestamp, the later-written promotion wins."""
    history = History().promote("1", day(1)).promote("2", day(2), replacing="1").changes
    demotion, promotion = history[-2], history[-1]
    assert demotion.at == promotion.at
    assert demotion.id < promotion.id
    assert production_version_at(history, day(2)) == "2"


def test_production_version_at_ignores_the_order_records_are_passed() -> None:
    """A shuffled history answers every instant the same way."""
    history = swap_history()
    shuffled = history[:]
    random.Random(3).shuffle(shuffled)
    for hours in range(0, 5 * 24, 6):
        at = T0 + timedelta(hours=hours)
        assert production_version_at(shuffled, at) == production_version_at(history, at)


def test_changes_outside_production_do_not_move_the_answer() -> None:
    """Staging and canary moves of other versions do not change who is in production."""
    history = (
        History()
        .promote("1", day(1))
        .add("2", None, S.STAGING, day(2))
        .add("2", S.STAGING, S.CANARY, day(3))
        .add("2", S.CANARY, S.ROLLBACK, day(4))
        .changes
    )
    assert production_version_at(history, day(5)) == "1"


def test_a_version_registered_straight_into_production_counts() -> None:
    """A version whose first record puts it in production is in production from that instant."""
    history = History().add("1", None, S.PRODUCTION, day(1), ChangeCause.REGISTRATION).changes
    assert production_version_at(history, day(1)) == "1"
    assert production_version_at(history, day(1) - timedelta(seconds=1)) is None


# -- needs_requalification ------------------------------------------------------------------


def test_a_rolled_back_version_needs_requalification_even_after_archiving() -> None:
    """Archiving a rolled-back version does not re-qualify it; staging does."""
    history = History().register("1", day(0)).promote("1", day(1)).register("2", day(2))
    history.promote("2", day(3), replacing="1").roll_back("2", day(4), restoring="1")
    assert needs_requalification(history.changes, "2")
    assert not needs_requalification(history.changes, "1")
    history.add("2", S.ROLLBACK, S.ARCHIVED, day(5))
    assert needs_requalification(history.changes, "2")
    history.add("2", S.ARCHIVED, S.STAGING, day(6))
    assert not needs_requalification(history.changes, "2")


def test_a_version_never_rolled_back_needs_no_requalification() -> None:
    """Ordinary archived releases may return to production directly."""
    history = History().register("1", day(0)).promote("1", day(1)).register("2", day(2))
    history.promote("2", day(3), replacing="1")
    assert not needs_requalification(history.changes, "1")
    assert not needs_requalification([], "1")
