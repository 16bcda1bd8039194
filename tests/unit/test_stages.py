"""Deployment stages: the transition table, stage parsing and walks over allowed moves."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from grace.domain.stages import ALLOWED_TRANSITIONS, DeploymentStage, is_allowed, parse_stage
from grace.errors import InvalidInput

S = DeploymentStage
PRE_PRODUCTION = [S.DEVELOPMENT, S.STAGING, S.CANARY]


def reachable(start: DeploymentStage, avoiding: set[DeploymentStage]) -> set[DeploymentStage]:
    """Stages reachable from ``start`` via allowed moves without passing through ``avoiding``."""
    seen = {start}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for there in DeploymentStage:
            if there not in seen and there not in avoiding and is_allowed(here, there):
                seen.add(there)
                queue.append(there)
    return seen


def test_production_may_only_leave_to_rollback_or_archived() -> None:
    """A production version can only be rolled back or archived."""
    assert {s for s in DeploymentStage if is_allowed(S.PRODUCTION, s)} == {S.ROLLBACK, S.ARCHIVED}


def test_rollback_cannot_go_straight_to_production() -> None:
    """A rolled-back version cannot be promoted back to production in one step."""
    assert is_allowed(S.ROLLBACK, S.PRODUCTION) is False


def test_rolled_back_version_can_be_requalified_through_staging() -> None:
    """A rolled-back version may return to staging or development and from there to production."""
    assert is_allowed(S.ROLLBACK, S.STAGING)
    assert is_allowed(S.ROLLBACK, S.DEVELOPMENT)
    assert is_allowed(S.STAGING, S.PRODUCTION)


def test_archived_version_can_return_to_production() -> None:
    """An archived version may be promoted to production (how a rollback restores it)."""
    assert is_allowed(S.ARCHIVED, S.PRODUCTION) is True


@pytest.mark.parametrize("stage", PRE_PRODUCTION)
def test_every_pre_production_stage_can_be_promoted(stage: DeploymentStage) -> None:
    """Development, staging and canary may each go straight to production."""
    assert is_allowed(stage, S.PRODUCTION)


def test_only_canary_and_production_can_be_rolled_back() -> None:
    """ROLLBACK is entered only from canary or production, the stages that serve traffic."""
    assert {s for s in DeploymentStage if is_allowed(s, S.ROLLBACK)} == {S.CANARY, S.PRODUCTION}


@pytest.mark.parametrize("stage", list(DeploymentStage))
def test_no_stage_moves_to_itself(stage: DeploymentStage) -> None:
    """Moving a version to the stage it is already in is not a transition."""
    assert is_allowed(stage, stage) is False


@pytest.mark.parametrize("stage", list(DeploymentStage))
def test_every_stage_has_a_way_out(stage: DeploymentStage) -> None:
    """Every stage has a row in the table and at least one way out."""
    assert stage in ALLOWED_TRANSITIONS
    assert ALLOWED_TRANSITIONS[stage]


@pytest.mark.parametrize("stage", list(DeploymentStage))
def test_production_is_reachable_from_every_stage(stage: DeploymentStage) -> None:
    """No stage is a dead end: every version can eventually reach production again."""
    assert S.PRODUCTION in reachable(stage, avoiding=set())


def test_rolled_back_version_has_no_direct_edge_to_production() -> None:
    """The table itself forbids ROLLBACK -> PRODUCTION; the detour through ARCHIVED is closed by
    the history rule (needs_requalification, tested in test_history.py)."""
    assert not is_allowed(S.ROLLBACK, S.PRODUCTION)


# -- parse_stage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("production", S.PRODUCTION),
        ("PRODUCTION", S.PRODUCTION),
        ("Rollback", S.ROLLBACK),
        ("  staging  ", S.STAGING),
        ("cAnArY", S.CANARY),
        (S.ARCHIVED, S.ARCHIVED),
    ],
)
def test_parse_stage_accepts_any_case(text: str, stage: DeploymentStage) -> None:
    """Stage names are understood in any case and with surrounding blanks."""
    assert parse_stage(text) is stage


@pytest.mark.parametrize("value", ["prod", "", "rolled_back", 3, None, ["production"]], ids=repr)
def test_parse_stage_refuses_unknown_names(value: object) -> None:
    """An unknown stage name is refused with InvalidInput listing the known stages."""
    with pytest.raises(InvalidInput) as caught:
        parse_stage(value)
    assert caught.value.field == "stage"
    assert "production" in caught.value.problem


def test_parse_stage_names_the_callers_field() -> None:
    """The refusal names the field the caller says the stage came from."""
    with pytest.raises(InvalidInput) as caught:
        parse_stage("live", field="target_stage")
    assert caught.value.field == "target_stage"


@settings(max_examples=150, deadline=None)
class StageWalk(RuleBasedStateMachine):
    """A version moved around by an operator who only makes moves is_allowed permits."""

    def __init__(self) -> None:
        super().__init__()
        self.stage = S.DEVELOPMENT
        self.path: list[DeploymentStage] = [self.stage]

    @rule(to=st.sampled_from(list(DeploymentStage)))
    def move(self, to: DeploymentStage) -> None:
        if is_allowed(self.stage, to):
            self.stage = to
            self.path.append(to)

    @invariant()
    def never_rollback_straight_to_production(self) -> None:
        steps = list(zip(self.path, self.path[1:], strict=False))
        assert (S.ROLLBACK, S.PRODUCTION) not in steps

    @invariant()
    def production_is_left_only_for_rollback_or_archived(self) -> None:
        for here, there in zip(self.path, self.path[1:], strict=False):
            if here is S.PRODUCTION:
                assert there in {S.ROLLBACK, S.ARCHIVED}


TestStageWalk = StageWalk.TestCase
