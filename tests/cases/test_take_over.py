"""A case taken over from another system (存量迁移): its prior decisions are applied by the same rules at their
own instants, the SLA thresholds between them are recorded at theirs, and a step that does not fit is refused
with its position named. Dates around National Day 2025 (makeup Sunday 28 September, holiday 1-8 October)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from helpers.cases import CASEWORKER, DISPATCHER, HANDLING_UNIT, INTAKE, SUPERVISOR, cst, registration
from pydantic import ValidationError

from calendars import get_calendar
from cases.errors import DecisionRefused
from cases.models import DECISION_MODELS, PriorDecisions
from cases.org import load_bundled_directory
from cases.policy import policy_for
from cases.transitions import take_over

CAL = get_calendar("CN-SX")
DIRECTORY = load_bundled_directory()
RECEIVED = cst(2025, 9, 26, 10)  # a Friday; the next working day is the makeup Sunday 28 September
NOW = cst(2025, 10, 20, 11)


def _prior(*steps: tuple[datetime, str, dict[str, object]]) -> PriorDecisions:
    return PriorDecisions.model_validate({
        "source": "旧12393系统",
        "decisions": [{"at": at, "decision": DECISION_MODELS[name].model_validate(payload)} for at, name, payload in steps],
    })


def _take_over(prior: PriorDecisions, now: datetime = NOW):  # noqa: ANN202
    reg = registration(received_at=RECEIVED.isoformat())
    return take_over(reg, prior, DIRECTORY, policy_for(reg.kind, reg.jurisdiction), now, CAL)


ACCEPT = {"actor": DISPATCHER, "unit_id": HANDLING_UNIT}
ASK = {"actor": CASEWORKER, "reason": "需调取多家机构结算数据"}
APPROVE = {"actor": SUPERVISOR, "approve": True, "note": ""}


def test_prior_decisions_apply_at_their_own_instants() -> None:
    accepted, asked, approved = cst(2025, 9, 29, 16), cst(2025, 10, 16, 9), cst(2025, 10, 17, 10)
    state, events = _take_over(_prior(
        (accepted, "accept", ACCEPT), (asked, "request_extension", ASK), (approved, "decide_extension", APPROVE)))
    assert state.accepted_at == accepted and state.extension_status == "approved"
    acceptance = next(c for c in state.clocks if c.clock == "acceptance")
    assert acceptance.stopped_at == accepted and not acceptance.breached  # the makeup Sunday counted
    investigation = next(c for c in state.clocks if c.clock == "investigation")
    assert investigation.started_at == accepted and investigation.running
    assert [e.kind for e in events][0] == "registered" and events[0].at == RECEIVED
    at = {e.kind: e.at for e in events}
    assert (at["accepted"], at["extension_requested"]) == (accepted, asked)
    assert all(e.details["taken_over_from"] == "旧12393系统" for e in events)
    assert state.events == events and all(e.at <= NOW for e in events)
    times = [e.at for e in events]
    assert times == sorted(times)


def test_lateness_in_the_record_stays_lateness_with_its_thresholds_at_their_instants() -> None:
    # acceptance was due 29 September 17:00; 5 WD later (over the holiday and the makeup Saturday 11 October)
    # is 13 October 17:00, when it escalated
    accepted = cst(2025, 10, 14, 10)
    state, events = _take_over(_prior((accepted, "accept", ACCEPT)))
    acceptance = next(c for c in state.clocks if c.clock == "acceptance")
    assert acceptance.breached and acceptance.escalated and acceptance.stopped_at == accepted
    marks = [(e.details.get("level", e.kind), e.at) for e in events
             if e.details.get("clock") == "acceptance" and e.kind in ("sla_level_changed", "sla_escalated")]
    assert [m for m, _ in marks] == ["yellow", "red", "sla_escalated"]  # a 2-WD clock has no blue day
    red_at = next(at for m, at in marks if m == "red")
    assert acceptance.due_at < red_at < acceptance.due_at + timedelta(seconds=1)
    assert dict(marks)["sla_escalated"] == cst(2025, 10, 13, 17)
    assert all(at < accepted for _, at in marks)  # recorded when they happened, not when the record arrived


def test_a_step_that_does_not_fit_is_refused_with_its_position() -> None:
    with pytest.raises(DecisionRefused, match=r"decisions\.1: .*send_feedback"):
        _take_over(_prior((cst(2025, 9, 29, 9), "accept", ACCEPT),
                          (cst(2025, 9, 30, 9), "send_feedback", {"actor": CASEWORKER, "message": "已答复"})))
    with pytest.raises(DecisionRefused, match=r"decisions\.0\.at: .* before the case was received"):
        _take_over(_prior((RECEIVED - timedelta(hours=1), "accept", ACCEPT)))
    with pytest.raises(DecisionRefused, match=r"decisions\.0\.at: .* in the future"):
        _take_over(_prior((cst(2025, 9, 29, 9), "accept", ACCEPT)), now=cst(2025, 9, 28, 9))


def test_only_decisions_that_stay_inside_the_case_can_be_taken_over() -> None:
    review = {"actor": INTAKE, "reason": "申请复核"}
    with pytest.raises(ValidationError, match=r"decisions\.0\.decision: request_review cannot be taken over"):
        _prior((cst(2025, 10, 13), "request_review", review))
    with pytest.raises(ValidationError, match=r"decisions\.1\.at: .* before the decision above it"):
        _prior((cst(2025, 9, 30), "accept", ACCEPT), (cst(2025, 9, 29), "request_extension", ASK))
    with pytest.raises(ValidationError, match="decisions"):
        PriorDecisions.model_validate({"source": "旧12393系统", "decisions": []})
