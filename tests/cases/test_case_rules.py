"""Unit tests of the pure case rules: registration validation, every decision for every role in every stage,
and deadlines / SLA levels to the day on the real CN-SX calendar (Golden Week 2025, Spring Festival 2026).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from helpers.cases import (
    CASEWORKER,
    DISPATCHER,
    HANDLING_UNIT,
    INTAKE,
    REVIEWER,
    RIGHT_UNIT,
    SUPERVISOR,
    WRONG_UNIT,
    cst,
    registration,
    registration_data,
)
from pydantic import BaseModel, ValidationError

from calendars import get_calendar
from cases import sla
from cases.errors import DecisionRefused
from cases.models import (
    AcceptDecision,
    Actor,
    AssignDecision,
    CaseKind,
    CompleteInvestigationDecision,
    DecideExtensionDecision,
    DecideReviewDecision,
    MergeIntoDecision,
    RecordReceiptDecision,
    RecordReturnVisitDecision,
    RejectDecision,
    RequestExtensionDecision,
    RequestReviewDecision,
    ReturnCaseDecision,
    Role,
    SendFeedbackDecision,
    Stage,
    WithdrawDecision,
)
from cases.notify import notices_for
from cases.org import default_unit, higher_bureau, load_bundled_directory, supervisor_chain
from cases.policy import policy_for
from cases.transitions import (
    DECISIONS,
    CaseState,
    allowed_decisions,
    allowed_for_new_case,
    apply,
    next_wakeup,
    precheck_new_case,
    recompute_deadlines,
    refusal,
    register,
    summarize,
    tick,
)

CAL = get_calendar("CN-SX")
DIRECTORY = load_bundled_directory()


def _new(**over: object) -> CaseState:
    reg = registration(**over)
    state, _ = register(reg, DIRECTORY, policy_for(reg.kind, reg.jurisdiction), reg.received_at, CAL)
    return state


def _do(state: CaseState, decision: BaseModel, at: datetime) -> CaseState:
    new, _ = apply(state, decision, decision.actor, at, CAL)  # type: ignore[attr-defined]
    return new


def sample(name: str, actor: Actor) -> BaseModel:
    """A well-formed decision of kind `name` sent by `actor`."""
    return {
        "accept": lambda: AcceptDecision(actor=actor),
        "reject": lambda: RejectDecision(
            actor=actor, reason="不属于医保部门职责", redirect_to="12345 市民热线"
        ),
        "assign": lambda: AssignDecision(actor=actor, unit_id=HANDLING_UNIT),
        "return_case": lambda: ReturnCaseDecision(actor=actor, reason="属地错误"),
        "request_extension": lambda: RequestExtensionDecision(actor=actor, reason="需调取外省病历"),
        "decide_extension": lambda: DecideExtensionDecision(actor=actor, approve=True),
        "complete_investigation": lambda: CompleteInvestigationDecision(
            actor=actor, findings="医院多收费用属实", legal_basis="《医疗保障基金使用监督管理条例》第十五条"
        ),
        "send_feedback": lambda: SendFeedbackDecision(actor=actor, message="已责令医院退还多收费用"),
        "record_return_visit": lambda: RecordReturnVisitDecision(actor=actor, outcome="satisfied"),
        "request_review": lambda: RequestReviewDecision(actor=actor, reason="对处理结果不服"),
        "decide_review": lambda: DecideReviewDecision(actor=actor, outcome="uphold", reasons="原处理正确"),
        "withdraw": lambda: WithdrawDecision(actor=actor, reason="已自行解决"),
        "merge_into": lambda: MergeIntoDecision(actor=actor, target_case_no="SX2025092500007"),
        "record_receipt": lambda: RecordReceiptDecision(actor=actor, received_on=date(2025, 9, 26)),
    }[name]()


T0 = cst(2025, 9, 26, 10)  # Fri; 9/28 Sun is a makeup working day, 10/1-10/8 Golden Week


def state_at(stage: str) -> tuple[CaseState, datetime]:
    """A case driven to `stage` (plus `investigation_ext`: an extension request pending) and the instant."""
    s = _new()
    t = T0 + timedelta(hours=1)
    if stage == "acceptance":
        return s, t
    s = _do(s, AcceptDecision(actor=DISPATCHER), t)
    if stage == "dispatch":
        return s, t
    s = _do(s, AssignDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), t)
    if stage == "investigation":
        return s, t
    if stage == "investigation_ext":
        return _do(s, sample("request_extension", CASEWORKER), t), t
    s = _do(s, sample("complete_investigation", CASEWORKER), t)
    if stage == "feedback":
        return s, t
    s = _do(s, sample("send_feedback", CASEWORKER), t)
    if stage == "return_visit":
        return s, t
    s = _do(s, sample("record_return_visit", INTAKE), t)
    if stage == "review_window":
        return s, t
    s = _do(s, sample("request_review", INTAKE), t)
    if stage == "under_review":
        return s, t
    assert stage == "archived"
    return _do(s, sample("decide_review", REVIEWER), t), t


ALLOWED: dict[str, dict[str, Role]] = {
    "acceptance": {
        "accept": Role.dispatcher,
        "reject": Role.dispatcher,
        "withdraw": Role.intake_agent,
        "merge_into": Role.dispatcher,
    },
    "dispatch": {"assign": Role.dispatcher, "withdraw": Role.intake_agent, "merge_into": Role.dispatcher},
    "investigation": {
        "return_case": Role.caseworker,
        "request_extension": Role.caseworker,
        "complete_investigation": Role.caseworker,
        "withdraw": Role.intake_agent,
    },
    "investigation_ext": {
        "return_case": Role.caseworker,
        "decide_extension": Role.supervisor,
        "complete_investigation": Role.caseworker,
        "withdraw": Role.intake_agent,
    },
    "feedback": {"send_feedback": Role.caseworker, "withdraw": Role.intake_agent},
    "return_visit": {
        "record_return_visit": Role.intake_agent,
        "request_review": Role.intake_agent,
        "withdraw": Role.intake_agent,
    },
    "review_window": {"request_review": Role.intake_agent, "withdraw": Role.intake_agent},
    "under_review": {"decide_review": Role.reviewer, "withdraw": Role.intake_agent},
    "archived": {},
}

MATRIX = [(stage, name, role) for stage in ALLOWED for name in DECISIONS for role in Role]


@pytest.mark.parametrize(("stage", "name", "role"), MATRIX, ids=[f"{a}-{b}-{c.value}" for a, b, c in MATRIX])
def test_decision_matrix(stage: str, name: str, role: Role) -> None:
    """Every decision x role x stage: allowed exactly where the table says, refused with a reason otherwise."""
    state, t = state_at(stage)
    decision = sample(name, RIGHT_UNIT[role])
    if ALLOWED[stage].get(name) is role:
        new, events = apply(state, decision, RIGHT_UNIT[role], t, CAL)
        assert events, "an allowed decision records at least one event"
        assert [e.seq for e in new.events] == list(range(1, len(new.events) + 1))
        # the same role acting for the wrong unit is refused and says so
        with pytest.raises(DecisionRefused, match=r"unit"):
            apply(state, sample(name, WRONG_UNIT[role]), WRONG_UNIT[role], t, CAL)
    else:
        with pytest.raises(DecisionRefused) as err:
            apply(state, decision, RIGHT_UNIT[role], t, CAL)
        msg = str(err.value)
        assert name in msg and state.case_no in msg
        assert any(w in msg for w in ("stage", "role", "archived", "pending", "unit", "already", "letter"))
    # the input state is never mutated
    assert state == state_at(stage)[0]


def test_refusal_messages_name_stage_and_role() -> None:
    s, t = state_at("acceptance")
    with pytest.raises(
        DecisionRefused, match="in stage acceptance; send_feedback is allowed only in stage feedback"
    ):
        apply(s, sample("send_feedback", CASEWORKER), CASEWORKER, t, CAL)
    with pytest.raises(DecisionRefused, match="role caseworker may not accept; only dispatcher may"):
        apply(s, sample("accept", CASEWORKER), CASEWORKER, t, CAL)
    s, t = state_at("investigation")
    with pytest.raises(DecisionRefused, match="unit SX-TY-YZ is not the handling unit SX-TY-XD"):
        apply(
            s,
            sample("complete_investigation", WRONG_UNIT[Role.caseworker]),
            WRONG_UNIT[Role.caseworker],
            t,
            CAL,
        )


# ------------------------------------------------------------------------------ registration validation


@pytest.mark.parametrize(
    ("over", "loc", "text"),
    [
        ({"received_at": "2025-09-26T10:00:00"}, ("received_at",), "timezone-aware"),
        ({"case_no": "SX20250926001"}, ("case_no",), "SX2026112500001"),
        ({"case_no": "SX2025023000001"}, ("case_no",), "not a real date"),
        ({"jurisdiction": "Shanxi"}, ("jurisdiction",), "CN-SX"),
        ({"case_no": "BJ2025092600001"}, (), "province code SX"),
        ({"evidence": [{"uri": "s3://x", "sha256": "xyz"}]}, ("evidence", 0, "sha256"), "SHA-256"),
        ({"kind": "consultation"}, (), "on_the_spot_answer is required"),
        ({"channel": "fax"}, ("channel",), "hotline_12393"),
    ],
)
def test_registration_errors_name_the_field(over: dict, loc: tuple, text: str) -> None:
    with pytest.raises(ValidationError) as err:
        registration(**over)
    e = err.value.errors()[0]
    assert tuple(e["loc"]) == loc
    assert text in e["msg"]


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("id_number", "140105199003071230", "check digit"),
        ("id_number", "14010519901307123X", "birth date"),
        ("id_number", "1401051990", "18 characters"),
        ("phone", "12345", "11-digit mobile"),
    ],
)
def test_complainant_pii_validated(field: str, value: str, text: str) -> None:
    data = registration_data()
    data["complainant"][field] = value
    with pytest.raises(ValidationError) as err:
        registration(complainant=data["complainant"])
    e = err.value.errors()[0]
    assert tuple(e["loc"]) == ("complainant", field)
    assert text in e["msg"]


def test_registration_json_round_trip() -> None:
    reg = registration()
    assert type(reg).model_validate_json(reg.model_dump_json()) == reg


# ---------------------------------------------------------------------------------------- org directory


def test_org_tree_and_catalogue() -> None:
    assert higher_bureau(DIRECTORY, "SX-TY-XD").unit_id == "SX-TY"  # type: ignore[union-attr]
    assert higher_bureau(DIRECTORY, "SX-TY").unit_id == "SX"  # type: ignore[union-attr]
    assert higher_bureau(DIRECTORY, "SX").unit_id == "NHSA"  # type: ignore[union-attr]
    assert higher_bureau(DIRECTORY, "NHSA") is None
    assert supervisor_chain(DIRECTORY, "SX-YC-YJ") == ["SX-YC-YJ", "SX-YC", "SX", "NHSA"]
    cities = [u for u in DIRECTORY.units if u.level == "city"]
    assert len(cities) == 11 and all(u.jurisdiction == "CN-SX" for u in cities)
    assert default_unit(DIRECTORY, "reimbursement", "SX-TY-XD") == "SX-TY-XD"
    assert default_unit(DIRECTORY, "designated_institution", "SX-TY-XD") == "SX-TY"
    assert default_unit(DIRECTORY, "staff_conduct", "SX-DT") == "SX"
    assert default_unit(DIRECTORY, "pharmacy", None) == "SX"


# ------------------------------------------------------------------------------- deadlines on the calendar


def _clock(state: CaseState, name: str):
    return [c for c in state.clocks if c.clock == name][-1]


def test_acceptance_due_counts_from_the_next_working_day_golden_week() -> None:
    # received Tue 9/30; 10/1-10/8 off -> WD1 = Thu 10/9, WD2 = Fri 10/10
    s = _new(case_no="SX2025093000001", received_at="2025-09-30T15:00:00+08:00")
    c = _clock(s, "acceptance")
    assert c.due_at == cst(2025, 10, 10, 17)
    assert c.blue_at is None  # 2 WD: the blue window (20%, at least 1 WD) is the last day = yellow
    assert c.yellow_at == cst(2025, 10, 10, 0)
    # 5 WD past due: Sat 10/11 (makeup), Mon 10/13 .. Thu 10/16
    assert c.escalate_at == cst(2025, 10, 16, 17)


def test_received_on_a_holiday_counts_from_the_first_working_day_after() -> None:
    s = _new(case_no="SX2025100300001", received_at="2025-10-03T11:00:00+08:00")
    assert _clock(s, "acceptance").due_at == cst(2025, 10, 10, 17)


def test_investigation_15_wd_over_golden_week_and_extension_to_30() -> None:
    s, t = state_at("investigation")  # accepted Fri 9/26
    c = _clock(s, "investigation")
    # 9/28(Sun makeup) 9/29 9/30 10/9 10/10 10/11(Sat makeup) 10/13..17 10/20..23 -> 15th = Thu 10/23
    assert c.due_at == cst(2025, 10, 23, 17)
    assert c.blue_at == cst(2025, 10, 21, 0)  # 3 WD left (20% of 15): 10/21, 10/22, 10/23
    assert c.yellow_at == cst(2025, 10, 23, 0)
    assert c.escalate_at == cst(2025, 10, 30, 17)
    s = _do(s, sample("request_extension", CASEWORKER), cst(2025, 10, 20, 9))
    s = _do(s, sample("decide_extension", SUPERVISOR), cst(2025, 10, 20, 10))
    c = _clock(s, "investigation")
    assert c.extended and c.original_due_at == cst(2025, 10, 23, 17)
    assert c.due_at == CAL.end_of_day(CAL.add_working_days(date(2025, 9, 26), 30)) == cst(2025, 11, 13, 17)
    assert c.blue_at == cst(2025, 11, 6, 0)  # 6 WD left (20% of 30): 11/6 11/7 11/10..11/13
    assert s.events[-1].kind == "extension_approved"
    notes = notices_for(s, s.events[-1])
    assert [(n.audience, n.channel) for n in notes] == [("complainant", "callback"), ("complainant", "sms")]


def test_extension_refused_keeps_deadline_and_cannot_be_asked_twice() -> None:
    s, t = state_at("investigation_ext")
    s = _do(s, DecideExtensionDecision(actor=SUPERVISOR, approve=False, note="不复杂"), t)
    assert s.extension_status == "refused" and _clock(s, "investigation").due_at == cst(2025, 10, 23, 17)
    with pytest.raises(DecisionRefused, match="already refused"):
        _do(s, sample("request_extension", CASEWORKER), t)


def test_extension_asked_after_the_deadline_is_refused() -> None:
    s, _ = state_at("investigation")
    with pytest.raises(DecisionRefused, match="deadline 2025-10-23T17:00:00\\+08:00 has passed"):
        _do(s, sample("request_extension", CASEWORKER), cst(2025, 10, 23, 17, 30))
    _do(s, sample("request_extension", CASEWORKER), cst(2025, 10, 23, 16, 59))


def test_supervisor_outside_the_chain_cannot_decide_extension() -> None:
    s, t = state_at("investigation_ext")
    # the provincial bureau is in the chain of SX-TY-XD, a Datong supervisor is not
    _do(s, DecideExtensionDecision(actor=Actor(id="p", role=Role.supervisor, unit_id="SX"), approve=True), t)
    with pytest.raises(DecisionRefused, match="not in the supervisor chain"):
        _do(s, DecideExtensionDecision(actor=WRONG_UNIT[Role.supervisor], approve=True), t)


def test_spring_festival_2026_thresholds() -> None:
    s = _new(case_no="SX2026021000001", received_at="2026-02-09T09:00:00+08:00")
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), cst(2026, 2, 10, 10))
    c = _clock(s, "investigation")
    # 2/11 2/12 2/13 2/14(Sat makeup) | 2/15-2/23 off | 2/24..2/27 2/28(Sat makeup) 3/2..3/6 3/9 -> 15th = Mon 3/9
    assert c.due_at == cst(2026, 3, 9, 17)
    assert c.blue_at == cst(2026, 3, 5, 0)
    assert c.escalate_at == cst(2026, 3, 16, 17)
    assert not c.provisional


def test_tick_walks_every_level_and_escalates_once() -> None:
    s, _ = state_at("investigation")
    seen = []
    now = T0 + timedelta(hours=2)
    while (wake := next_wakeup(s, now)) is not None and len(seen) < 10:
        s, evs = tick(s, wake)
        seen += [(e.kind, e.details.get("clock"), e.details.get("level"), e.at) for e in evs]
        now = wake
    inv = [x for x in seen if x[1] == "investigation"]
    assert inv == [
        ("sla_level_changed", "investigation", "blue", cst(2025, 10, 21, 0)),
        ("sla_level_changed", "investigation", "yellow", cst(2025, 10, 23, 0)),
        ("sla_level_changed", "investigation", "red", cst(2025, 10, 23, 17) + sla.AFTER),
        ("sla_escalated", "investigation", None, cst(2025, 10, 30, 17)),
    ]
    red = next(e for e in s.events if e.details.get("level") == "red")
    assert [(n.audience, n.recipient_ref) for n in notices_for(s, red)] == [("supervisor", "sup-SX-TY-XD")]
    esc = next(e for e in s.events if e.kind == "sla_escalated")
    assert [(n.audience, n.recipient_ref) for n in notices_for(s, esc)] == [
        ("higher_supervisor", "sup-SX-TY")
    ]
    summ = summarize(s)
    assert summ.sla_level == "red" and summ.next_due_at == cst(2025, 10, 23, 17)
    # a late case keeps going; the lateness stays recorded on the stopped clock
    s = _do(s, sample("complete_investigation", CASEWORKER), cst(2025, 11, 3, 10))
    inv_clock = _clock(s, "investigation")
    assert inv_clock.breached and inv_clock.level == "red" and inv_clock.stopped_at == cst(2025, 11, 3, 10)
    assert _clock(s, "feedback").due_at == cst(2025, 11, 10, 17)


def test_return_window_and_overrule() -> None:
    s, _ = state_at("investigation")  # assigned Fri 9/26 11:00
    # 5 WD after assignment: 9/28 9/29 9/30 10/9 10/10 -> until Fri 10/10 17:00
    with pytest.raises(
        DecisionRefused, match="return window of 5 working days after assignment ended at 2025-10-10T17:00"
    ):
        _do(s, sample("return_case", CASEWORKER), cst(2025, 10, 11, 9))
    s = _do(s, sample("return_case", CASEWORKER), cst(2025, 10, 10, 16))
    assert s.stage is Stage.dispatch and s.handling_unit is None and s.returned_by == [HANDLING_UNIT]
    with pytest.raises(DecisionRefused, match="returned this case"):
        _do(s, AssignDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), cst(2025, 10, 11, 9))
    with pytest.raises(DecisionRefused, match="overrule applies only"):
        _do(s, AssignDecision(actor=DISPATCHER, unit_id="SX-TY", overrule=True), cst(2025, 10, 11, 9))
    s = _do(s, AssignDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT, overrule=True), cst(2025, 10, 11, 9))
    with pytest.raises(DecisionRefused, match="assigned by overrule and cannot return"):
        _do(s, sample("return_case", CASEWORKER), cst(2025, 10, 11, 10))
    # the investigation clock kept running from acceptance
    assert _clock(s, "investigation").due_at == cst(2025, 10, 23, 17)


def test_review_window_day_30_accepted_day_31_refused() -> None:
    s, _ = state_at("feedback")
    # Mon 11/3 by SMS, received the same day until the outbox says otherwise; +30 = Wed 12/3, until 24:00
    s = _do(s, sample("send_feedback", CASEWORKER), cst(2025, 11, 3, 10))
    assert s.review_window_ends_at == cst(2025, 12, 4, 0)
    s = _do(s, sample("record_return_visit", INTAKE), cst(2025, 11, 4, 10))
    _do(s, sample("request_review", INTAKE), cst(2025, 12, 3, 23, 59))
    with pytest.raises(
        DecisionRefused, match="review window of 30 days after the result was received ended at 2025-12-04T00:00"
    ):
        _do(s, sample("request_review", INTAKE), cst(2025, 12, 4, 0) + sla.AFTER)
    # nothing requested: the window lapses and the case archives
    s2, evs = tick(s, next_wakeup(s, cst(2025, 11, 5, 10)))  # type: ignore[arg-type]
    assert s2.stage is Stage.archived and s2.close_reason.value == "review_window_lapsed"  # type: ignore[union-attr]


def test_review_window_rolls_over_a_holiday() -> None:
    s, _ = state_at("feedback")
    s = _do(s, sample("send_feedback", CASEWORKER), cst(2025, 9, 29, 10))  # +30 = Wed 10/29, until 24:00
    assert s.review_window_ends_at == cst(2025, 10, 30, 0)
    s2 = _new(case_no="SX2025090100001", received_at="2025-08-20T10:00:00+08:00")
    s2 = _do(s2, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), cst(2025, 8, 21, 10))
    s2 = _do(s2, sample("complete_investigation", CASEWORKER), cst(2025, 8, 29, 10))
    s2 = _do(s2, sample("send_feedback", CASEWORKER), cst(2025, 9, 1, 10))  # +30 = 10/1 holiday -> 10/9
    assert s2.review_window_ends_at == cst(2025, 10, 10, 0)


def test_review_uphold_and_overturn() -> None:
    s, t = state_at("under_review")
    assert s.review_unit == "SX-TY" and _clock(s, "review").external
    up = _do(s, sample("decide_review", REVIEWER), t)
    assert up.stage is Stage.archived and up.close_reason.value == "review_upheld"  # type: ignore[union-attr]
    with pytest.raises(DecisionRefused, match="not the reviewing bureau SX-TY"):
        _do(
            s,
            DecideReviewDecision(
                actor=Actor(id="r", role=Role.reviewer, unit_id="SX"), outcome="uphold", reasons="x1"
            ),
            t,
        )
    later = cst(2025, 10, 9, 10)
    ov = _do(s, DecideReviewDecision(actor=REVIEWER, outcome="overturn", reasons="事实不清"), later)
    assert ov.stage is Stage.investigation and ov.handling_unit == HANDLING_UNIT and ov.rehandlings == 1
    inv = _clock(ov, "investigation")
    assert inv.cycle == 2 and inv.started_at == later and inv.due_at == CAL.deadline_at(later, 15)


def test_unsatisfied_return_visit_rehandling() -> None:
    s, t = state_at("return_visit")
    with pytest.raises(DecisionRefused, match="only when the complainant is unsatisfied"):
        _do(s, RecordReturnVisitDecision(actor=INTAKE, outcome="satisfied", request_rehandling=True), t)
    at = cst(2025, 10, 9, 9)
    s = _do(s, RecordReturnVisitDecision(actor=INTAKE, outcome="unsatisfied", request_rehandling=True), at)
    assert s.stage is Stage.investigation and s.rehandlings == 1 and s.extension_status is None
    assert _clock(s, "investigation").cycle == 2 and _clock(s, "investigation").due_at == CAL.deadline_at(
        at, 15
    )


def test_on_the_spot_consultation_closes_at_once() -> None:
    s = _new(kind="consultation", on_the_spot_answer="异地就医备案可通过国家医保服务平台办理")
    assert s.stage is Stage.archived and s.close_reason.value == "answered_on_spot"  # type: ignore[union-attr]
    assert [e.kind for e in s.events] == ["registered", "answered_on_spot", "archived"]


def test_misconduct_is_transferred_to_12388() -> None:
    s = _new(kind="misconduct", category="staff_conduct")
    s = _do(s, AcceptDecision(actor=DISPATCHER), T0)
    assert s.close_reason.value == "transferred_12388" and not s.is_open  # type: ignore[union-attr]


def test_fraud_report_reporter_confidential_and_notified() -> None:
    s = _new(kind="fraud_report", category="fund_fraud")
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id="SX-TY"), T0)
    kinds = [e.kind for e in s.events]
    assert "investigation_opened" in kinds and "reporter_notified" in kinds
    notice_clock = _clock(s, "reporter_notice")
    assert notice_clock.stopped_at == T0 and notice_clock.due_at == cst(2025, 10, 10, 17)
    summ = summarize(s)
    assert summ.complainant is None and summ.confidential_reporter
    blob = summ.model_dump_json()
    assert "张" not in blob and "138" not in blob and "14010519900307" not in blob
    ev = next(e for e in s.events if e.kind == "reporter_notified")
    assert [(n.audience, n.channel) for n in notices_for(s, ev)] == [("complainant", "callback"), ("complainant", "sms")]
    anon = _new(
        kind="fraud_report",
        category="fund_fraud",
        complainant={**registration_data()["complainant"], "real_name": False},
    )
    anon = _do(anon, AcceptDecision(actor=DISPATCHER, unit_id="SX-TY"), T0)
    assert all(
        notices_for(anon, e) == [] or notices_for(anon, e)[0].audience != "complainant" for e in anon.events
    )


def test_summary_masks_personal_data() -> None:
    summ = summarize(_new())
    assert summ.complainant is not None
    assert summ.complainant.name == "张**" and summ.complainant.phone == "138****5678"
    assert summ.complainant.id_number.startswith("1401") and "*" in summ.complainant.id_number
    assert "13812345678" not in summ.model_dump_json()


def test_merge_and_withdraw() -> None:
    s, t = state_at("dispatch")
    m = _do(s, sample("merge_into", DISPATCHER), t)
    assert m.close_reason.value == "merged" and m.merged_into == "SX2025092500007"  # type: ignore[union-attr]
    with pytest.raises(DecisionRefused, match="into itself"):
        _do(s, MergeIntoDecision(actor=DISPATCHER, target_case_no=s.case_no), t)
    w = _do(state_at("feedback")[0], sample("withdraw", INTAKE), t)
    assert w.close_reason.value == "withdrawn" and all(not c.running for c in w.clocks)  # type: ignore[union-attr]


def test_accept_with_catalogue() -> None:
    s = _do(_new(), AcceptDecision(actor=DISPATCHER, use_catalogue=True), T0)
    assert s.handling_unit == "SX-TY-XD" and s.stage is Stage.investigation


def test_recompute_deadlines_moves_only_future_deadlines() -> None:
    s, t = state_at("investigation")
    closure = CAL.with_closures([date(2025, 10, 20)], name="本单位闭馆")
    new, evs = recompute_deadlines(s, closure, cst(2025, 10, 1, 9))
    assert _clock(new, "investigation").due_at == cst(2025, 10, 24, 17)
    assert evs[-1].kind == "deadlines_recomputed" and new.calendar_version == closure.version
    # the acceptance clock stopped long ago and is left alone
    assert _clock(new, "acceptance") == _clock(s, "acceptance")
    # after the deadline passed nothing moves
    late, _ = recompute_deadlines(s, closure, cst(2025, 10, 24, 9))
    assert _clock(late, "investigation").due_at == cst(2025, 10, 23, 17)


def test_provisional_year_marks_deadline() -> None:
    s = _new(case_no="SX2026122800001", received_at="2026-12-28T10:00:00+08:00")
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), cst(2026, 12, 29, 10))
    assert _clock(s, "investigation").provisional and summarize(s).any_provisional


def test_blue_window_sizes() -> None:
    assert [sla.blue_window(n, 0.2) for n in (2, 3, 5, 9, 10, 15, 30)] == [1, 1, 1, 1, 2, 3, 6]


@pytest.mark.parametrize("name", DECISIONS)
@pytest.mark.parametrize("role", list(Role))
def test_precheck_while_registering(name: str, role: Role) -> None:
    """Decisions racing the registration are checked for stage and role before the case is ready."""
    reg = registration()
    decision = sample(name, RIGHT_UNIT[role])
    if ALLOWED["acceptance"].get(name) is role:
        precheck_new_case(reg, decision, RIGHT_UNIT[role])
    else:
        with pytest.raises(DecisionRefused, match=f"{name} refused for case {reg.case_no}"):
            precheck_new_case(reg, decision, RIGHT_UNIT[role])
    with pytest.raises(DecisionRefused, match="archived"):
        precheck_new_case(
            registration(kind="consultation", on_the_spot_answer="已答复"), decision, RIGHT_UNIT[role]
        )


def test_needs_tick_when_a_case_starts_after_its_thresholds() -> None:
    """A case received long before it reaches the workflow has thresholds in the past: tick at once."""
    from cases.transitions import needs_tick, next_wakeup, tick

    state = _new(case_no="SX2025093000002", received_at="2025-09-30T15:00:00+08:00")
    late = state.clocks[0].due_at + timedelta(days=20)
    assert needs_tick(state, late)
    # the next *future* threshold may be far away or absent: without needs_tick nothing would fire
    assert next_wakeup(state, late) is None or next_wakeup(state, late) > late
    ticked, events = tick(state, late)
    assert not needs_tick(ticked, late)
    acceptance = next(c for c in ticked.clocks if c.clock == "acceptance")
    assert acceptance.level == "red" and acceptance.breached and acceptance.escalated
    assert {e.kind for e in events} == {"sla_level_changed", "sla_escalated"}
    assert not needs_tick(state, state.clocks[0].started_at)


# ------------------------------------------------------------------------ the due instant and lateness


def test_the_due_instant_is_on_time_and_red_comes_just_after_it() -> None:
    """Investigation due Thu 2025-10-23 17:00 (15 WD after acceptance on Fri 9/26, Golden Week skipped)."""
    s, _ = state_at("investigation")
    due = cst(2025, 10, 23, 17)
    clock = _clock(s, "investigation")
    assert clock.due_at == due and clock.red_after_due
    assert sla.level_at(clock, due) == "yellow"
    assert sla.level_at(clock, due + sla.AFTER) == "red"
    assert next_wakeup(tick(s, cst(2025, 10, 23, 0))[0], cst(2025, 10, 23, 0)) == due + sla.AFTER
    # the unit still asks for more time at 17:00 sharp, not a microsecond later
    _do(s, sample("request_extension", CASEWORKER), due)
    with pytest.raises(DecisionRefused, match="has passed"):
        _do(s, sample("request_extension", CASEWORKER), due + sla.AFTER)
    # an investigation concluded at the due instant is on time; a microsecond later it is late
    done = _clock(_do(s, sample("complete_investigation", CASEWORKER), due), "investigation")
    assert done.stopped_at == due and not done.breached and done.level == "yellow"
    late = _clock(_do(s, sample("complete_investigation", CASEWORKER), due + sla.AFTER), "investigation")
    assert late.breached


def test_cases_registered_under_the_earlier_rule_keep_it() -> None:
    """A running case keeps the rule it registered with: red from the due instant itself, no reminder."""
    reg = registration()
    legacy = policy_for(reg.kind, reg.jurisdiction).model_copy(
        update={"red_after_due": False, "remind_pending_extension": False}
    )
    s, _ = register(reg, DIRECTORY, legacy, reg.received_at, CAL)
    t = T0 + timedelta(hours=1)
    s = _do(_do(s, AcceptDecision(actor=DISPATCHER), t), AssignDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), t)
    clock = _clock(s, "investigation")
    assert not clock.red_after_due and sla.level_at(clock, clock.due_at) == "red"
    s = _do(s, sample("request_extension", CASEWORKER), t)
    s, events = tick(s, cst(2025, 10, 23, 0))
    assert [e.details.get("level") for e in events] == ["yellow"]
    assert not [n for e in events for n in notices_for(s, e) if n.template == "extension_pending_reminder"]


def test_a_late_approval_extends_the_work_but_the_breach_stays() -> None:
    """Asked at 16:59 on the last day, approved a week later (after red 超期 and 通报): the deadline moves to
    30 WD, the clock is no longer red, but it stays breached and the case counts late when it finishes."""
    s, _ = state_at("investigation")
    s = _do(s, sample("request_extension", CASEWORKER), cst(2025, 10, 23, 16, 59))
    s, _ = tick(s, cst(2025, 10, 23, 17) + sla.AFTER)
    s, _ = tick(s, cst(2025, 10, 30, 17))  # 5 WD past due: the higher bureau is told
    red = _clock(s, "investigation")
    assert red.level == "red" and red.breached and red.escalated
    s = _do(s, DecideExtensionDecision(actor=SUPERVISOR, approve=True), cst(2025, 10, 31, 10))
    extended = _clock(s, "investigation")
    # WD 16-30 after the 15th (Thu 10/23): 10/24, 10/27-31, 11/3-7, 11/10-13 -> Thu 11/13 at 17:00
    assert extended.due_at == cst(2025, 11, 13, 17) and extended.extended
    assert extended.level == "on_track" and extended.breached and extended.escalated
    assert extended.original_due_at == cst(2025, 10, 23, 17)
    s = _do(s, sample("complete_investigation", CASEWORKER), cst(2025, 11, 3, 10))
    finished = [c for c in s.clocks if c.clock == "investigation"][-1]
    assert finished.stopped_at is not None and finished.stopped_at < finished.due_at and finished.breached
    shown = next(c for c in summarize(s).clocks if c.clock == "investigation")
    assert shown.breached and shown.extended


def test_a_pending_extension_reminds_its_approver_on_the_last_day() -> None:
    """The request waits: when the investigation turns yellow 预警 (00:00 on its last day) the handling unit's
    supervisor, the first who may approve, is reminded once; a request made on the last day reminds at once."""
    s, t = state_at("investigation_ext")
    approver = DIRECTORY.unit(HANDLING_UNIT).supervisor_id
    reminders = []
    now = t
    while (wake := next_wakeup(s, now)) is not None and wake <= cst(2025, 10, 24, 0):
        s, events = tick(s, wake)
        reminders += [(e.at, n.recipient_ref) for e in events for n in notices_for(s, e)
                      if n.template == "extension_pending_reminder"]
        now = wake
    assert reminders == [(cst(2025, 10, 23, 0), approver)]

    s, _ = state_at("investigation")
    s, _ = tick(s, cst(2025, 10, 23, 0))
    new, events = apply(s, sample("request_extension", CASEWORKER), CASEWORKER, cst(2025, 10, 23, 9), CAL)
    assert [(n.template, n.recipient_ref) for e in events for n in notices_for(new, e)
            if n.audience == "supervisor"] == [("extension_pending_reminder", approver)]
    # refused or approved: nothing to remind of any more
    s2, _ = state_at("investigation_ext")
    s2 = _do(s2, DecideExtensionDecision(actor=SUPERVISOR, approve=False), t)
    s2, events = tick(s2, cst(2025, 10, 23, 0))
    assert not [n for e in events for n in notices_for(s2, e) if n.template == "extension_pending_reminder"]


# --------------------------------------------- allowed_decisions / refusal: the same guards `apply` runs

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
    assert "request_extension" in allowed_decisions(state, CASEWORKER, due, CAL)  # the due instant is in time
    later = allowed_decisions(state, CASEWORKER, due + sla.AFTER, CAL)
    assert "request_extension" not in later and "complete_investigation" in later
    assert "deadline" in refusal(state, "request_extension", CASEWORKER, due + sla.AFTER, CAL)
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
