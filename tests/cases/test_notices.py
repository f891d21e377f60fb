"""Who is told what, as pure rules: answers through the original channel (per jurisdiction), warnings at blue
and yellow to the clock's unit once per clock and level, and the complainants of merged duplicates (并单)
answered like the case's own complainant. Dates on the real CN-SX calendar around Golden Week 2025.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from helpers.cases import (
    CASEWORKER,
    DISPATCHER,
    HANDLING_UNIT,
    INTAKE,
    SUPERVISOR,
    cst,
    registration,
    registration_data,
)
from pydantic import BaseModel

from calendars import get_calendar
from cases.errors import DecisionRefused
from cases.models import (
    AcceptDecision,
    CaseKind,
    Channel,
    CompleteInvestigationDecision,
    DecideExtensionDecision,
    MergedComplainant,
    RequestExtensionDecision,
    RequestReviewDecision,
    SendFeedbackDecision,
)
from cases.notify import Notice, notices_for
from cases.org import load_bundled_directory
from cases.policy import (
    JURISDICTION_OVERRIDES,
    RED_ONLY_WARNINGS,
    SMS_REPLIES,
    SlaPolicy,
    load_overrides,
    policy_for,
)
from cases.transitions import CaseState, absorb_duplicate, apply, next_wakeup, register, summarize, tick

CAL = get_calendar("CN-SX")
DIRECTORY = load_bundled_directory()
ACCEPTED = cst(2025, 9, 11, 10)  # Thu: the 15 WD investigation ends Thu 10/9, the first working day after Golden Week


def _new(policy: SlaPolicy | None = None, **over: object) -> CaseState:
    reg = registration(**over)
    state, _ = register(
        reg, DIRECTORY, policy or policy_for(reg.kind, reg.jurisdiction), reg.received_at, CAL
    )
    return state


def _do(state: CaseState, decision: BaseModel, at: datetime) -> CaseState:
    new, _ = apply(state, decision, decision.actor, at, CAL)  # type: ignore[attr-defined]
    return new


def _to_complainants(state: CaseState, kind: str) -> list[tuple[str, str]]:
    ev = next(e for e in reversed(state.events) if e.kind == kind)
    return [(n.recipient_ref, n.channel) for n in notices_for(state, ev) if n.to_complainant]


def _walk(state: CaseState, start: datetime, until: datetime) -> tuple[CaseState, list[tuple[datetime, Notice]]]:
    """Tick from threshold to threshold up to `until`; the notices each tick caused, with their instant."""
    sent: list[tuple[datetime, Notice]] = []
    now = start
    while (wake := next_wakeup(state, now)) is not None and wake <= until:
        state, events = tick(state, wake)
        sent += [(e.at, n) for e in events for n in notices_for(state, e)]
        now = wake
    return state, sent


# ------------------------------------------------------------------------------ the original channel


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("hotline_12393", ["callback", "sms"]),
        ("national_app", ["app"]),
        ("national_web", ["web"]),
        ("provincial_web", ["web"]),
        ("wechat", ["wechat"]),
        ("service_hall", ["sms"]),
        ("mail", ["letter"]),
    ],
)
def test_feedback_goes_back_through_the_original_channel(channel: str, expected: list[str]) -> None:
    s = _new(channel=channel, received_at=ACCEPTED.isoformat())
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), ACCEPTED)
    s = _do(s, CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实", legal_basis="《医疗保障基金使用监督管理条例》"),
            cst(2025, 9, 15))
    s = _do(s, SendFeedbackDecision(actor=CASEWORKER, message="处理结果"), cst(2025, 9, 16))
    assert _to_complainants(s, "feedback_sent") == [("complainant", c) for c in expected]
    assert _to_complainants(s, "accepted") == [("complainant", c) for c in expected]


def test_reply_channels_are_policy_data_per_jurisdiction(tmp_path: Path) -> None:
    table = {
        ("CN-SX", None): {"reply_channels": {"service_hall": ["sms", "letter"]}},
        ("CN-SX-0100", None): {"reply_channels": {"mail": ["letter", "sms"]}},
        ("CN-SX-0100", CaseKind.complaint): {"level_warnings": {"yellow": ["handling_unit", "supervisor"]}},
    }
    national = policy_for(CaseKind.complaint, "CN-BJ", table)
    province = policy_for(CaseKind.complaint, "CN-SX", table)
    area = policy_for(CaseKind.complaint, "CN-SX-0100", table)
    assert national.reply_channels[Channel.service_hall] == ["sms"]
    assert province.reply_channels[Channel.service_hall] == ["sms", "letter"]
    # the area inherits its province's row and changes one channel more; the others stay national
    assert area.reply_channels[Channel.service_hall] == ["sms", "letter"]
    assert area.reply_channels[Channel.mail] == ["letter", "sms"]
    assert area.reply_channels[Channel.hotline_12393] == ["callback", "sms"]
    assert area.level_warnings["yellow"] == ["handling_unit", "supervisor"]
    assert area.level_warnings["blue"] == ["handling_unit"]
    # a case keeps the policy it registered with: a hall case in CN-SX is answered by SMS and letter
    s = _new(province, channel="service_hall", received_at=ACCEPTED.isoformat())
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), ACCEPTED)
    assert _to_complainants(s, "accepted") == [("complainant", "sms"), ("complainant", "letter")]

    # the data file: the bundled one loads, and a bad entry is refused with the jurisdiction and field named
    assert load_overrides() == JURISDICTION_OVERRIDES
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"jurisdictions": {"CN-SX": {"*": {"reply_channels": {"wechat": ["wechat", "sms"]}}}}}))
    assert load_overrides(good) == {("CN-SX", None): {"reply_channels": {"wechat": ["wechat", "sms"]}}}
    for bad, words in [
        ({"CN-SX": {"*": {"reply_channels": {"hotline_12393": ["fax"]}}}}, ["CN-SX", "reply_channels.hotline_12393"]),
        ({"CN-SX": {"*": {"reply_channels": {"mail": []}}}}, ["CN-SX", "reply_channels.mail", "at least one"]),
        ({"CN-SX": {"*": {"level_warnings": {"purple": ["handling_unit"]}}}}, ["CN-SX", "level_warnings.purple"]),
        ({"CN-SX": {"petition": {}}}, ["CN-SX", "unknown case kind 'petition'"]),
    ]:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({"jurisdictions": bad}))
        with pytest.raises(ValueError) as err:
            load_overrides(path)
        assert all(w in str(err.value) for w in words), str(err.value)


def test_cases_registered_before_keep_sms() -> None:
    s = _new(SlaPolicy(reply_channels=SMS_REPLIES), received_at=ACCEPTED.isoformat())
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), ACCEPTED)
    assert _to_complainants(s, "accepted") == [("complainant", "sms")]


# --------------------------------------------------------------------------------- blue and yellow


def test_the_unit_is_warned_at_blue_and_yellow_once_on_the_calendar_days() -> None:
    s = _new(received_at=ACCEPTED.isoformat())
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), ACCEPTED)
    s, sent = _walk(s, ACCEPTED, cst(2025, 10, 20))
    assert [(at, n.audience, n.recipient_ref, n.template) for at, n in sent] == [
        # 3 WD left (20% of 15) from Mon 9/29: 9/29, 9/30 and Thu 10/9; Golden Week 10/1-10/8 is not counted
        (cst(2025, 9, 29, 0), "handling_unit", HANDLING_UNIT, "sla_due_soon"),
        (cst(2025, 10, 9, 0), "handling_unit", HANDLING_UNIT, "sla_due_today"),
        (cst(2025, 10, 9, 17) + timedelta(microseconds=1), "supervisor", "sup-SX-TY-XD", "sla_overdue_supervise"),
        # 5 WD past the due day (10/10, Sat 10/11 worked, 10/13, 10/14, 10/15): the higher bureau 通报
        (cst(2025, 10, 15, 17), "higher_supervisor", "sup-SX-TY", "sla_overdue_escalated"),
    ]
    assert [n.params["warned_unit"] for _, n in sent[:2]] == [HANDLING_UNIT] * 2
    assert sent[2][1].params["supervised_unit"] == HANDLING_UNIT
    assert all(n.channel == "internal" for _, n in sent)
    # the same level of the same clock and deadline again (a replayed tick) is not warned twice
    blue = next(e for e in s.events if e.details.get("level") == "blue")
    again = blue.model_copy(update={"seq": len(s.events) + 1})
    assert notices_for(s.model_copy(update={"events": [*s.events, again]}), again) == []


def test_an_extension_warns_again_for_the_new_deadline_only() -> None:
    s = _new(received_at=ACCEPTED.isoformat())
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), ACCEPTED)
    s, sent = _walk(s, ACCEPTED, cst(2025, 9, 29, 10))
    assert [n.template for _, n in sent] == ["sla_due_soon"]
    s = _do(s, RequestExtensionDecision(actor=CASEWORKER, reason="需调取外院病历"), cst(2025, 9, 29, 10))
    s = _do(s, DecideExtensionDecision(actor=SUPERVISOR, approve=True), cst(2025, 9, 29, 11))
    s, sent = _walk(s, cst(2025, 9, 29, 11), cst(2025, 11, 10))
    # 30 WD counted from Fri 9/12 (Sun 9/28 and Sat 10/11 worked) end on Wed 10/29; 6 WD left (20% of 30)
    # from Wed 10/22
    due = next(c for c in s.clocks if c.clock == "investigation").due_at
    assert due == cst(2025, 10, 29, 17)
    assert [(at, n.template) for at, n in sent if n.audience == "handling_unit"] == [
        (cst(2025, 10, 22, 0), "sla_due_soon"),
        (cst(2025, 10, 29, 0), "sla_due_today"),
    ]


def test_who_is_warned_at_each_level_is_policy_data() -> None:
    policy = SlaPolicy(level_warnings={"blue": [], "yellow": ["handling_unit", "supervisor"], "red": ["supervisor"]})
    s = _new(policy, received_at=ACCEPTED.isoformat())
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), ACCEPTED)
    _, sent = _walk(s, ACCEPTED, cst(2025, 10, 9, 12))
    assert [(at, n.recipient_ref, n.template) for at, n in sent] == [
        (cst(2025, 10, 9, 0), HANDLING_UNIT, "sla_due_today"),
        (cst(2025, 10, 9, 0), "sup-SX-TY-XD", "sla_due_today_supervise"),
    ]
    old = _new(SlaPolicy(level_warnings=RED_ONLY_WARNINGS), received_at=ACCEPTED.isoformat())
    old = _do(old, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), ACCEPTED)
    _, sent = _walk(old, ACCEPTED, cst(2025, 10, 10, 12))
    assert [n.template for _, n in sent] == ["sla_overdue_supervise"]


def test_a_clock_without_a_unit_warns_the_provincial_centre() -> None:
    s = _new(received_at=ACCEPTED.isoformat())  # the acceptance clock is the provincial centre's
    _, sent = _walk(s, ACCEPTED, cst(2025, 9, 15, 12))
    assert [(at, n.recipient_ref, n.template) for at, n in sent][:1] == [
        (cst(2025, 9, 15, 0), DIRECTORY.provincial_centre, "sla_due_today")  # 2 WD: Fri 9/12, Mon 9/15
    ]


# ------------------------------------------------------------------------------ merged complainants


def _merged(case_no: str = "SX2025091100002", channel: Channel = Channel.wechat) -> MergedComplainant:
    data = registration_data()["complainant"] | {"name": "李四", "phone": "13987654321"}
    return MergedComplainant.model_validate(
        {"case_no": case_no, "kind": "complaint", "channel": channel, "complainant": data}
    )


def test_merged_complainants_get_every_notice_on_their_own_channel_and_may_ask_for_review() -> None:
    s = _new(received_at=ACCEPTED.isoformat(), case_no="SX2025091100001")
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), ACCEPTED)
    s, _ = absorb_duplicate(s, "SX2025091100002", DISPATCHER, cst(2025, 9, 11, 11), [_merged()])
    s, _ = absorb_duplicate(s, "SX2025091100003", DISPATCHER, cst(2025, 9, 11, 12),
                            [_merged("SX2025091100003", Channel.mail)])
    s = _do(s, CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实", legal_basis="条例第十五条"),
            cst(2025, 9, 15))
    s = _do(s, SendFeedbackDecision(actor=CASEWORKER, message="处理结果"), cst(2025, 9, 16))
    feedback = next(e for e in s.events if e.kind == "feedback_sent")
    notes = [n for n in notices_for(s, feedback) if n.to_complainant]
    assert [(n.recipient_ref, n.channel, n.template) for n in notes] == [
        ("complainant", "callback", "case_feedback"),
        ("complainant", "sms", "case_feedback"),
        ("complainant:SX2025091100002", "wechat", "case_feedback"),
        ("complainant:SX2025091100003", "letter", "case_feedback"),
    ]
    # each learns the review window and which case answers them; the index keeps the outbox keys apart
    assert all(n.params["review_window_ends_at"] == feedback.details["review_window_ends_at"] for n in notes)
    assert [n.params.get("own_case_no") for n in notes] == [None, None, "SX2025091100002", "SX2025091100003"]
    assert len({n.index for n in notes}) == 4

    with pytest.raises(DecisionRefused, match="on_behalf_of: SX2025091100009 is not a duplicate merged"):
        _do(s, RequestReviewDecision(actor=INTAKE, reason="不服", on_behalf_of="SX2025091100009"),
            cst(2025, 9, 17))
    s = _do(s, RequestReviewDecision(actor=INTAKE, reason="不服", on_behalf_of="SX2025091100003"),
            cst(2025, 9, 17))
    assert s.events[-1].kind == "review_requested" and s.events[-1].details["on_behalf_of"] == "SX2025091100003"
    assert [ref for ref, _ in _to_complainants(s, "review_requested")] == [
        "complainant", "complainant", "complainant:SX2025091100002", "complainant:SX2025091100003"
    ]


def test_merged_complainants_are_kept_only_under_the_policy_and_once() -> None:
    s = _new(received_at=ACCEPTED.isoformat(), case_no="SX2025091100001")
    s, _ = absorb_duplicate(s, "SX2025091100002", DISPATCHER, ACCEPTED, [_merged()])
    s, _ = absorb_duplicate(s, "SX2025091100002", DISPATCHER, ACCEPTED, [_merged()])
    assert [m.case_no for m in s.merged_complainants] == ["SX2025091100002"]
    assert summarize(s).merged_cases == ["SX2025091100002"]
    old = _new(SlaPolicy(notify_merged_complainants=False), received_at=ACCEPTED.isoformat(),
               case_no="SX2025091100001")
    old, events = absorb_duplicate(old, "SX2025091100002", DISPATCHER, ACCEPTED, [_merged()])
    assert old.merged_complainants == [] and [e.kind for e in events] == ["duplicate_merged"]
    # an anonymous fraud reporter merged into a case is never written to
    anon = _merged().model_copy(update={"kind": CaseKind.fraud_report})
    anon.complainant.real_name = False
    s, _ = absorb_duplicate(s, "SX2025091100004", DISPATCHER, ACCEPTED, [anon.model_copy(update={"case_no": "SX2025091100004"})])
    s = _do(s, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), ACCEPTED)
    assert [ref for ref, _ in _to_complainants(s, "accepted")] == [
        "complainant", "complainant", "complainant:SX2025091100002"
    ]
