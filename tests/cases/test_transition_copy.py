"""A step works on a copy of the case: the state it was given is unchanged afterwards, and the case's inputs
(registration, policy, org directory), which no step changes, are shared with the copy rather than copied."""

from __future__ import annotations

from datetime import timedelta

from helpers.cases import CASEWORKER, DISPATCHER, HANDLING_UNIT, registration

from calendars import get_calendar
from cases.models import AcceptDecision, AssignDecision, ReturnCaseDecision
from cases.org import load_bundled_directory
from cases.policy import policy_for
from cases.transitions import apply, register, tick


def test_a_step_leaves_the_given_state_unchanged_and_shares_the_inputs() -> None:
    reg = registration(case_no="SX2025092600901", received_at="2025-09-26T09:00:00+08:00")
    cal = get_calendar(reg.jurisdiction)
    now = reg.received_at
    state, _ = register(reg, load_bundled_directory(), policy_for(reg.kind, reg.jurisdiction), now, cal)
    steps = [
        AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT),
        ReturnCaseDecision(actor=CASEWORKER, reason="不属本单位辖区，请改派"),
        AssignDecision(actor=DISPATCHER, unit_id="SX-TY", note="改派"),
    ]
    for decision in steps:
        now += timedelta(hours=1)
        before = state.model_dump()
        new, events = apply(state, decision, decision.actor, now, cal)
        assert events and new is not state
        assert state.model_dump() == before  # the returned-by list, clocks and timeline were copied
        assert new.registration is state.registration and new.directory is state.directory
        assert new.policy is state.policy
        state = new
    before = state.model_dump()
    ticked, _ = tick(state, now + timedelta(days=40))
    assert state.model_dump() == before and ticked.clocks != state.clocks
