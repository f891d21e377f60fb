"""Property-based tests of the pure case core: random sequences of decisions by random actors, with time
passing in between, on the real CN-SX working-day calendar (hypothesis `RuleBasedStateMachine`).

Invariants checked after every step:
* no deadline before its start (every clock: `started_at <= original_due_at <= due_at`);
* an investigation clock never runs beyond 30 working days from its start (acceptance or re-handling);
* an archived case accepts nothing: every decision is refused, and no event follows `archived`;
* the audit trail only grows: the old events are an unchanged prefix, seq numbers are 1..n;
* every refusal is a `DecisionRefused` whose message is non-empty and names the decision;
* nothing else is ever raised (no KeyError, AssertionError, ... from any decision in any stage);
* at most one running clock per kind, thresholds in order (blue <= yellow <= due), an open stage has no close
  reason and an archived case no running clock, and the summary always serialises without the phone number.

Beside the machine: following `next_wakeup` from any start visits the SLA levels in order and never stalls.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from helpers.cases import CST, registration
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from pydantic import BaseModel

from calendars import get_calendar
from cases.errors import DecisionRefused
from cases.models import (
    OPEN_STAGES,
    AcceptDecision,
    Actor,
    AssignDecision,
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
from cases.org import load_bundled_directory
from cases.policy import policy_for
from cases.transitions import DECISIONS, CaseState, apply, next_wakeup, register, summarize, tick

CAL = get_calendar("CN-SX")
DIRECTORY = load_bundled_directory()
UNITS = ["SX", "SX-TY", "SX-TY-XD", "SX-TY-YZ", "SX-DT", "SX-DT-PC", "NHSA", "XX-NOPE"]
KINDS = ["complaint", "fraud_report", "misconduct", "complaint", "complaint"]

actors = st.builds(
    Actor,
    id=st.sampled_from(["a1", "a2", "disp-01", "cw-1"]),
    role=st.sampled_from(list(Role)),
    unit_id=st.sampled_from(UNITS),
)


def decision_for(name: str, actor: Actor, unit: str, flag: bool, flag2: bool, now: datetime) -> BaseModel:
    """A well-formed decision of kind `name` with the drawn actor, unit and flags."""
    return {
        "accept": lambda: AcceptDecision(actor=actor, unit_id=unit if flag else None, use_catalogue=flag2),
        "reject": lambda: RejectDecision(actor=actor, reason="不属于医保部门职责", redirect_to="12345"),
        "assign": lambda: AssignDecision(actor=actor, unit_id=unit, overrule=flag),
        "return_case": lambda: ReturnCaseDecision(actor=actor, reason="属地错误"),
        "request_extension": lambda: RequestExtensionDecision(actor=actor, reason="需调取外省病历"),
        "decide_extension": lambda: DecideExtensionDecision(actor=actor, approve=flag),
        "complete_investigation": lambda: CompleteInvestigationDecision(
            actor=actor, findings="属实", institution_at_fault=flag, rectification_required=flag2
        ),
        "send_feedback": lambda: SendFeedbackDecision(actor=actor, message="已处理"),
        "record_return_visit": lambda: RecordReturnVisitDecision(
            actor=actor, outcome="unsatisfied" if flag else "satisfied", request_rehandling=flag2
        ),
        "request_review": lambda: RequestReviewDecision(actor=actor, reason="不服"),
        "decide_review": lambda: DecideReviewDecision(
            actor=actor, outcome="overturn" if flag else "uphold", reasons="理由"
        ),
        "withdraw": lambda: WithdrawDecision(actor=actor, reason=""),
        "record_receipt": lambda: RecordReceiptDecision(
            actor=actor, received_on=(now - timedelta(days=2 if flag else 0)).date()
        ),
        "merge_into": lambda: MergeIntoDecision(
            actor=actor, target_case_no="SX2025092500007" if flag else "SX2025092600001"
        ),
    }[name]()


# the actors who may do it (so that random runs get deep into the life cycle, not only refusals)
GOOD_ACTORS = {
    "accept": Actor(id="disp-01", role=Role.dispatcher, unit_id="SX"),
    "reject": Actor(id="disp-01", role=Role.dispatcher, unit_id="SX"),
    "assign": Actor(id="disp-01", role=Role.dispatcher, unit_id="SX"),
    "merge_into": Actor(id="disp-01", role=Role.dispatcher, unit_id="SX"),
    "return_case": Actor(id="cw-1", role=Role.caseworker, unit_id="SX-TY-XD"),
    "request_extension": Actor(id="cw-1", role=Role.caseworker, unit_id="SX-TY-XD"),
    "complete_investigation": Actor(id="cw-1", role=Role.caseworker, unit_id="SX-TY-XD"),
    "send_feedback": Actor(id="cw-1", role=Role.caseworker, unit_id="SX-TY-XD"),
    "decide_extension": Actor(id="sup-1", role=Role.supervisor, unit_id="SX-TY"),
    "record_return_visit": Actor(id="agent-07", role=Role.intake_agent, unit_id="SX"),
    "request_review": Actor(id="agent-07", role=Role.intake_agent, unit_id="SX"),
    "withdraw": Actor(id="agent-07", role=Role.intake_agent, unit_id="SX"),
    "record_receipt": Actor(id="cw-1", role=Role.caseworker, unit_id="SX-TY-XD"),
    "decide_review": Actor(id="rev-1", role=Role.reviewer, unit_id="SX-TY"),
}


class CaseMachine(RuleBasedStateMachine):
    """One case under random decisions, random actors and time passing."""

    state: CaseState
    now: datetime

    @initialize(
        kind=st.sampled_from(KINDS),
        offset_hours=st.integers(min_value=0, max_value=24 * 450),
    )
    def start(self, kind: str, offset_hours: int) -> None:
        received = datetime(2025, 1, 2, 9, tzinfo=CST) + timedelta(hours=offset_hours)
        reg = registration(kind=kind, received_at=received.isoformat())
        self.now = received
        self.state, events = register(reg, DIRECTORY, policy_for(reg.kind, reg.jurisdiction), received, CAL)
        self.refusals = 0
        self.applied = 0

    def _step(self, new: CaseState, events: list) -> None:
        old = self.state
        assert new.events[: len(old.events)] == old.events, "audit trail rewritten"
        assert new.events[len(old.events):] == events
        self.state = new

    @rule(hours=st.integers(min_value=0, max_value=24 * 12))
    def time_passes(self, hours: int) -> None:
        self.now += timedelta(hours=hours)
        self._step(*tick(self.state, self.now))

    @rule(
        name=st.sampled_from(DECISIONS),
        actor=st.one_of(actors, st.just(None)),
        unit=st.sampled_from(UNITS[:6] + ["SX-TY-XD"] * 3),
        flag=st.booleans(),
        flag2=st.booleans(),
        minutes=st.integers(min_value=0, max_value=600),
    )
    def decide(self, name: str, actor: Actor | None, unit: str, flag: bool, flag2: bool, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        who = actor or GOOD_ACTORS[name]
        decision = decision_for(name, who, unit, flag, flag2, self.now)
        was_archived = not self.state.is_open
        try:
            new, events = apply(self.state, decision, who, self.now, CAL)
        except DecisionRefused as exc:
            self.refusals += 1
            msg = str(exc)
            assert msg.strip() and exc.reason, "refusal without a reason"
            assert name in msg, f"refusal of {name} does not name it: {msg}"
            return
        assert not was_archived, f"{name} accepted on an archived case"
        assert events, f"{name} applied but recorded nothing"
        self.applied += 1
        self._step(new, events)

    @invariant()
    def deadlines_after_starts(self) -> None:
        for c in self.state.clocks:
            assert c.started_at <= c.original_due_at <= c.due_at, c
            if c.stopped_at is not None:
                assert c.stopped_at >= c.started_at, c

    @invariant()
    def investigation_within_30_wd(self) -> None:
        for c in self.state.clocks:
            if c.clock == "investigation":
                assert c.working_days <= 30, c
                assert c.due_at <= CAL.deadline_at(c.started_at, 30), c

    @invariant()
    def timeline_is_append_only_and_numbered(self) -> None:
        ev = self.state.events
        assert [e.seq for e in ev] == list(range(1, len(ev) + 1))
        kinds = [e.kind for e in ev]
        if "archived" in kinds:
            assert kinds.count("archived") == 1 and kinds[-1] == "archived", kinds
            assert self.state.stage is Stage.archived
        for a, b in zip(ev, ev[1:], strict=False):
            assert a.at <= b.at

    @invariant()
    def stage_and_clocks_agree(self) -> None:
        s = self.state
        running = [c.clock for c in s.clocks if c.running]
        assert len(running) == len(set(running)), "at most one running clock per kind"
        if s.stage is Stage.archived:
            assert s.close_reason is not None and s.closed_at is not None and not running
        else:
            assert s.stage in OPEN_STAGES and s.close_reason is None
        if s.stage in (Stage.investigation, Stage.feedback):
            assert s.handling_unit is not None
        for c in s.clocks:
            if c.blue_at is not None:
                assert c.blue_at <= c.yellow_at <= c.due_at, c  # type: ignore[operator]
        shown = summarize(s).model_dump_json()
        assert registration().complainant.phone not in shown

    @invariant()
    def archived_accepts_nothing(self) -> None:
        if self.state.is_open:
            return
        for name in DECISIONS:
            actor = GOOD_ACTORS[name]
            try:
                apply(self.state, decision_for(name, actor, "SX-TY-XD", False, False, self.now), actor, self.now, CAL)
            except DecisionRefused as exc:
                assert name in str(exc)
            else:
                raise AssertionError(f"{name} accepted after archive")


CaseMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCaseMachine = CaseMachine.TestCase


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=23))
def test_timer_loop_reaches_every_threshold(day_offset: int, hour: int) -> None:
    """Following `next_wakeup` from any start visits the investigation levels in order and never stalls."""
    start = datetime(2025, 1, 2, tzinfo=CST) + timedelta(days=day_offset, hours=hour)
    reg = registration(received_at=start.isoformat())
    state, _ = register(reg, DIRECTORY, policy_for(reg.kind, reg.jurisdiction), start, CAL)
    dispatcher = GOOD_ACTORS["accept"]
    state, _ = apply(state, decision_for("accept", dispatcher, "SX-TY-XD", True, False, start), dispatcher, start, CAL)
    now, seen = start, []
    for _ in range(20):
        wake = next_wakeup(state, now)
        if wake is None:
            break
        assert wake > now
        state, events = tick(state, wake)
        seen += [(e.details.get("clock"), e.details.get("level", e.kind)) for e in events]
        now = wake
    assert [level for clock, level in seen if clock == "investigation"] == ["blue", "yellow", "red", "sla_escalated"]
