"""The review window on the real CN-SX calendar: 30 natural days from the day after the complainant received
the result (the outbox's delivery, a letter's recorded receipt, else a presumed day: provisional), ending at
24:00 of its last day and moved to the next working day when that day is not one (民法典 Art. 201/203)."""

from __future__ import annotations

import re
from datetime import date, datetime, time

import pytest
from helpers.cases import CASEWORKER, DISPATCHER, HANDLING_UNIT, INTAKE, cst, registration

from calendars import get_calendar
from cases.errors import DecisionRefused
from cases.models import (
    AcceptDecision,
    CompleteInvestigationDecision,
    RecordReceiptDecision,
    RecordReturnVisitDecision,
    SendFeedbackDecision,
)
from cases.org import load_bundled_directory
from cases.policy import policy_for
from cases.transitions import (
    CaseState,
    allowed_decisions,
    apply,
    feedback_delivered,
    next_wakeup,
    recompute_deadlines,
    register,
    summarize,
    tick,
)

CAL = get_calendar("CN-SX")
DIRECTORY = load_bundled_directory()


def _sent(sent_at: datetime, *, channel: str = "hotline_12393", **policy: object) -> CaseState:
    """A case received on the 1st of the month of `sent_at`, investigated at once, its feedback sent at `sent_at`."""
    received = sent_at.replace(day=1, hour=9, minute=0)
    reg = registration(case_no=f"SX{received:%Y%m%d}00001", channel=channel, received_at=received.isoformat())
    pol = policy_for(reg.kind, reg.jurisdiction).model_copy(update=policy)
    state, _ = register(reg, DIRECTORY, pol, reg.received_at, CAL)
    t = reg.received_at
    for d in (
        AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT),
        CompleteInvestigationDecision(actor=CASEWORKER, findings="属实", legal_basis="《条例》第十五条"),
    ):
        state, _ = apply(state, d, d.actor, t, CAL)
    state, _ = apply(state, SendFeedbackDecision(actor=CASEWORKER, message="已退费"), CASEWORKER, sent_at, CAL)
    return state


def _receipt(state: CaseState, received_on: date, now: datetime) -> CaseState:
    d = RecordReceiptDecision(actor=CASEWORKER, received_on=received_on)
    new, events = apply(state, d, d.actor, now, CAL)
    assert [e.kind for e in events] == ["feedback_receipt_recorded"]
    return new


def test_an_electronic_notice_counts_from_its_delivery() -> None:
    s = _sent(cst(2025, 11, 3, 16, 50))  # Mon, by SMS
    # until the outbox reports, the sending day is presumed: 12/3 (Wed) until 24:00, provisional
    assert s.review_window_ends_at == cst(2025, 12, 4, 0)
    summ = summarize(s)
    assert summ.review_window_provisional and summ.any_provisional and summ.feedback_received_on is None
    # delivered the next morning (the gateway was down overnight): counts from Tue 11/4, last day Thu 12/4
    new, events = feedback_delivered(s, s.feedback_seq or 0, cst(2025, 11, 4, 8, 15), cst(2025, 11, 4, 8, 16), CAL)
    assert [e.kind for e in events] == ["feedback_delivered"]
    assert events[0].details["review_window_ends_at"] == "2025-12-05T00:00:00+08:00"
    assert new.review_window_ends_at == cst(2025, 12, 5, 0)
    summ = summarize(new)
    assert not summ.review_window_provisional and not summ.any_provisional
    assert summ.feedback_received_on == date(2025, 11, 4)
    # a repeated report, a report of another notice, or one for a case past the window change nothing
    assert feedback_delivered(new, new.feedback_seq or 0, cst(2025, 11, 5, 9), cst(2025, 11, 5, 9), CAL)[1] == []
    assert feedback_delivered(s, (s.feedback_seq or 0) - 1, cst(2025, 11, 4, 9), cst(2025, 11, 4, 9), CAL)[1] == []


def test_the_window_ends_at_midnight_of_its_last_day() -> None:
    s = _sent(cst(2025, 11, 3, 10))
    s, _ = feedback_delivered(s, s.feedback_seq or 0, cst(2025, 11, 3, 10, 1), cst(2025, 11, 3, 10, 2), CAL)
    s, _ = apply(s, RecordReturnVisitDecision(actor=INTAKE, outcome="satisfied"), INTAKE, cst(2025, 11, 4), CAL)
    last_minute = datetime.combine(date(2025, 12, 3), time(23, 59, 59), tzinfo=cst(2025, 1, 1).tzinfo)
    assert "request_review" in allowed_decisions(s, INTAKE, last_minute, CAL)
    assert "request_review" in allowed_decisions(s, INTAKE, cst(2025, 12, 4, 0), CAL)  # 24:00 itself
    assert "request_review" not in allowed_decisions(s, INTAKE, cst(2025, 12, 4, 0, 1), CAL)
    wake = next_wakeup(s, cst(2025, 11, 5))
    assert wake is not None and wake > cst(2025, 12, 4, 0) and wake < cst(2025, 12, 4, 0, 1)
    lapsed, _ = tick(s, wake)
    assert lapsed.close_reason is not None and lapsed.close_reason.value == "review_window_lapsed"


def test_a_last_day_off_moves_to_the_next_working_day() -> None:
    # delivered Mon 9/1: +30 = Wed 10/1, National Day; the next working day is Thu 10/9 (until 24:00)
    s = _sent(cst(2025, 9, 1, 10))
    s, _ = feedback_delivered(s, s.feedback_seq or 0, cst(2025, 9, 1, 10, 5), cst(2025, 9, 1, 10, 6), CAL)
    assert s.review_window_ends_at == cst(2025, 10, 10, 0)


def test_a_letter_is_presumed_received_after_the_postal_allowance_until_its_receipt_is_recorded() -> None:
    s = _sent(cst(2025, 11, 3, 10), channel="mail")  # Mon; presumed received Mon 11/10 (7 days)
    assert s.review_window_ends_at == cst(2025, 12, 11, 0)  # last day Wed 12/10
    assert summarize(s).review_window_provisional
    # the delivery report of an electronic notice does not apply to a letter
    assert feedback_delivered(s, s.feedback_seq or 0, cst(2025, 11, 3, 11), cst(2025, 11, 3, 11), CAL)[1] == []
    # the receipt says Thu 11/6: +30 = Sat 12/6, moved to Mon 12/8
    recorded = _receipt(s, date(2025, 11, 6), cst(2025, 11, 7, 9))
    assert recorded.review_window_ends_at == cst(2025, 12, 9, 0)
    summ = summarize(recorded)
    assert not summ.review_window_provisional and summ.feedback_received_on == date(2025, 11, 6)
    # the allowance is policy data: 3 days presume Thu 11/6, the same end as the receipt above
    assert _sent(cst(2025, 11, 3, 10), channel="mail", postal_allowance_days=3).review_window_ends_at == cst(
        2025, 12, 9, 0
    )


@pytest.mark.parametrize(
    ("received_on", "now", "text"),
    [
        (date(2025, 11, 2), cst(2025, 11, 7), "received_on 2025-11-02 is before the letter was sent (2025-11-03)"),
        (date(2025, 11, 8), cst(2025, 11, 7), "received_on 2025-11-08 is in the future"),
    ],
)
def test_a_receipt_date_that_cannot_be_is_refused(received_on: date, now: datetime, text: str) -> None:
    s = _sent(cst(2025, 11, 3, 10), channel="mail")
    with pytest.raises(DecisionRefused, match=re.escape(text)):
        apply(s, RecordReceiptDecision(actor=CASEWORKER, received_on=received_on), CASEWORKER, now, CAL)


def test_who_may_record_a_receipt() -> None:
    letter = _sent(cst(2025, 11, 3, 10), channel="mail")
    now = cst(2025, 11, 7)
    assert "record_receipt" in allowed_decisions(letter, CASEWORKER, now, CAL)
    assert "record_receipt" in allowed_decisions(letter, INTAKE, now, CAL)  # the mail room
    recorded = _receipt(letter, date(2025, 11, 6), now)
    with pytest.raises(DecisionRefused, match="already recorded"):
        apply(recorded, RecordReceiptDecision(actor=CASEWORKER, received_on=date(2025, 11, 6)), CASEWORKER, now, CAL)
    sms = _sent(cst(2025, 11, 3, 10))
    with pytest.raises(DecisionRefused, match="went by callback and sms, not by letter"):
        apply(sms, RecordReceiptDecision(actor=CASEWORKER, received_on=date(2025, 11, 4)), CASEWORKER, now, CAL)


def test_cases_registered_before_keep_the_sending_day_window() -> None:
    s = _sent(cst(2025, 11, 3, 10), review_window_from_receipt=False)
    assert s.review_window_ends_at == cst(2025, 12, 3, 17)
    assert not summarize(s).review_window_provisional
    assert feedback_delivered(s, s.feedback_seq or 0, cst(2025, 11, 4), cst(2025, 11, 4), CAL)[1] == []
    letter = _sent(cst(2025, 11, 3, 10), channel="mail", review_window_from_receipt=False)
    with pytest.raises(DecisionRefused, match="counts its review window from the sending day"):
        apply(letter, RecordReceiptDecision(actor=CASEWORKER, received_on=date(2025, 11, 6)), CASEWORKER,
              cst(2025, 11, 7), CAL)


def test_a_window_ending_in_a_provisional_year_is_provisional() -> None:
    s = _sent(cst(2026, 12, 10, 10))
    s, _ = feedback_delivered(s, s.feedback_seq or 0, cst(2026, 12, 10, 10, 1), cst(2026, 12, 10, 10, 2), CAL)
    assert s.review_window_ends_at is not None and s.review_window_ends_at.year == 2027
    assert summarize(s).review_window_provisional and summarize(s).any_provisional


def test_a_new_calendar_that_moves_nothing_leaves_the_timeline_alone() -> None:
    s = _sent(cst(2025, 11, 3, 10))
    unmoved = CAL.with_closures([date(2026, 3, 3)], name="本单位闭馆")  # after every deadline: nothing moves
    new, events = recompute_deadlines(s, unmoved, cst(2025, 11, 4))
    assert events == [] and new.calendar_version == unmoved.version != s.calendar_version
    _, events = recompute_deadlines(s, unmoved, cst(2025, 11, 4), report_unmoved=True)
    assert [e.kind for e in events] == ["deadlines_recomputed"] and events[0].details["changes"] == []
    # a closure on the window's last day moves it, and that is recorded
    moved = CAL.with_closures([date(2025, 12, 3)], name="本单位闭馆")
    new, events = recompute_deadlines(s, moved, cst(2025, 11, 4))
    assert new.review_window_ends_at == cst(2025, 12, 5, 0)
    changes = events[0].details["changes"]
    assert {"clock": "review_window", "from": "2025-12-04T00:00:00+08:00", "to": "2025-12-05T00:00:00+08:00"} in changes
