"""`allowed_decisions` / `refusal`: the decisions an actor may take now, from the same guards `apply` runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers.cases import CASEWORKER, DISPATCHER, INTAKE, RIGHT_UNIT, WRONG_UNIT, registration
from test_case_rules import ALLOWED, CAL, _do, _new, sample, state_at

from cases.errors import DecisionRefused
from cases.models import Actor, CaseKind, Role
from cases.transitions import (
    DECISIONS,
    allowed_decisions,
    allowed_for_new_case,
    apply,
    precheck_new_case,
    refusal,
)

CELLS = [(stage, role) for stage in ALLOWED for role in Role]


@pytest.mark.parametrize(("stage", "role"), CELLS, ids=[f"{s}-{r.value}" for s, r in CELLS])
def test_allowed_matches_the_decision_table(stage: str, role: Role) -> None:
    state, t = state_at(stage)
    expected = [name for name in DECISIONS if ALLOWED[stage].get(name) is role]
    assert allowed_decisions(state, RIGHT_UNIT[role], t, CAL) == expected
    # the same role acting for another unit may take none of them
    assert allowed_decisions(state, WRONG_UNIT[role], t, CAL) == []


@pytest.mark.parametrize(("stage", "role"), CELLS, ids=[f"{s}-{r.value}" for s, r in CELLS])
def test_refusal_is_the_reason_apply_gives(stage: str, role: Role) -> None:
    """Every decision the list leaves out is refused by `apply` with exactly the reason `refusal` names."""
    state, t = state_at(stage)
    actor = RIGHT_UNIT[role]
    for name in DECISIONS:
        reason = refusal(state, name, actor, t, CAL)
        if reason is None:
            apply(state, sample(name, actor), actor, t, CAL)
            continue
        with pytest.raises(DecisionRefused) as err:
            apply(state, sample(name, actor), actor, t, CAL)
        assert err.value.reason == reason


def test_deadlines_take_decisions_off_the_list() -> None:
    state, t = state_at("investigation")
    assert "request_extension" in allowed_decisions(state, CASEWORKER, t, CAL)
    due = state.running("investigation").due_at
    later = allowed_decisions(state, CASEWORKER, due, CAL)
    assert "request_extension" not in later and "complete_investigation" in later
    assert "deadline" in refusal(state, "request_extension", CASEWORKER, due, CAL)
    # the return window (5 WD after assignment) closes; completing stays possible
    assert "return_case" not in allowed_decisions(state, CASEWORKER, t + timedelta(days=40), CAL)

    window, t = state_at("review_window")
    assert allowed_decisions(window, INTAKE, t, CAL) == ["request_review", "withdraw"]
    after = window.review_window_ends_at + timedelta(seconds=1)
    assert allowed_decisions(window, INTAKE, after, CAL) == ["withdraw"]


def test_an_archived_case_allows_nothing() -> None:
    state = _do(_new(), sample("reject", DISPATCHER), state_at("acceptance")[1])
    for role in Role:
        assert allowed_decisions(state, RIGHT_UNIT[role], state_at("acceptance")[1], CAL) == []
    assert "archived" in refusal(state, "accept", DISPATCHER, state_at("acceptance")[1], CAL)


def test_unknown_decision_is_named() -> None:
    state, t = state_at("acceptance")
    assert refusal(state, "approve_everything", DISPATCHER, t, CAL) == "unknown decision 'approve_everything'"


@pytest.mark.parametrize("role", list(Role))
def test_allowed_while_registering_matches_the_precheck(role: Role) -> None:
    reg = registration()
    actor = Actor(id="x", role=role, unit_id="SX")
    allowed = allowed_for_new_case(reg, actor)
    for name in DECISIONS:
        if name in allowed:
            precheck_new_case(reg, sample(name, actor), actor)
        else:
            with pytest.raises(DecisionRefused):
                precheck_new_case(reg, sample(name, actor), actor)
    consultation = registration(kind=CaseKind.consultation, on_the_spot_answer="可通过国家医保服务平台办理")
    assert allowed_for_new_case(consultation, actor) == []
