"""Time-skipping tests of the decisions after (or beside) the main line, on the real calendar with the real
activities and PostgreSQL: the rectification clock, feedback's basis and reasons, the referral to 行政复议 /
行政诉讼, merging a duplicate during investigation, the reward on a verified fraud report.

Each scenario starts its own test server whose clock reads the scenario's start (the LD_PRELOAD shim of
`devstack.timeshift`). `COMPLAINTS_RECORD_HISTORIES=1` writes this module's histories (and only these) to
`tests/workflows/histories/`, which the replay test replays.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from helpers.cases import (
    CASEWORKER,
    DISPATCHER,
    HANDLING_UNIT,
    INTAKE,
    SUPERVISOR,
    cst,
    fixed_key_data_converter,
    registration,
)
from helpers.histories import record_history as record
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from cases.models import (
    AcceptDecision,
    Actor,
    CaseSummary,
    CompleteInvestigationDecision,
    CompleteRectificationDecision,
    DecideRewardDecision,
    MergeIntoDecision,
    RecordAdministrativeRemedyDecision,
    RecordReturnVisitDecision,
    RequestReviewDecision,
    Role,
    SendFeedbackDecision,
)
from common.contract import review_workflow_id
from dashboard import queries as dq
from devstack.timeshift import build_time_shift_lib, start_time_skipping_at
from workers.main import build_worker
from workflows import ComplaintCase, ComplaintReview
from workflows.client import start_case

CST = timezone(timedelta(hours=8))
OTHER_CASEWORKER = Actor(id="cw-yz-1", role=Role.caseworker, unit_id="SX-TY-YZ")
FEEDBACK = SendFeedbackDecision(
    actor=CASEWORKER,
    message="已责令医院退还多收费用",
    basis="《医疗保障基金使用监督管理条例》第十五条",
    reasons="医院超标准收费属实，违反定点协议",
)


def _at_fault(rectify: bool) -> CompleteInvestigationDecision:
    return CompleteInvestigationDecision(
        actor=CASEWORKER,
        findings="医院超标准收费属实",
        legal_basis="《医疗保障基金使用监督管理条例》第十五条",
        institution_at_fault=True,
        rectification_required=rectify,
    )


@pytest.fixture(scope="module")
def time_shift_lib(tmp_path_factory: pytest.TempPathFactory) -> str:
    lib = build_time_shift_lib(tmp_path_factory.mktemp("timeshift"))
    if lib is None:
        pytest.fail("a C compiler (Debian gcc) is required for the dated time-skipping tests")
    return lib


@dataclass
class Ctx:
    env: Any
    pool: asyncpg.Pool
    task_queue: str

    async def until(self, when: datetime) -> None:
        delta = when - await self.env.get_current_time()
        if delta > timedelta(0):
            await self.env.sleep(delta)

    async def start(self, case_no: str, **over: Any) -> WorkflowHandle[ComplaintCase, CaseSummary]:
        received = (await self.env.get_current_time()).astimezone(CST)
        reg = registration(case_no=case_no, received_at=received.isoformat(), **over)
        return await start_case(self.env.client, reg, task_queue=self.task_queue)

    async def investigating(self, case_no: str, unit: str = HANDLING_UNIT, **over: Any) -> WorkflowHandle[Any, Any]:
        h = await self.start(case_no, **over)
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=unit))
        return h


@asynccontextmanager
async def scenario(start: datetime, pool: asyncpg.Pool, lib: str) -> AsyncIterator[Ctx]:
    env = await start_time_skipping_at(start, lib, fixed_key_data_converter())
    try:
        tq = f"complaints-test-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, pool, task_queue=tq):
            yield Ctx(env, pool, tq)
    finally:
        await env.shutdown()


async def settle(h: WorkflowHandle[Any, Any], pred: Callable[[CaseSummary], bool]) -> CaseSummary:
    """Query until `pred` holds (timer-driven work finishes just after `env.sleep` returns)."""
    for _ in range(100):
        s: CaseSummary = await h.query(ComplaintCase.summary)
        if pred(s):
            return s
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached; stage={s.stage} events={[e.kind for e in s.events]}")


async def refused(call: Awaitable[Any], text: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await call
    assert text in str(err.value.cause), str(err.value.cause)


async def accepted_updates(h: WorkflowHandle[Any, Any]) -> list[str]:
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in (await h.fetch_history()).events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]


def clock(s: CaseSummary, name: str) -> Any:
    return next(c for c in s.clocks if c.clock == name)


async def test_rectification_clock_runs_to_red_and_holds_the_case_until_recorded(
    pg_pool: asyncpg.Pool, time_shift_lib: str
) -> None:
    async with scenario(cst(2025, 9, 26, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.investigating("SX2025092600301")
        await ctx.until(cst(2025, 10, 13, 10))
        s = await h.execute_update(ComplaintCase.complete_investigation, _at_fault(rectify=True))
        rect = clock(s, "rectification")
        # 15 WD from Mon 10/13: 10/14 is the first, Mon 11/3 the 15th; it ends at the 17:00 service close
        assert rect.due_at == cst(2025, 11, 3, 17, 0) and rect.unit == HANDLING_UNIT
        # blue with 3 WD (20%) left: 10/30, 10/31 and 11/3; yellow on the last one
        assert rect.blue_at == cst(2025, 10, 30, 0, 0) and rect.yellow_at == cst(2025, 11, 3, 0, 0)
        s = await h.execute_update(ComplaintCase.send_feedback, FEEDBACK)
        window_end = s.review_window_ends_at
        assert window_end is not None
        await h.execute_update(
            ComplaintCase.record_return_visit, RecordReturnVisitDecision(actor=INTAKE, outcome="satisfied")
        )
        await ctx.until(cst(2025, 11, 3, 17, 0))  # the due instant itself is still on time
        s = await settle(h, lambda s: clock(s, "rectification").level == "yellow")
        await ctx.until(cst(2025, 11, 3, 17, 1))
        s = await settle(h, lambda s: clock(s, "rectification").level == "red")
        red = [e for e in s.events if e.kind == "sla_level_changed" and e.details["clock"] == "rectification"]
        assert [(e.details["level"], e.at.astimezone(CST)) for e in red][-1][0] == "red"
        assert red[-1].at > cst(2025, 11, 3, 17, 0) and red[-1].at <= cst(2025, 11, 3, 17, 1)
        supervised = await ctx.pool.fetch(
            "SELECT template, params->>'clock' AS clock FROM notifications WHERE case_no=$1 AND audience='supervisor'",
            s.case_no,
        )
        assert ("sla_overdue_supervise", "rectification") in [tuple(r) for r in supervised]
        # the board's row: the running rectification clock in the read model
        row = await ctx.pool.fetchrow(
            "SELECT level, due_at, unit FROM sla_clocks WHERE case_no=$1 AND clock='rectification' "
            "AND stopped_at IS NULL",
            s.case_no,
        )
        assert row is not None and row["level"] == "red" and row["unit"] == HANDLING_UNIT
        assert row["due_at"] == cst(2025, 11, 3, 17, 0)
        async with ctx.pool.acquire() as conn:
            board = await dq.sla_board(
                conn, None, dq.BoardFilters(unit=HANDLING_UNIT, levels=("red",)), cst(2025, 11, 4, 10), limit=None
            )
        mine = board[board["case_no"] == s.case_no]
        assert list(mine["due_clock"]) == ["rectification"] and list(mine["stage"]) == ["review_window"]
        assert list(mine["days_overdue"]) == [1]
        # the review window passes with no request: the case waits for the rectification
        await ctx.until(window_end + timedelta(days=2))
        s = await h.query(ComplaintCase.summary)
        assert s.open and s.stage == "review_window"
        await refused(
            h.execute_update(
                ComplaintCase.complete_rectification,
                CompleteRectificationDecision(actor=OTHER_CASEWORKER, result="已整改"),
            ),
            "is not the handling unit SX-TY-XD",
        )
        done_at = (await ctx.env.get_current_time()).astimezone(CST)
        s = await h.execute_update(
            ComplaintCase.complete_rectification,
            CompleteRectificationDecision(actor=CASEWORKER, result="医院已退还多收费用并整改收费流程"),
        )
        assert s.stage == "archived" and s.close_reason == "review_window_lapsed"
        assert s.rectification_completed_at is not None and s.rectification_completed_at - done_at < timedelta(
            minutes=1
        )
        assert clock(s, "rectification").breached
        final = await h.result()
        assert final.close_reason == "review_window_lapsed"
        row = await ctx.pool.fetchrow(
            "SELECT stopped_at IS NOT NULL AS stopped, breached FROM sla_clocks WHERE case_no=$1 AND "
            "clock='rectification'",
            s.case_no,
        )
        assert row["stopped"] and row["breached"]
        await record(h, "rectification_tracked")


async def test_feedback_needs_basis_and_reasons_and_a_referral_ends_the_review(
    pg_pool: asyncpg.Pool, time_shift_lib: str
) -> None:
    async with scenario(cst(2026, 2, 10, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.investigating("SX2026021000302")
        await h.execute_update(ComplaintCase.complete_investigation, _at_fault(rectify=False))
        bare = SendFeedbackDecision(actor=CASEWORKER, message="已处理")
        await refused(
            h.execute_update(ComplaintCase.send_feedback, bare),
            "send_feedback refused for case SX2026021000302: basis: required (at least 2 characters); "
            "reasons: required",
        )
        await refused(
            h.execute_update(ComplaintCase.send_feedback, bare.model_copy(update={"basis": "第十五条"})),
            "reasons: required",
        )
        assert "send_feedback" not in await accepted_updates(h)
        s = await h.execute_update(ComplaintCase.send_feedback, FEEDBACK)
        assert s.stage == "return_visit"
        sent = next(e for e in s.events if e.kind == "feedback_sent")
        assert sent.details["basis"] == FEEDBACK.basis and sent.details["reasons"] == FEEDBACK.reasons
        await ctx.until(cst(2026, 2, 24, 10))  # after the Spring Festival break (2/15-2/23)
        s = await h.execute_update(
            ComplaintCase.request_review, RequestReviewDecision(actor=INTAKE, reason="对处理结果不服")
        )
        assert s.stage == "under_review"
        remedy = RecordAdministrativeRemedyDecision(
            actor=DISPATCHER,
            remedy="litigation",
            authority="太原市小店区人民法院",
            reference_no="（2026）晋0105行初12号",
            filed_on=date(2026, 2, 25),
        )
        await refused(h.execute_update(ComplaintCase.record_administrative_remedy, remedy), "is after today")
        await ctx.until(cst(2026, 2, 26, 15, 30))
        s = await h.execute_update(ComplaintCase.record_administrative_remedy, remedy)
        assert s.stage == "archived" and s.close_reason == "administrative_remedy"
        assert s.closed_at is not None and abs(s.closed_at - cst(2026, 2, 26, 15, 30)) < timedelta(minutes=1)
        assert s.administrative_remedy is not None and s.administrative_remedy.reference_no == "（2026）晋0105行初12号"
        assert all(c.stopped_at is not None for c in s.clocks)
        final = await h.result()
        assert final.close_reason == "administrative_remedy"
        # the review ends without a decision, its clock stopped at the closing
        review = ctx.env.client.get_workflow_handle_for(ComplaintReview.run, review_workflow_id(s.case_no, 1))
        ended = await review.result()
        assert (ended.outcome, ended.reviewer_id) == (None, None)
        assert ended.clock.stopped_at is not None
        assert abs(ended.clock.stopped_at - cst(2026, 2, 26, 15, 30)) < timedelta(minutes=1)
        row = await ctx.pool.fetchrow("SELECT open, close_reason FROM cases WHERE case_no=$1", s.case_no)
        assert tuple(row) == (False, "administrative_remedy")
        notes = await ctx.pool.fetch("SELECT template FROM notifications WHERE case_no=$1", s.case_no)
        assert "case_closed_administrative_remedy" in [r["template"] for r in notes]
        await record(h, "review_closed_by_signal")


async def test_the_handling_unit_merges_a_duplicate_during_investigation(
    pg_pool: asyncpg.Pool, time_shift_lib: str
) -> None:
    async with scenario(cst(2025, 9, 29, 9), pg_pool, time_shift_lib) as ctx:
        target = await ctx.investigating("SX2025092900311")
        other = await ctx.investigating("SX2025092900312", unit="SX-TY-YZ")
        dup = await ctx.investigating("SX2025092900313")
        assert "merge_into" in await dup.query(ComplaintCase.allowed_decisions, CASEWORKER)
        await refused(
            dup.execute_update(
                ComplaintCase.merge_into, MergeIntoDecision(actor=CASEWORKER, target_case_no="SX2025092900312")
            ),
            "unit SX-TY-XD is not the handling unit of target case SX2025092900312 (SX-TY-YZ)",
        )
        await refused(
            dup.execute_update(
                ComplaintCase.merge_into, MergeIntoDecision(actor=OTHER_CASEWORKER, target_case_no="SX2025092900311")
            ),
            "unit SX-TY-YZ is not the handling unit SX-TY-XD",
        )
        await ctx.until(cst(2025, 10, 9, 10))
        s = await dup.execute_update(
            ComplaintCase.merge_into, MergeIntoDecision(actor=CASEWORKER, target_case_no="SX2025092900311")
        )
        assert s.close_reason == "merged" and s.merged_into == "SX2025092900311"
        inv = clock(s, "investigation")
        assert inv.stopped_at is not None and abs(inv.stopped_at - cst(2025, 10, 9, 10)) < timedelta(minutes=1)
        t = await settle(target, lambda t: any(e.kind == "duplicate_merged" for e in t.events))
        assert t.open and t.stage == "investigation"
        # the wrong unit of this case is refused by the validator (nothing in history); the target's unit can only
        # be read by an activity, so that refusal comes from the handler, after the update was accepted
        assert await accepted_updates(dup) == ["accept", "merge_into", "merge_into"]
        assert (await other.query(ComplaintCase.summary)).open
        await record(dup, "merged_in_investigation")


async def test_a_verified_fraud_report_records_the_reward(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 9, 26, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.investigating("SX2025092600321", kind="fraud_report", category="fund_fraud")
        await refused(
            h.execute_update(
                ComplaintCase.decide_reward,
                DecideRewardDecision(actor=SUPERVISOR, granted=True, amount_band="1000-9999", reasons="查实"),
            ),
            "decide_reward is allowed only in stage feedback",
        )
        await h.execute_update(ComplaintCase.complete_investigation, _at_fault(rectify=False))
        await ctx.until(cst(2025, 10, 9, 11))
        s = await h.execute_update(
            ComplaintCase.decide_reward,
            DecideRewardDecision(
                actor=SUPERVISOR, granted=True, amount_band="10000-49999", reasons="举报属实，追回基金86万元"
            ),
        )
        assert s.reward is not None and s.reward.granted and s.reward.amount_band == "10000-49999"
        assert abs(s.reward.decided_at - cst(2025, 10, 9, 11)) < timedelta(minutes=1)
        assert s.complainant is None  # the reporter stays confidential
        notes = await ctx.pool.fetch(
            "SELECT audience, channel FROM notifications WHERE case_no=$1 AND template='fraud_reward_decided'"
            " ORDER BY channel",
            s.case_no,
        )
        # a hotline reporter is answered the hotline's way: a recorded call-back and an SMS
        assert [tuple(r) for r in notes] == [("complainant", "callback"), ("complainant", "sms")]
        await refused(
            h.execute_update(
                ComplaintCase.decide_reward,
                DecideRewardDecision(actor=SUPERVISOR, granted=False, reasons="重复"),
            ),
            "already decided",
        )
        await record(h, "fraud_reward")

