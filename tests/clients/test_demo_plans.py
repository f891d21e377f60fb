"""The demo's plans, checked without a server against the case rules themselves: every planned decision fits
the case at its instant, the history closes before now, the open cases can be taken over, and the mix looks
like a bureau (some late, mostly on time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calendars import get_calendar
from cases.models import DECISION_MODELS
from cases.org import load_bundled_directory
from cases.policy import policy_for
from cases.transitions import apply, register, take_over, tick
from clients import demo

CAL = get_calendar("CN-SX")
DIRECTORY = load_bundled_directory()
NOWS = [datetime(2026, 12, 2, 1, 0, tzinfo=UTC), datetime(2026, 10, 9, 7, 30, tzinfo=UTC)]


@pytest.mark.parametrize("now", NOWS, ids=lambda d: f"{d:%Y-%m-%d}")
def test_every_planned_step_fits_the_rules_and_the_split_is_sound(now: datetime) -> None:
    plans = demo.generate(200, seed=3, now=now)
    history, live = demo.split(plans, now)
    assert len(history) + len(live) == 200 and history and live
    for p in plans:
        times = [p.registration.received_at, *(s.at for s in p.steps)]
        assert times == sorted(times), p.case_no
    for p in history:
        assert p.closes_at is not None and p.closes_at < now, p.case_no
        _run_to_the_end(p)
    for p in live:
        prior, now_steps = demo.take_over(p, now)
        assert [s.name for s in now_steps] in ([], ["request_review"], ["request_review", "decide_review"]), p.case_no
        if prior is not None:
            reg = p.registration
            state, _ = take_over(reg, prior, DIRECTORY, policy_for(reg.kind, reg.jurisdiction), now, CAL)
            assert state.is_open, (p.case_no, p.profile)
            if now_steps:  # sent at now: the review window must still be open then
                assert state.review_window_ends_at is not None and state.review_window_ends_at > now


def _run_to_the_end(p: demo.CasePlan) -> None:
    """Every step through `apply` at its instant (time passing through `tick`); the case ends closed. A review
    decision is applied on the parent's side only (its child workflow has no rules of its own to break)."""
    reg = p.registration
    state, _ = register(reg, DIRECTORY, policy_for(reg.kind, reg.jurisdiction), reg.received_at, CAL)
    for step in p.steps:
        state, _ = tick(state, step.at)
        decision = DECISION_MODELS[step.name].model_validate(step.payload)
        state, _ = apply(state, decision, decision.actor, step.at, CAL)
    assert p.closes_at is not None
    state, _ = tick(state, p.closes_at + timedelta(seconds=1))
    assert not state.is_open, (p.case_no, p.profile, state.stage)


def test_the_mix_looks_like_a_bureau() -> None:
    now = NOWS[0]
    plans = demo.generate(400, seed=5, now=now)
    accepted = [p for p in plans if any(s.name == "accept" for s in p.past(now))]
    late = [p for p in accepted if "late_acceptance" in p.profile]
    assert 0.05 <= len(late) / len(accepted) <= 0.2
    profiles = " ".join(p.profile for p in plans)
    for tag in ("extended", "extension_refused", "late_investigation", "review_upheld", "rehandled", "returned",
                "withdrawn", "rejected", "answered_on_spot", "transferred"):
        assert tag in profiles, tag
