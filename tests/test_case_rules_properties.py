"""Property tests of the pure case rules: any sequence of decisions by any actor at any time either applies
or is refused with `DecisionRefused`, and the state invariants always hold."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_case_rules import sample
from test_case_rules_fixtures import RIGHT_UNIT, WRONG_UNIT, cst, registration

from calendars import get_calendar
from cases.errors import DecisionRefused
from cases.models import OPEN_STAGES, Role, Stage
from cases.org import load_bundled_directory
from cases.policy import policy_for
from cases.transitions import DECISIONS, CaseState, apply, next_wakeup, register, summarize, tick

CAL = get_calendar("CN-SX")
DIRECTORY = load_bundled_directory()
ACTORS = list(RIGHT_UNIT.values()) + list(WRONG_UNIT.values())

step = st.tuples(
    st.sampled_from(DECISIONS),
    st.sampled_from(ACTORS),
    st.integers(min_value=0, max_value=60 * 24 * 12),  # minutes to wait before the decision
    st.booleans(),  # let time pass through `tick` first
)


def _invariants(s: CaseState) -> None:
    assert [e.seq for e in s.events] == list(range(1, len(s.events) + 1))
    names = [c.clock for c in s.clocks if c.running]
    assert len(names) == len(set(names)), "at most one running clock per kind"
    if s.stage is Stage.archived:
        assert s.close_reason is not None and s.closed_at is not None
        assert not [c for c in s.clocks if c.running]
    else:
        assert s.stage in OPEN_STAGES and s.close_reason is None
    if s.stage in (Stage.investigation, Stage.feedback):
        assert s.handling_unit is not None
    for c in s.clocks:
        assert c.due_at >= c.started_at
        if c.blue_at is not None:
            assert c.blue_at <= c.yellow_at <= c.due_at  # type: ignore[operator]
    summ = summarize(s)
    assert summ.model_dump_json()  # always serialisable
    assert "13812345678" not in summ.model_dump_json()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=14))
def test_any_decision_sequence_keeps_invariants(steps: list) -> None:
    reg = registration()
    state, _ = register(reg, DIRECTORY, policy_for(reg.kind, reg.jurisdiction), reg.received_at, CAL)
    now = reg.received_at
    for name, actor, minutes, let_time_pass in steps:
        now = now + timedelta(minutes=minutes)
        if let_time_pass:
            state, _ = tick(state, now)
            _invariants(state)
        try:
            state, events = apply(state, sample(name, actor), actor, now, CAL)
        except DecisionRefused as e:
            assert name in str(e)
            continue
        assert events
        _invariants(state)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=23))
def test_timer_loop_reaches_every_threshold(day_offset: int, hour: int) -> None:
    """Following `next_wakeup` from any start visits levels in order and never stalls."""
    start = cst(2025, 1, 2, 0) + timedelta(days=day_offset, hours=hour)
    reg = registration(received_at=start.isoformat())
    state, _ = register(reg, DIRECTORY, policy_for(reg.kind, reg.jurisdiction), start, CAL)
    dispatcher = RIGHT_UNIT[Role.dispatcher]
    state, _ = apply(state, sample("accept", dispatcher), dispatcher, start, CAL)
    now, seen = start, []
    for _ in range(20):
        wake = next_wakeup(state, now)
        if wake is None:
            break
        assert wake > now
        state, events = tick(state, wake)
        seen += [(e.details.get("clock"), e.details.get("level", e.kind)) for e in events]
        now = wake
    inv = [lv for clock, lv in seen if clock == "investigation"]
    assert inv == ["blue", "yellow", "red", "sla_escalated"]
