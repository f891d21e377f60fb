"""Unit tests of the decisions that end or follow a case's main line: the referral to 行政复议 / 行政诉讼, the
feedback's basis and reasons, the institution's rectification clock, the reward on a verified fraud report, and
merging a duplicate during investigation. Deadlines on the real CN-SX calendar (Golden Week 2025), to the minute.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from helpers.cases import CASEWORKER, DISPATCHER, HANDLING_UNIT, INTAKE, SUPERVISOR, cst, registration
from pydantic import BaseModel, ValidationError

from calendars import get_calendar
from cases.errors import DecisionRefused
from cases.models import (
    AcceptDecision,
    Actor,
    AssignDecision,
    CompleteInvestigationDecision,
    CompleteRectificationDecision,
    DecideRewardDecision,
    MergeIntoDecision,
    RecordAdministrativeRemedyDecision,
    RecordReturnVisitDecision,
    RequestReviewDecision,
    Role,
    SendFeedbackDecision,
    Stage,
    new_decision_problems,
)
from cases.notify import notices_for
from cases.org import load_bundled_directory
from cases.policy import policy_for
from cases.transitions import (
    CaseState,
    allowed_decisions,
    apply,
    merge_target_problem,
    needs_tick,
    next_wakeup,
    register,
    summarize,
    tick,
)

CAL = get_calendar("CN-SX")
DIRECTORY = load_bundled_directory()
T0 = cst(2025, 9, 26, 11)  # Fri; 9/28 Sun and 10/11 Sat are makeup working days, 10/1-10/8 Golden Week
OTHER_CASEWORKER = Actor(id="cw-yz-1", role=Role.caseworker, unit_id="SX-TY-YZ")


def _new(policy_overrides: dict | None = None, **over: object) -> CaseState:
    reg = registration(received_at=cst(2025, 9, 26, 10).isoformat(), **over)
    policy = policy_for(reg.kind, reg.jurisdiction, policy_overrides)
    state, _ = register(reg, DIRECTORY, policy, reg.received_at, CAL)
    return state


def _do(state: CaseState, decision: BaseModel, at: datetime) -> CaseState:
    new, _ = apply(state, decision, decision.actor, at, CAL)  # type: ignore[attr-defined]
    return new


def _investigating(**over: object) -> CaseState:
    s = _do(_new(**over), AcceptDecision(actor=DISPATCHER), T0)
    return _do(s, AssignDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), T0)


def _feedback() -> SendFeedbackDecision:
    return SendFeedbackDecision(
        actor=CASEWORKER,
        message="已责令医院退还多收费用",
        basis="《医疗保障基金使用监督管理条例》第十五条",
        reasons="医院超标准收费，违反定点协议",
    )


def _at_fault(rectify: bool = True) -> CompleteInvestigationDecision:
    return CompleteInvestigationDecision(
        actor=CASEWORKER,
        findings="医院超标准收费属实",
        legal_basis="《医疗保障基金使用监督管理条例》第十五条",
        institution_at_fault=True,
        rectification_required=rectify,
    )


def _remedy(actor: Actor, filed_on: date, remedy: str = "reconsideration") -> RecordAdministrativeRemedyDecision:
    return RecordAdministrativeRemedyDecision(
        actor=actor, remedy=remedy, authority="太原市人民政府", reference_no="并政复〔2025〕12号", filed_on=filed_on
    )


# ------------------------------------------------------------------ 行政复议 / 行政诉讼 (SPEC §2 "beyond")


def test_a_referral_to_reconsideration_closes_the_case_with_its_own_reason() -> None:
    s = _do(_investigating(), _at_fault(rectify=False), T0)
    s = _do(s, _feedback(), T0)
    s = _do(s, RecordReturnVisitDecision(actor=INTAKE, outcome="unsatisfied"), T0 + timedelta(days=1))
    at = cst(2025, 10, 20, 15, 30)
    closed = _do(s, _remedy(DISPATCHER, date(2025, 10, 17)), at)
    assert closed.stage is Stage.archived and closed.close_reason.value == "administrative_remedy"  # type: ignore[union-attr]
    assert closed.closed_at == at and all(not c.running for c in closed.clocks)
    summ = summarize(closed)
    assert summ.administrative_remedy is not None
    assert (summ.administrative_remedy.remedy.value, summ.administrative_remedy.reference_no) == (
        "reconsideration",
        "并政复〔2025〕12号",
    )
    assert summ.administrative_remedy.filed_on == date(2025, 10, 17)
    ev = next(e for e in closed.events if e.kind == "administrative_remedy_recorded")
    assert ev.details == {
        "remedy": "reconsideration",
        "authority": "太原市人民政府",
        "reference_no": "并政复〔2025〕12号",
        "filed_on": "2025-10-17",
    }
    assert closed.events[-1].kind == "archived"
    # a hotline complainant: a recorded call-back and an SMS
    assert [(n.channel, n.template) for n in notices_for(closed, ev)] == [
        ("callback", "case_closed_administrative_remedy"), ("sms", "case_closed_administrative_remedy")
    ]


def test_litigation_during_a_review_and_by_the_handling_unit() -> None:
    s = _do(_investigating(), _at_fault(rectify=False), T0)
    s = _do(s, _feedback(), T0)
    s = _do(s, RequestReviewDecision(actor=INTAKE, reason="对处理结果不服"), T0 + timedelta(days=2))
    assert s.stage is Stage.under_review
    closed = _do(s, _remedy(CASEWORKER, date(2025, 10, 9), "litigation"), cst(2025, 10, 9, 9))
    assert closed.close_reason.value == "administrative_remedy"  # type: ignore[union-attr]
    assert closed.administrative_remedy.remedy.value == "litigation"  # type: ignore[union-attr]


def test_a_referral_filed_in_the_future_or_before_receipt_is_refused_naming_filed_on() -> None:
    s = _investigating()
    with pytest.raises(DecisionRefused, match=r"filed_on 2025-09-27 is after today \(2025-09-26\)"):
        _do(s, _remedy(DISPATCHER, date(2025, 9, 27)), T0)
    with pytest.raises(DecisionRefused, match=r"filed_on 2025-09-25 is before the case was received"):
        _do(s, _remedy(DISPATCHER, date(2025, 9, 25)), T0)
    with pytest.raises(DecisionRefused, match="role intake_agent may not record_administrative_remedy"):
        _do(s, _remedy(INTAKE, date(2025, 9, 26)), T0)
    with pytest.raises(DecisionRefused, match="not the handling unit"):
        _do(s, _remedy(OTHER_CASEWORKER, date(2025, 9, 26)), T0)


def test_referral_fields_are_named_when_missing() -> None:
    with pytest.raises(ValidationError) as err:
        RecordAdministrativeRemedyDecision.model_validate(
            {"actor": DISPATCHER.model_dump(), "remedy": "appeal", "authority": "x", "filed_on": "2025-13-01"}
        )
    locs = {e["loc"][0] for e in err.value.errors()}
    assert locs == {"remedy", "authority", "reference_no", "filed_on"}


# ---------------------------------------------------------------- feedback states its basis and reasons


def test_new_feedback_needs_basis_and_reasons_but_recorded_feedback_still_parses() -> None:
    old = SendFeedbackDecision.model_validate(
        {"actor": CASEWORKER.model_dump(), "decision": "send_feedback", "message": "已处理"}
    )
    assert (old.basis, old.reasons) == ("", "")
    assert new_decision_problems(old) == [
        ("basis", "required (at least 2 characters)"),
        ("reasons", "required (at least 2 characters)"),
    ]
    assert new_decision_problems(old.model_copy(update={"basis": "第十五条", "reasons": " "})) == [
        ("reasons", "required (at least 2 characters)")
    ]
    assert new_decision_problems(_feedback()) == []
    # the published contract requires both
    assert {"message", "basis", "reasons", "actor"} <= set(SendFeedbackDecision.model_json_schema()["required"])


def test_feedback_event_carries_its_basis_and_reasons() -> None:
    s = _do(_do(_investigating(), _at_fault(rectify=False), T0), _feedback(), T0)
    ev = next(e for e in s.events if e.kind == "feedback_sent")
    assert ev.details["basis"] == "《医疗保障基金使用监督管理条例》第十五条"
    assert ev.details["reasons"] == "医院超标准收费，违反定点协议"
    feedback = next(n for n in notices_for(s, ev) if n.audience == "complainant")
    assert feedback.params["basis"] and feedback.params["reasons"]


# --------------------------------------------------------------------------------------- rectification


def test_rectification_is_its_own_clock_15_working_days_over_golden_week() -> None:
    s = _do(_investigating(), _at_fault(), T0)
    clock = s.running("rectification")
    assert clock is not None and clock.unit == HANDLING_UNIT and clock.working_days == 15
    # 9/28 Sun (makeup) 1, 9/29 2, 9/30 3, Golden Week, 10/9 4, 10/10 5, 10/11 Sat (makeup) 6, ... 10/23 15
    assert clock.due_at == cst(2025, 10, 23, 17, 0)
    assert clock.yellow_at == cst(2025, 10, 23, 0, 0)
    ev = next(e for e in s.events if e.kind == "investigation_completed")
    assert ev.details["rectification_due_at"] == "2025-10-23T17:00:00+08:00"
    # the case's own line goes on: feedback, return visit; the rectification keeps running
    s = _do(s, _feedback(), T0 + timedelta(hours=1))
    assert s.stage is Stage.return_visit and s.running("rectification") is not None


def test_rectification_deadline_is_policy_data() -> None:
    s = _new(policy_overrides={("CN-SX", None): {"rectification_wd": 5}})
    s = _do(_do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), T0), _at_fault(), T0)
    assert s.running("rectification").due_at == cst(2025, 10, 10, 17, 0)  # type: ignore[union-attr]
    untracked = _investigating().model_copy(
        update={"policy": policy_for(s.registration.kind, "CN-SX").model_copy(update={"track_rectification": False})}
    )
    assert _do(untracked, _at_fault(), T0).running("rectification") is None
    assert _do(_investigating(), _at_fault(rectify=False), T0).running("rectification") is None


def test_an_overdue_rectification_turns_red_and_holds_the_case_open_past_its_review_window() -> None:
    s = _do(_investigating(), _at_fault(), T0)
    s = _do(s, _feedback(), T0)
    s = _do(s, RecordReturnVisitDecision(actor=INTAKE, outcome="satisfied"), T0 + timedelta(hours=2))
    # the window's own rule (natural days) is the review tests'; here it only has to end after the rectification
    # sent 9/26 (the SMS presumed received that day): 30 days to 24:00 of 10/26, a Sunday, so 24:00 of Mon 10/27
    assert s.review_window_ends_at == cst(2025, 10, 28, 0)
    due = s.running("rectification").due_at  # type: ignore[union-attr]
    s, events = tick(s, due)
    assert s.running("rectification").level == "yellow"  # type: ignore[union-attr]  # the due instant is on time
    s, events = tick(s, due + timedelta(minutes=1))
    red = [e for e in events if e.kind == "sla_level_changed"]
    assert [(e.details["clock"], e.details["level"]) for e in red] == [("rectification", "red")]
    assert [n.template for n in notices_for(s, red[0])] == ["sla_overdue_supervise"]
    # the review window passes with no request, but the rectification is not recorded: the case stays open
    window_end = s.review_window_ends_at
    assert window_end is not None
    s, events = tick(s, window_end + timedelta(days=1))
    assert s.is_open and s.stage is Stage.review_window
    assert not needs_tick(s, window_end + timedelta(days=2))
    wake = next_wakeup(s, window_end + timedelta(days=2))
    assert wake is None or wake > window_end + timedelta(days=2)  # no busy loop while the rectification waits
    assert "complete_rectification" in allowed_decisions(s, CASEWORKER, window_end + timedelta(days=2), CAL)
    with pytest.raises(DecisionRefused, match="not the handling unit"):
        _do(s, CompleteRectificationDecision(actor=OTHER_CASEWORKER, result="已整改"), window_end)
    done_at = window_end + timedelta(days=3)
    done = _do(s, CompleteRectificationDecision(actor=CASEWORKER, result="医院已退还多收费用"), done_at)
    clock = next(c for c in done.clocks if c.clock == "rectification")
    assert clock.stopped_at == done_at and clock.breached
    assert done.rectification_completed_at == done_at
    assert done.close_reason.value == "review_window_lapsed" and done.closed_at == done_at  # type: ignore[union-attr]
    ev = next(e for e in done.events if e.kind == "rectification_completed")
    assert ev.details["late"] is True and ev.details["due_at"] == "2025-10-23T17:00:00+08:00"


def test_a_rehandling_keeps_the_one_rectification_item() -> None:
    s = _do(_do(_investigating(), _at_fault(), T0), _feedback(), T0)
    s = _do(s, RecordReturnVisitDecision(actor=INTAKE, outcome="unsatisfied", request_rehandling=True), T0)
    s = _do(s, _at_fault(), cst(2025, 10, 13, 10))
    assert [(c.clock, c.cycle, c.due_at) for c in s.clocks if c.clock == "rectification"] == [
        ("rectification", 1, cst(2025, 10, 23, 17, 0))
    ]


def test_a_rectification_done_in_time_leaves_the_window_to_close_the_case() -> None:
    s = _do(_do(_investigating(), _at_fault(), T0), _feedback(), T0)
    s = _do(s, CompleteRectificationDecision(actor=CASEWORKER, result="已整改"), cst(2025, 10, 23, 17, 0))
    clock = next(c for c in s.clocks if c.clock == "rectification")
    assert not clock.breached and s.is_open and s.stage is Stage.return_visit
    with pytest.raises(DecisionRefused, match="no rectification is pending"):
        _do(s, CompleteRectificationDecision(actor=CASEWORKER, result="已整改"), cst(2025, 10, 24))
    end = s.review_window_ends_at
    assert end is not None and next_wakeup(s, end) == end + timedelta(microseconds=1)
    closed, _ = tick(s, end + timedelta(microseconds=1))
    assert closed.close_reason.value == "review_window_lapsed"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ reward on fraud reports


def _verified_fraud(at_fault: bool = True) -> CaseState:
    s = _new(kind="fraud_report", category="fund_fraud")
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), T0)
    return _do(s, _at_fault(rectify=False).model_copy(update={"institution_at_fault": at_fault}), T0)


def test_a_verified_fraud_report_records_the_reward_decision() -> None:
    s = _verified_fraud()
    assert "decide_reward" in allowed_decisions(s, SUPERVISOR, T0, CAL)
    d = DecideRewardDecision(actor=SUPERVISOR, granted=True, amount_band="1000-9999", reasons="查实金额12万元")
    at = cst(2025, 10, 9, 10)
    s = _do(s, d, at)
    summ = summarize(s)
    assert summ.reward is not None and summ.reward.granted and summ.reward.amount_band.value == "1000-9999"  # type: ignore[union-attr]
    assert summ.reward.decided_at == at and summ.reward.unit == "SX-TY"
    ev = next(e for e in s.events if e.kind == "reward_decided")
    # the real-name reporter is told; the notice names no reporter
    assert [(n.audience, n.channel, n.template) for n in notices_for(s, ev)] == [
        ("complainant", "callback", "fraud_reward_decided"), ("complainant", "sms", "fraud_reward_decided")
    ]
    with pytest.raises(DecisionRefused, match="already decided"):
        _do(s, d, at)
    assert "decide_reward" not in allowed_decisions(s, SUPERVISOR, at, CAL)


def test_no_reward_on_an_unverified_report_or_a_complaint() -> None:
    no = DecideRewardDecision(actor=SUPERVISOR, granted=False, reasons="举报内容不属实")
    with pytest.raises(DecisionRefused, match="not verified"):
        _do(_verified_fraud(at_fault=False), no, T0)
    complaint = _do(_investigating(), _at_fault(rectify=False), T0)
    with pytest.raises(DecisionRefused, match="only for fraud reports; this case is a complaint"):
        _do(complaint, no, T0)
    with pytest.raises(DecisionRefused, match="role caseworker may not decide_reward"):
        _do(_verified_fraud(), no.model_copy(update={"actor": CASEWORKER}), T0)
    refused = _do(_verified_fraud(), no, T0)
    assert refused.reward is not None and not refused.reward.granted and refused.reward.amount_band is None


def test_reward_amount_band_goes_with_granted() -> None:
    base = {"actor": SUPERVISOR.model_dump(), "reasons": "查实"}
    with pytest.raises(ValidationError) as err:
        DecideRewardDecision.model_validate(base | {"granted": True})
    assert err.value.errors()[0]["loc"] == ("amount_band",)
    assert "required when the reward is granted" in str(err.value)
    with pytest.raises(ValidationError) as err:
        DecideRewardDecision.model_validate(base | {"granted": False, "amount_band": "200-999"})
    assert err.value.errors()[0]["loc"] == ("amount_band",)
    with pytest.raises(ValidationError) as err:
        DecideRewardDecision.model_validate(base | {"granted": True, "amount_band": "500"})
    assert err.value.errors()[0]["loc"] == ("amount_band",)


# ------------------------------------------------------------------------------ merging in investigation


def test_the_handling_unit_or_the_dispatcher_merges_during_investigation() -> None:
    s = _investigating()
    at = cst(2025, 10, 9, 9, 30)
    by_unit = _do(s, MergeIntoDecision(actor=CASEWORKER, target_case_no="SX2025092500007"), at)
    assert by_unit.close_reason.value == "merged" and by_unit.merged_into == "SX2025092500007"  # type: ignore[union-attr]
    inv = next(c for c in by_unit.clocks if c.clock == "investigation")
    assert inv.stopped_at == at and not inv.breached
    assert _do(s, MergeIntoDecision(actor=DISPATCHER, target_case_no="SX2025092500007"), at).merged_into
    with pytest.raises(DecisionRefused, match="unit SX-TY-YZ is not the handling unit SX-TY-XD"):
        _do(s, MergeIntoDecision(actor=OTHER_CASEWORKER, target_case_no="SX2025092500007"), at)
    with pytest.raises(DecisionRefused, match="into itself"):
        _do(s, MergeIntoDecision(actor=CASEWORKER, target_case_no=s.case_no), at)
    feedback = _do(s, _at_fault(rectify=False), at)
    with pytest.raises(DecisionRefused, match="allowed only in stage acceptance, dispatch, investigation"):
        _do(feedback, MergeIntoDecision(actor=DISPATCHER, target_case_no="SX2025092500007"), at)


def test_the_target_must_be_open_and_handled_by_the_same_unit() -> None:
    assert merge_target_problem(CASEWORKER, "SX2025092500007", True, HANDLING_UNIT) is None
    assert merge_target_problem(DISPATCHER, "SX2025092500007", True, "SX-TY-YZ") is None
    assert merge_target_problem(CASEWORKER, "SX2025092500007", True, "SX-TY-YZ") == (
        "unit SX-TY-XD is not the handling unit of target case SX2025092500007 (SX-TY-YZ); ask the dispatcher "
        "to merge"
    )
    assert "none assigned" in (merge_target_problem(CASEWORKER, "SX2025092500007", True, None) or "")
    assert merge_target_problem(DISPATCHER, "SX2025092500007", False, None) == (
        "target case SX2025092500007 is not an open case"
    )
