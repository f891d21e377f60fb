"""Time-skipping tests of `ComplaintCase` / `ComplaintReview` with the real activities on a real PostgreSQL.

The calendar rules have to be checked on real dates (Golden Week 2025, Spring Festival 2026), but the
time-skipping test server starts at the machine's clock and time only moves forward. So each scenario starts
its own test server whose wall clock is shifted to the scenario's start (a tiny LD_PRELOAD shim, compiled
here, offsets `clock_gettime`/`gettimeofday` of that process only); from there `env.sleep` skips to each
instant of interest. Workers, activities and PostgreSQL run unshifted.

Set `COMPLAINTS_RECORD_HISTORIES=1` to (re)write `tests/workflows/histories/*.json` from these scenarios; the replay
test (`tests/workflows/test_replay.py`) replays them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from helpers.cases import (
    CASEWORKER,
    DISPATCHER,
    HANDLING_UNIT,
    INTAKE,
    REVIEWER,
    SUPERVISOR,
    cst,
    fixed_key_data_converter,
    registration,
    registration_data,
)
from helpers.histories import record_history as record
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.outbox import report_deliveries
from activities.seed import seed_directory
from calendars import CalendarSnapshot, get_calendar
from cases.models import (
    AcceptDecision,
    Actor,
    AssignDecision,
    CaseSummary,
    CompleteInvestigationDecision,
    CompleteRectificationDecision,
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
    WithdrawDecision,
)
from devstack.timeshift import build_time_shift_lib, start_time_skipping_at
from workers.main import build_worker
from workflows import CalendarUpdate, ComplaintCase, ComplaintReview
from workflows.client import start_case

CAL = get_calendar("CN-SX")
CAL_TZ = timezone(timedelta(hours=8))
# the basis and reasons every new feedback states (seed 000: 说明依据及理由)
BASIS = "《医疗保障基金使用监督管理条例》第十五条"
REASONS = "医院超标准收费属实，应予退还"

@pytest.fixture(scope="session")
def time_shift_lib(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Compile the clock-shifting shim once per session (needs a C compiler)."""
    lib = build_time_shift_lib(tmp_path_factory.mktemp("timeshift"))
    if lib is None:
        pytest.fail("a C compiler (Debian gcc) is required for the dated time-skipping tests; `make test` installs it")
    return lib


@dataclass
class Ctx:
    env: WorkflowEnvironment
    task_queue: str
    pool: asyncpg.Pool

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def until(self, when: datetime) -> None:
        """Skip the test server's clock forward to `when`."""
        delta = when - await self.now()
        if delta > timedelta(0):
            await self.env.sleep(delta)

    async def start(self, case_no: str, **over: Any) -> WorkflowHandle[ComplaintCase, CaseSummary]:
        received = (await self.now()).astimezone(timezone(timedelta(hours=8)))
        reg = registration(case_no=case_no, received_at=received.isoformat(), **over)
        return await start_case(self.env.client, reg, task_queue=self.task_queue)


@asynccontextmanager
async def scenario(start: datetime, pool: asyncpg.Pool, lib: str) -> AsyncIterator[Ctx]:
    """A test server whose clock starts at `start`, with a worker running the real workflows and activities."""
    env = await start_time_skipping_at(start, lib, fixed_key_data_converter())
    try:
        tq = f"complaints-test-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, pool, task_queue=tq):
            yield Ctx(env, tq, pool)
    finally:
        await env.shutdown()


async def summary(h: WorkflowHandle[ComplaintCase, CaseSummary]) -> CaseSummary:
    return await h.query(ComplaintCase.summary)


async def settle(
    h: WorkflowHandle[ComplaintCase, CaseSummary], pred: Callable[[CaseSummary], bool], tries: int = 100
) -> CaseSummary:
    """Poll `summary` until `pred` holds (timer-driven work finishes just after `env.sleep` returns)."""
    import asyncio

    s = await summary(h)
    for _ in range(tries):
        if pred(s):
            return s
        await asyncio.sleep(0.05)
        s = await summary(h)
    raise AssertionError(f"condition not reached; stage={s.stage} events={[e.kind for e in s.events]}")


def kinds(s: CaseSummary) -> list[str]:
    return [e.kind for e in s.events]


def level_events(s: CaseSummary, clock: str) -> list[tuple[str, datetime]]:
    out = []
    for e in s.events:
        if e.details.get("clock") == clock and e.kind in ("sla_level_changed", "sla_escalated"):
            # timers fire a few milliseconds after the threshold: compare to the minute
            at = e.at.astimezone(CAL_TZ).replace(second=0, microsecond=0)
            out.append((e.details.get("level", "escalated"), at))
    return out


async def refused(call: Awaitable[Any], text: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await call
    assert text in str(err.value.cause), str(err.value.cause)


# ------------------------------------------------------------------------------------------- scenarios


async def test_happy_path_to_archive(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 9, 26, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025092600101")
        s = await h.execute_update(
            ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)
        )
        assert s.stage == "investigation" and s.handling_unit == HANDLING_UNIT
        inv = [c for c in s.clocks if c.clock == "investigation"][0]
        assert inv.due_at == cst(2025, 10, 23, 17)  # 15 WD across Golden Week (9/28 and 10/11 worked)
        await ctx.until(cst(2025, 10, 13, 10))
        s = await h.execute_update(
            ComplaintCase.complete_investigation,
            CompleteInvestigationDecision(
                actor=CASEWORKER,
                findings="医院违规收费属实",
                legal_basis="《医疗保障基金使用监督管理条例》",
                institution_at_fault=True,
                rectification_required=True,
            ),
        )
        assert s.stage == "feedback"
        s = await h.execute_update(
            ComplaintCase.send_feedback, SendFeedbackDecision(
                actor=CASEWORKER, message="已责令整改并退费", basis=BASIS, reasons=REASONS
            ),
        )
        # no outbox runs here: the SMS counts as received the day it was sent (provisional); 10/13 + 30 = Wed
        # 11/12, until 24:00
        assert s.review_window_ends_at == cst(2025, 11, 13, 0) and s.review_window_provisional
        s = await h.execute_update(
            ComplaintCase.record_return_visit, RecordReturnVisitDecision(actor=INTAKE, outcome="satisfied")
        )
        assert s.stage == "review_window" and s.satisfaction == "satisfied"
        s = await h.execute_update(
            ComplaintCase.complete_rectification,
            CompleteRectificationDecision(actor=CASEWORKER, result="医院已退费并整改收费流程"),
        )
        await ctx.until(cst(2025, 11, 13, 9))
        final = await h.result()
        assert final.stage == "archived" and final.close_reason == "review_window_lapsed"
        assert final.closed_at is not None
        assert final.closed_at.astimezone(CAL_TZ).replace(second=0, microsecond=0) == cst(2025, 11, 13, 0)
        assert all(c.level == "on_track" and not c.breached for c in final.clocks)
        # the read model got every event once, the complainant was told through SMS
        rows = await ctx.pool.fetch(
            "SELECT seq, kind FROM case_events WHERE case_no=$1 ORDER BY seq", final.case_no
        )
        assert [r["kind"] for r in rows] == kinds(final)
        case = await ctx.pool.fetchrow(
            "SELECT stage, close_reason, complainant_phone FROM cases WHERE case_no=$1", final.case_no
        )
        assert case["stage"] == "archived" and case["complainant_phone"] == "138****5678"
        notes = await ctx.pool.fetch(
            "SELECT audience, channel, template FROM notifications WHERE case_no=$1", final.case_no
        )
        assert ("complainant", "sms", "case_feedback") in [tuple(r) for r in notes]
        assert ("handling_unit", "internal", "case_assigned") in [tuple(r) for r in notes]
        await record(h, "happy_path_local_loads")


async def test_rejection_and_refused_decisions_leave_no_history(
    pg_pool: asyncpg.Pool, time_shift_lib: str
) -> None:
    async with scenario(cst(2025, 9, 29, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025092900102")
        await refused(
            h.execute_update(ComplaintCase.accept, AcceptDecision(actor=CASEWORKER)),
            "role caseworker may not accept; only dispatcher may",
        )
        await refused(
            h.execute_update(
                ComplaintCase.send_feedback, SendFeedbackDecision(actor=CASEWORKER, message="xx")
            ),
            "in stage acceptance",
        )
        s = await h.execute_update(
            ComplaintCase.reject,
            RejectDecision(
                actor=DISPATCHER,
                reason="属于劳动争议，不属医保部门职责",
                redirect_to="劳动人事争议仲裁委员会",
            ),
        )
        assert s.stage == "archived" and s.close_reason == "rejected"
        ev = [e for e in s.events if e.kind == "rejected"][0]
        assert ev.details["redirect_to"] == "劳动人事争议仲裁委员会" and ev.actor_id == DISPATCHER.id
        final = await h.result()
        assert final.close_reason == "rejected"
        # the refused decisions were rejected by the validators: only `reject` reached the history
        accepted = [
            e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            for e in (await h.fetch_history()).events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
        ]
        assert accepted == ["reject"]
        notes = await ctx.pool.fetch(
            "SELECT template, channel FROM notifications WHERE case_no=$1 ORDER BY key", final.case_no
        )
        # a hotline complainant is answered through the hotline: a call-back and an SMS
        assert [tuple(r) for r in notes] == [("case_rejected", "callback"), ("case_rejected", "sms")]
        await record(h, "rejected")


async def test_on_the_spot_answer_closes_at_once(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 9, 29, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start(
            "SX2025092900103",
            kind="consultation",
            on_the_spot_answer="异地就医备案可在国家医保服务平台APP办理",
        )
        final = await h.result()
        assert final.close_reason == "answered_on_spot" and kinds(final) == [
            "registered",
            "answered_on_spot",
            "archived",
        ]
        await record(h, "on_the_spot")


async def test_return_redispatch_and_overrule(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 9, 26, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025092600104")
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER))
        s = await h.execute_update(
            ComplaintCase.assign, AssignDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)
        )
        await ctx.until(cst(2025, 10, 10, 16))  # 5th WD after assignment, before 17:00
        s = await h.execute_update(
            ComplaintCase.return_case, ReturnCaseDecision(actor=CASEWORKER, reason="不属本区管辖")
        )
        assert s.stage == "dispatch" and s.returns == 1
        await refused(
            h.execute_update(ComplaintCase.assign, AssignDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)),
            "returned this case",
        )
        s = await h.execute_update(
            ComplaintCase.assign, AssignDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT, overrule=True)
        )
        await refused(
            h.execute_update(
                ComplaintCase.return_case, ReturnCaseDecision(actor=CASEWORKER, reason="仍不属本区")
            ),
            "assigned by overrule and cannot return",
        )
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE, reason="test done"))
        final = await h.result()
        assert final.close_reason == "withdrawn" and "returned" in kinds(final)
        await record(h, "return_overrule")


async def test_extension_approved_refused_and_too_late(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 9, 26, 9), pg_pool, time_shift_lib) as ctx:
        a = await ctx.start("SX2025092600105")
        b = await ctx.start("SX2025092600106")
        c = await ctx.start("SX2025092600107")
        for h in (a, b, c):
            await h.execute_update(
                ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)
            )
        await ctx.until(cst(2025, 10, 20, 10))
        for h in (a, b):
            await h.execute_update(
                ComplaintCase.request_extension,
                RequestExtensionDecision(actor=CASEWORKER, reason="需调取外院病历"),
            )
        s = await a.execute_update(
            ComplaintCase.decide_extension, DecideExtensionDecision(actor=SUPERVISOR, approve=True)
        )
        inv = [x for x in s.clocks if x.clock == "investigation"][0]
        assert (
            inv.extended
            and inv.due_at == cst(2025, 11, 13, 17)
            and inv.original_due_at == cst(2025, 10, 23, 17)
        )
        assert s.extension_status == "approved"
        s = await b.execute_update(
            ComplaintCase.decide_extension, DecideExtensionDecision(actor=SUPERVISOR, approve=False)
        )
        assert s.extension_status == "refused"
        assert [x for x in s.clocks if x.clock == "investigation"][0].due_at == cst(2025, 10, 23, 17)
        await ctx.until(cst(2025, 10, 23, 17, 30))
        await refused(
            c.execute_update(
                ComplaintCase.request_extension, RequestExtensionDecision(actor=CASEWORKER, reason="太晚")
            ),
            "deadline 2025-10-23T17:00:00+08:00 has passed",
        )
        notes = await ctx.pool.fetch(
            "SELECT channel FROM notifications WHERE case_no=$1 AND template='investigation_extended'",
            a.id[10:],
        )
        assert sorted(r["channel"] for r in notes) == ["callback", "sms"]
        sa = await summary(a)
        assert sa.sla_level == "on_track"  # extended: 10/23 is no longer the deadline
        sb = await settle(b, lambda s: s.sla_level == "red")
        assert level_events(sb, "investigation")[-1] == ("red", cst(2025, 10, 23, 17))
        for h in (a, b, c):
            await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(a, "extension_approved")


async def test_late_extension_approval_keeps_the_breach(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    """Asked at 16:59 on the last day (Thu 2025-10-23), the supervisor reminded at once, the clock red just after
    17:00 and 通报 5 WD later (Thu 10/30 17:00); approved on Fri 10/31: the deadline moves to Thu 11/13 17:00 and
    the clock leaves red, but the breach stays on it, in the read model and in the on-time count."""
    async with scenario(cst(2025, 9, 26, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025092600109")
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        await ctx.until(cst(2025, 10, 23, 16, 59))
        await h.execute_update(
            ComplaintCase.request_extension, RequestExtensionDecision(actor=CASEWORKER, reason="需调取外院病历")
        )
        await ctx.until(cst(2025, 10, 31, 9))
        s = await settle(h, lambda s: any(e.kind == "sla_escalated" for e in s.events))
        assert level_events(s, "investigation") == [
            ("blue", cst(2025, 10, 21, 0)),
            ("yellow", cst(2025, 10, 23, 0)),
            ("red", cst(2025, 10, 23, 17)),
            ("escalated", cst(2025, 10, 30, 17)),
        ]
        red_at = next(e.at for e in s.events if e.details.get("level") == "red")
        assert red_at > cst(2025, 10, 23, 17)  # after the due instant, not at it
        s = await h.execute_update(
            ComplaintCase.decide_extension, DecideExtensionDecision(actor=SUPERVISOR, approve=True)
        )
        inv = next(c for c in s.clocks if c.clock == "investigation")
        assert inv.due_at == cst(2025, 11, 13, 17) and inv.extended and inv.breached and inv.level == "on_track"
        s = await h.execute_update(
            ComplaintCase.complete_investigation, CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实")
        )
        inv = next(c for c in s.clocks if c.clock == "investigation")
        assert inv.stopped_at is not None and inv.stopped_at < inv.due_at and inv.breached
        rows = await ctx.pool.fetch(
            "SELECT breached, extended, due_at FROM sla_clocks WHERE case_no=$1 AND clock='investigation'", s.case_no
        )
        assert [tuple(r) for r in rows] == [(True, True, cst(2025, 11, 13, 17))]
        reminders = await ctx.pool.fetch(
            "SELECT recipient_ref, requested_at AS at FROM notifications"
            " WHERE case_no=$1 AND template='extension_pending_reminder'",
            s.case_no,
        )
        assert [(r["recipient_ref"], r["at"].astimezone(CAL_TZ).replace(second=0, microsecond=0)) for r in reminders] == [
            ("sup-SX-TY-XD", cst(2025, 10, 23, 16, 59))
        ]
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(h, "late_extension_approval")


async def test_sla_levels_golden_week_acceptance(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 9, 30, 10), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025093000108")
        s = await summary(h)
        acc = [c for c in s.clocks if c.clock == "acceptance"][0]
        assert acc.due_at == cst(2025, 10, 10, 17)  # WD1 = Thu 10/9, WD2 = Fri 10/10
        await ctx.until(cst(2025, 10, 9, 12))
        assert (await summary(h)).sla_level == "on_track"
        await ctx.until(cst(2025, 10, 10, 12))
        assert (await settle(h, lambda s: s.sla_level == "yellow")).sla_level == "yellow"
        await ctx.until(cst(2025, 10, 17, 9))
        s = await settle(h, lambda s: any(e.kind == "sla_escalated" for e in s.events))
        assert level_events(s, "acceptance") == [
            ("yellow", cst(2025, 10, 10, 0)),
            ("red", cst(2025, 10, 10, 17)),
            ("escalated", cst(2025, 10, 16, 17)),  # 5 WD: Sat 10/11 (worked), 10/13..10/16
        ]
        # late acceptance is still possible; the lateness stays recorded
        s = await h.execute_update(
            ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)
        )
        acc = [c for c in s.clocks if c.clock == "acceptance"][0]
        assert acc.breached and acc.level == "red" and acc.stopped_at is not None
        notes = await ctx.pool.fetch(
            "SELECT audience, recipient_ref, template FROM notifications WHERE case_no=$1 AND audience LIKE '%supervisor'",
            s.case_no,
        )
        assert sorted(tuple(r) for r in notes) == [
            ("higher_supervisor", "sup-NHSA", "sla_overdue_escalated"),
            ("supervisor", "sup-SX", "sla_overdue_supervise"),
        ]
        rows = await ctx.pool.fetch(
            "SELECT at, details->>'level' AS level FROM case_events WHERE case_no=$1 AND kind='sla_level_changed' ORDER BY seq",
            s.case_no,
        )
        assert [(r["level"], r["at"].astimezone(CAL_TZ).replace(second=0, microsecond=0)) for r in rows] == [
            ("yellow", cst(2025, 10, 10, 0)),
            ("red", cst(2025, 10, 10, 17)),
        ]
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(h, "sla_golden_week")


async def test_bureau_calendar_rows_set_the_acceptance_deadline(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    """The bureau's own days and service close, recorded in PostgreSQL, count like the published calendar: a
    case received before Golden Week 2025 at a bureau that staffs Wed 10/8 (holiday duty) and closes at 17:30
    is due Thu 10/9 at 17:30 (published: Fri 10/10 at 17:00), and turns red at 17:30, not at 17:00."""
    from activities import bureau_calendar as bc

    try:
        await bc.record_day(pg_pool, "CN-SX", datetime(2025, 10, 8).date(), working=True, note="节日值班受理",
                            recorded_by="adm-sx")
        await bc.set_close_time(pg_pool, "CN-SX", datetime(2025, 1, 1, 17, 30).time(), note="夏季作息",
                                recorded_by="adm-sx")
        async with scenario(cst(2025, 9, 30, 10), pg_pool, time_shift_lib) as ctx:
            h = await ctx.start("SX2025093000119")
            acc = [c for c in (await summary(h)).clocks if c.clock == "acceptance"][0]
            assert acc.due_at == cst(2025, 10, 9, 17, 30)  # WD1 = Wed 10/8 (bureau open), WD2 = Thu 10/9
            await ctx.until(cst(2025, 10, 9, 17, 20))
            s = await settle(h, lambda s: s.sla_level == "yellow")
            assert level_events(s, "acceptance") == [("yellow", cst(2025, 10, 9, 0))]
            await ctx.until(cst(2025, 10, 9, 17, 40))
            s = await settle(h, lambda s: s.sla_level == "red")
            assert level_events(s, "acceptance") == [("yellow", cst(2025, 10, 9, 0)), ("red", cst(2025, 10, 9, 17, 30))]
            await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
    finally:
        await bc.clear_day(pg_pool, "CN-SX", datetime(2025, 10, 8).date())
        await bc.set_close_time(pg_pool, "CN-SX", None)


async def test_sla_levels_spring_festival_investigation(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2026, 2, 10, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2026021000109")
        s = await h.execute_update(
            ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)
        )
        assert [c for c in s.clocks if c.clock == "investigation"][0].due_at == cst(2026, 3, 9, 17)
        await ctx.until(cst(2026, 3, 4, 12))
        assert (await summary(h)).sla_level == "on_track"
        await ctx.until(cst(2026, 3, 5, 12))
        await settle(h, lambda s: s.sla_level == "blue")
        await ctx.until(cst(2026, 3, 17, 9))
        s = await settle(h, lambda s: any(e.kind == "sla_escalated" for e in s.events))
        assert level_events(s, "investigation") == [
            ("blue", cst(2026, 3, 5, 0)),
            ("yellow", cst(2026, 3, 9, 0)),
            ("red", cst(2026, 3, 9, 17)),
            ("escalated", cst(2026, 3, 16, 17)),
        ]
        notes = await ctx.pool.fetch(
            "SELECT audience, recipient_ref FROM notifications WHERE case_no=$1 AND audience LIKE '%supervisor'",
            s.case_no,
        )
        assert sorted(tuple(r) for r in notes) == [
            ("higher_supervisor", "sup-SX-TY"),
            ("supervisor", "sup-SX-TY-XD"),
        ]
        # a late case keeps going
        s = await h.execute_update(
            ComplaintCase.complete_investigation,
            CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实"),
        )
        assert s.stage == "feedback" and [c for c in s.clocks if c.clock == "investigation"][0].breached
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(h, "sla_spring_festival")


async def test_feedback_return_visit_and_return_window_around_spring_festival(
    pg_pool: asyncpg.Pool, time_shift_lib: str
) -> None:
    """The 5-WD feedback, 3-WD return-visit and 5-WD return-window rules, moved through 2026's Spring Festival
    (2/15-2/23 off; Sat 2/14 and Sat 2/28 are working days), each checked to the day."""
    async with scenario(cst(2026, 2, 9, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2026020900201")
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        await ctx.until(cst(2026, 2, 10, 10))
        s = await h.execute_update(
            ComplaintCase.complete_investigation, CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实")
        )
        feedback = [c for c in s.clocks if c.clock == "feedback"][0]
        # WD1-4 = 2/11, 2/12, 2/13, Sat 2/14 (makeup); the festival; WD5 = Tue 2/24
        assert feedback.due_at == cst(2026, 2, 24, 17)

        await ctx.until(cst(2026, 2, 12, 10))
        keeps, returns = await ctx.start("SX2026021200202"), await ctx.start("SX2026021200203")
        for case in (keeps, returns):
            await case.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        # a misrouted case may go back within 5 WD of assignment: 2/13, 2/14, 2/24, 2/25, 2/26
        await ctx.until(cst(2026, 2, 26, 16))
        s = await returns.execute_update(ComplaintCase.return_case, ReturnCaseDecision(actor=CASEWORKER, reason="非本辖区"))
        assert s.stage == "dispatch"
        await ctx.until(cst(2026, 2, 27, 9))
        await refused(
            keeps.execute_update(ComplaintCase.return_case, ReturnCaseDecision(actor=CASEWORKER, reason="非本辖区")),
            "return window of 5 working days after assignment ended at 2026-02-26",
        )

        # feedback not sent: yellow on its last day, red at 17:00, the higher bureau told 5 WD later (Mon 3/2)
        await ctx.until(cst(2026, 3, 3, 9))
        s = await settle(h, lambda s: any(e.kind == "sla_escalated" for e in s.events))
        assert level_events(s, "feedback") == [
            ("yellow", cst(2026, 2, 24, 0)),
            ("red", cst(2026, 2, 24, 17)),
            ("escalated", cst(2026, 3, 2, 17)),
        ]
        s = await h.execute_update(ComplaintCase.send_feedback, SendFeedbackDecision(actor=CASEWORKER, message="结果", basis=BASIS, reasons=REASONS))
        visit = [c for c in s.clocks if c.clock == "return_visit"][0]
        assert visit.due_at == cst(2026, 3, 6, 17)  # 3 WD: 3/4, 3/5, Fri 3/6
        await ctx.until(cst(2026, 3, 9, 9))
        s = await settle(h, lambda s: any(c.clock == "return_visit" and c.level == "red" for c in s.clocks))
        assert level_events(s, "return_visit") == [("yellow", cst(2026, 3, 6, 0)), ("red", cst(2026, 3, 6, 17))]
        for case in (h, keeps, returns):
            await case.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))


async def test_unsatisfied_return_visit_rehandling(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 11, 3, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025110300110")
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        await h.execute_update(
            ComplaintCase.complete_investigation,
            CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实"),
        )
        await h.execute_update(
            ComplaintCase.send_feedback, SendFeedbackDecision(actor=CASEWORKER, message="结果", basis=BASIS, reasons=REASONS)
        )
        await ctx.until(cst(2025, 11, 5, 10))
        s = await h.execute_update(
            ComplaintCase.record_return_visit,
            RecordReturnVisitDecision(actor=INTAKE, outcome="unsatisfied", request_rehandling=True),
        )
        inv = [c for c in s.clocks if c.clock == "investigation"]
        assert s.stage == "investigation" and s.rehandlings == 1 and [c.cycle for c in inv] == [1, 2]
        assert inv[1].due_at == cst(2025, 11, 26, 17) and inv[1].unit == HANDLING_UNIT  # 15 WD from 11/5
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(h, "rehandling")


async def test_review_day_30_and_31_upheld_and_overturned(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 11, 3, 9), pg_pool, time_shift_lib) as ctx:
        cases = [await ctx.start(f"SX2025110300{n}") for n in (111, 112, 113)]
        for h in cases:
            await h.execute_update(
                ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)
            )
            await h.execute_update(
                ComplaintCase.complete_investigation,
                CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实"),
            )
            s = await h.execute_update(
                ComplaintCase.send_feedback, SendFeedbackDecision(actor=CASEWORKER, message="结果", basis=BASIS, reasons=REASONS)
            )
            assert s.review_window_ends_at == cst(2025, 12, 4, 0)  # 11/3 + 30 = Wed 12/3, until 24:00
            await h.execute_update(
                ComplaintCase.record_return_visit,
                RecordReturnVisitDecision(actor=INTAKE, outcome="unsatisfied"),
            )
        up, over, late = cases
        await ctx.until(cst(2025, 12, 3, 10))  # day 30
        for h in (up, over):
            s = await h.execute_update(
                ComplaintCase.request_review, RequestReviewDecision(actor=INTAKE, reason="不服")
            )
            assert s.stage == "under_review"
        s = await settle(up, lambda s: any(c.clock == "review" for c in s.clocks))
        review = [c for c in s.clocks if c.clock == "review"][0]
        assert review.unit == "SX-TY" and review.due_at == cst(2025, 12, 24, 17)  # 15 WD from 12/3
        await ctx.until(cst(2025, 12, 4, 9))  # day 31
        # the window closed at 24:00 on day 30 and the case archived itself: a day-31 request finds it closed
        # (the refusal message for a still-open case is covered in test_case_rules)
        lapsed = await late.result()
        assert lapsed.close_reason == "review_window_lapsed"
        assert lapsed.closed_at is not None
        assert lapsed.closed_at.astimezone(CAL_TZ).replace(second=0, microsecond=0) == cst(2025, 12, 4, 0)
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await late.execute_update(
                ComplaintCase.request_review, RequestReviewDecision(actor=INTAKE, reason="不服")
            )
        await refused(
            up.execute_update(
                ComplaintCase.decide_review,
                DecideReviewDecision(actor=SUPERVISOR, outcome="uphold", reasons="x1"),
            ),
            "role supervisor may not decide_review",
        )
        # the review clock runs at the higher bureau: blue three WD before 12/24
        await ctx.until(cst(2025, 12, 22, 9))
        s = await settle(up, lambda s: s.sla_level == "blue")
        assert level_events(s, "review") == [("blue", cst(2025, 12, 22, 0))]
        s = await up.execute_update(
            ComplaintCase.decide_review,
            DecideReviewDecision(actor=REVIEWER, outcome="uphold", reasons="原处理正确"),
        )
        assert s.stage == "archived" and s.close_reason == "review_upheld" and s.review_outcome == "uphold"
        s = await over.execute_update(
            ComplaintCase.decide_review,
            DecideReviewDecision(actor=REVIEWER, outcome="overturn", reasons="事实不清"),
        )
        inv = [c for c in s.clocks if c.clock == "investigation"]
        assert s.stage == "investigation" and s.handling_unit == HANDLING_UNIT and len(inv) == 2
        assert inv[1].due_at == CAL.deadline_at(cst(2025, 12, 22, 9), 15)
        child = ctx.env.client.get_workflow_handle_for(ComplaintReview.run, f"complaint-{s.case_no}-review-1")
        assert (await child.result()).outcome == "overturn"
        await record(child, "review_child_overturned")
        await over.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        assert (await up.result()).close_reason == "review_upheld"
        await record(up, "review_upheld")
        await record(over, "review_overturned")


async def test_withdrawal_during_review_cancels_the_child(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 11, 3, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025110300114")
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        await h.execute_update(
            ComplaintCase.complete_investigation,
            CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实"),
        )
        await h.execute_update(
            ComplaintCase.send_feedback, SendFeedbackDecision(actor=CASEWORKER, message="结果", basis=BASIS, reasons=REASONS)
        )
        await h.execute_update(
            ComplaintCase.request_review, RequestReviewDecision(actor=INTAKE, reason="不服")
        )
        s = await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE, reason="已和解"))
        assert s.close_reason == "withdrawn" and all(
            c.stopped_at is not None for c in s.clocks if not c.external
        )
        final = await h.result()
        assert final.close_reason == "withdrawn"
        await record(h, "withdrawn_in_review")


async def test_duplicate_merged(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 11, 3, 9), pg_pool, time_shift_lib) as ctx:
        first = await ctx.start("SX2025110300115")
        dup = await ctx.start("SX2025110300116")
        await first.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER))
        s = await dup.execute_update(
            ComplaintCase.merge_into, MergeIntoDecision(actor=DISPATCHER, target_case_no="SX2025110300115")
        )
        assert s.close_reason == "merged" and s.merged_into == "SX2025110300115"
        assert (await dup.result()).stage == "archived"
        # the target's timeline names the duplicate (并单: one matter, handled once, answered once)
        target = await first.query(ComplaintCase.summary)
        merged = [e for e in target.events if e.kind == "duplicate_merged"]
        assert [e.details["duplicate_case_no"] for e in merged] == ["SX2025110300116"]
        await first.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        # histories recorded before the target was told (merged.json) replay on the old path
        await record(dup, "merged_into_open_target")

        # a closed target or one that does not exist is refused, and the duplicate stays open
        other = await ctx.start("SX2025110300118")
        for target_no in ("SX2025110300115", "SX2025110300999"):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await other.execute_update(
                    ComplaintCase.merge_into, MergeIntoDecision(actor=DISPATCHER, target_case_no=target_no)
                )
            assert f"target case {target_no} is not an open case" in str(refused.value.cause)
        assert (await other.query(ComplaintCase.summary)).stage == "acceptance"


async def test_fraud_report_reporter_is_confidential(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 11, 3, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025110300117", kind="fraud_report", category="fund_fraud")
        s = await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id="SX-TY"))
        assert "reporter_notified" in kinds(s) and s.confidential_reporter and s.complainant is None
        blob = s.model_dump_json()
        for secret in (
            "张三丰",
            "张*",
            "13812345678",
            "138****",
            registration_data()["complainant"]["id_number"][:10],
        ):
            assert secret not in blob
        row = await ctx.pool.fetchrow(
            "SELECT complainant_name, complainant_phone, confidential_reporter FROM cases WHERE case_no=$1",
            s.case_no,
        )
        assert row["confidential_reporter"] and not row["complainant_name"] and not row["complainant_phone"]
        assert await ctx.pool.fetchval("SELECT count(*) FROM case_pii WHERE case_no=$1", s.case_no) == 0
        notes = await ctx.pool.fetch(
            "SELECT audience, template FROM notifications WHERE case_no=$1", s.case_no
        )
        assert ("complainant", "fraud_investigation_opened") in [tuple(r) for r in notes]
        events = await ctx.pool.fetch(
            "SELECT details::text AS d FROM case_events WHERE case_no=$1", s.case_no
        )
        assert not any("138" in r["d"] or "张" in r["d"] for r in events)
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(h, "fraud_report")


async def test_calendar_update_mid_case(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    async with scenario(cst(2025, 9, 26, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025092600118")
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        await ctx.until(cst(2025, 10, 9, 10))
        # the bureau announces a closure on Mon 10/20: the investigation deadline moves from 10/23 to 10/24
        cal = get_calendar("CN-SX").with_closures([datetime(2025, 10, 20).date()], name="系统升级闭馆")
        snap = CalendarSnapshot.from_calendar(cal, datetime(2025, 9, 19).date(), datetime(2027, 9, 30).date())
        await h.signal(ComplaintCase.calendar_updated, CalendarUpdate(version=snap.version, snapshot=snap))
        s = await settle(h, lambda s: s.calendar_version == snap.version)
        inv = [c for c in s.clocks if c.clock == "investigation"][0]
        assert inv.due_at == cst(2025, 10, 24, 17)
        # the acceptance clock (stopped) keeps its original deadline
        assert [c for c in s.clocks if c.clock == "acceptance"][0].due_at == cst(
            2025, 9, 29, 17
        )  # Sun 9/28 worked
        assert "deadlines_recomputed" in kinds(s)
        await ctx.until(cst(2025, 10, 23, 12))
        s = await settle(
            h, lambda s: s.sla_level == "blue"
        )  # 10/23 is now 2 WD before the end, not the last day
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(h, "calendar_update")


async def test_starting_the_same_case_twice_returns_the_existing_case(
    pg_pool: asyncpg.Pool, time_shift_lib: str
) -> None:
    # its own server: the shared one's clock is wherever other tests' result waits skipped it to, possibly past
    # the published calendars
    async with scenario(cst(2026, 3, 2, 10), pg_pool, time_shift_lib) as ctx:
        client, tq = ctx.env.client, ctx.task_queue
        reg = registration(case_no="SX2026030200119", received_at=(await ctx.now()).astimezone(CAL_TZ).isoformat())
        h1 = await start_case(client, reg, task_queue=tq)
        h2 = await start_case(client, reg, task_queue=tq)
        assert h1.id == h2.id == f"complaint-{reg.case_no}"
        assert h2.result_run_id == h1.result_run_id or h2.run_id in (None, h1.run_id)
        s = await h2.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        assert s.close_reason == "withdrawn"
        await h1.result()
        h3 = await start_case(client, reg, task_queue=tq)  # closed: still the same case, not a new one
        assert (await h3.query(ComplaintCase.summary)).close_reason == "withdrawn"
        assert await pg_pool.fetchval("SELECT count(*) FROM cases WHERE case_no=$1", reg.case_no) == 1


async def _warnings(pool: asyncpg.Pool, case_no: str) -> list[tuple[str, str, str, datetime]]:
    """The SLA notices of a case in the outbox: (audience, recipient, template, queued at, to the minute)."""
    rows = await pool.fetch(
        "SELECT audience, recipient_ref, template, requested_at FROM notifications"
        " WHERE case_no=$1 AND template LIKE 'sla\\_%' ORDER BY requested_at, id",
        case_no,
    )
    return [
        (r["audience"], r["recipient_ref"], r["template"],
         r["requested_at"].astimezone(CAL_TZ).replace(second=0, microsecond=0))
        for r in rows
    ]


async def test_unit_warned_at_blue_and_yellow_across_golden_week(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    """Accepted Thu 2025-09-11, the investigation is due Thu 10/9 17:00 (15 WD, Sun 9/28 worked, Golden Week
    10/1-10/8 not): the handling unit is told once at blue (Mon 9/29 00:00, 3 WD left), nothing during the
    holiday, once at yellow (Thu 10/9 00:00); its supervisor 督办 just after the due instant."""
    async with scenario(cst(2025, 9, 11, 10), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025091100101")
        s = await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        assert [c for c in s.clocks if c.clock == "investigation"][0].due_at == cst(2025, 10, 9, 17)
        await ctx.until(cst(2025, 9, 28, 23, 59))
        await settle(h, lambda s: s.sla_level == "on_track")
        assert await _warnings(ctx.pool, s.case_no) == []
        await ctx.until(cst(2025, 9, 29, 0, 1))
        await settle(h, lambda s: s.sla_level == "blue")
        blue = ("handling_unit", HANDLING_UNIT, "sla_due_soon", cst(2025, 9, 29, 0, 0))
        assert await _warnings(ctx.pool, s.case_no) == [blue]
        await ctx.until(cst(2025, 10, 8, 23, 59))
        assert (await summary(h)).sla_level == "blue"
        assert await _warnings(ctx.pool, s.case_no) == [blue]
        await ctx.until(cst(2025, 10, 9, 0, 1))
        await settle(h, lambda s: s.sla_level == "yellow")
        yellow = ("handling_unit", HANDLING_UNIT, "sla_due_today", cst(2025, 10, 9, 0, 0))
        assert await _warnings(ctx.pool, s.case_no) == [blue, yellow]
        await ctx.until(cst(2025, 10, 9, 17, 1))
        s = await settle(h, lambda s: s.sla_level == "red")
        assert await _warnings(ctx.pool, s.case_no) == [
            blue, yellow, ("supervisor", "sup-SX-TY-XD", "sla_overdue_supervise", cst(2025, 10, 9, 17, 0))
        ]
        assert level_events(s, "investigation") == [
            ("blue", cst(2025, 9, 29, 0)), ("yellow", cst(2025, 10, 9, 0)), ("red", cst(2025, 10, 9, 17))
        ]
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(h, "level_warnings_golden_week")


async def test_merged_complainant_answered_through_own_channel(pg_pool: asyncpg.Pool, time_shift_lib: str) -> None:
    """A WeChat duplicate, into which a letter had been merged, is merged into a hotline case: every notice after
    the merge reaches all three complainants, the hotline's by call-back and SMS, the WeChat one by WeChat at
    their own phone, the letter writer by letter; a merged complainant asks for review through the target."""
    async with scenario(cst(2025, 9, 11, 10), pg_pool, time_shift_lib) as ctx:
        target = await ctx.start("SX2025091100102")
        other = registration_data()["complainant"] | {"name": "李四", "phone": "13987654321"}
        dup = await ctx.start("SX2025091100103", channel="wechat", complainant=other)
        third = registration_data()["complainant"] | {"name": "王五", "phone": "13700001111", "address": "太原市迎泽区1号"}
        letter = await ctx.start("SX2025091100105", channel="mail", complainant=third)
        await letter.execute_update(
            ComplaintCase.merge_into, MergeIntoDecision(actor=DISPATCHER, target_case_no="SX2025091100103")
        )
        await settle(dup, lambda s: "duplicate_merged" in kinds(s))
        await target.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        await dup.execute_update(
            ComplaintCase.merge_into, MergeIntoDecision(actor=DISPATCHER, target_case_no="SX2025091100102")
        )
        await settle(target, lambda s: "duplicate_merged" in kinds(s))
        await target.execute_update(
            ComplaintCase.complete_investigation,
            CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实", legal_basis="条例第十五条"),
        )
        s = await target.execute_update(
            ComplaintCase.send_feedback, SendFeedbackDecision(actor=CASEWORKER, message="处理结果", basis=BASIS, reasons=REASONS)
        )
        rows = await ctx.pool.fetch(
            "SELECT recipient_ref, channel, recipient_masked, status, params FROM notifications"
            " WHERE case_no=$1 AND template='case_feedback' ORDER BY key",
            s.case_no,
        )
        assert [(r["recipient_ref"], r["channel"], r["recipient_masked"], r["status"] != "undeliverable")
                for r in rows] == [
            ("complainant", "callback", "138****5678", True),
            ("complainant", "sms", "138****5678", True),
            ("complainant:SX2025091100103", "wechat", "*******4321", True),  # their own phone
            ("complainant:SX2025091100105", "letter", "太原市迎泽区****", True),
        ]
        ends = s.review_window_ends_at.astimezone(CAL_TZ).isoformat() if s.review_window_ends_at else None
        params = [r["params"] if isinstance(r["params"], dict) else json.loads(r["params"]) for r in rows]
        assert [p["review_window_ends_at"] for p in params] == [ends] * 4
        assert [p.get("own_case_no") for p in params] == [None, None, "SX2025091100103", "SX2025091100105"]
        sealed = await ctx.pool.fetch(
            "SELECT recipient_contact FROM notifications WHERE case_no=$1 AND recipient_ref LIKE 'complainant%'",
            s.case_no,
        )
        assert sealed and all(
            b"13987654321" not in bytes(r["recipient_contact"]) and "迎泽区".encode() not in bytes(r["recipient_contact"])
            for r in sealed
        )
        await refused(
            target.execute_update(
                ComplaintCase.request_review,
                RequestReviewDecision(actor=INTAKE, reason="不服", on_behalf_of="SX2025091100104"),
            ),
            "on_behalf_of: SX2025091100104 is not a duplicate merged into this case",
        )
        s = await target.execute_update(
            ComplaintCase.request_review,
            RequestReviewDecision(actor=INTAKE, reason="不服处理结果", on_behalf_of="SX2025091100103"),
        )
        assert s.stage == "under_review" and s.merged_cases == ["SX2025091100103", "SX2025091100105"]
        received = await ctx.pool.fetch(
            "SELECT recipient_ref, channel FROM notifications WHERE case_no=$1 AND template='review_received'"
            " ORDER BY key",
            s.case_no,
        )
        assert [tuple(r) for r in received] == [
            ("complainant", "callback"), ("complainant", "sms"), ("complainant:SX2025091100103", "wechat"),
            ("complainant:SX2025091100105", "letter"),
        ]
        await target.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(target, "merged_complainant_answered")


def to_minute(at: datetime | None) -> datetime | None:
    return at.astimezone(CAL_TZ).replace(second=0, microsecond=0) if at is not None else None


async def feedback_sent(ctx: Ctx, case_no: str, **over: Any) -> WorkflowHandle[ComplaintCase, CaseSummary]:
    """A case accepted, investigated and answered at once (feedback sent now)."""
    h = await ctx.start(case_no, **over)
    await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
    await h.execute_update(
        ComplaintCase.complete_investigation, CompleteInvestigationDecision(actor=CASEWORKER, findings="已核实")
    )
    await h.execute_update(ComplaintCase.send_feedback, SendFeedbackDecision(actor=CASEWORKER, message="结果", basis=BASIS, reasons=REASONS))
    return h


async def test_review_window_counts_from_the_delivery_the_outbox_reports(
    pg_pool: asyncpg.Pool, time_shift_lib: str
) -> None:
    """An SMS sent Mon 11/3 and delivered Tue 11/4 08:15 (the gateway was down overnight): the 30 days count
    from Wed 11/5, the last is Thu 12/4, and the window ends at 24:00 that day, not at the service close."""
    async with scenario(cst(2025, 11, 3, 16, 30), pg_pool, time_shift_lib) as ctx:
        h = await feedback_sent(ctx, "SX2025110300131")
        s = await summary(h)
        assert s.review_window_ends_at == cst(2025, 12, 4, 0) and s.review_window_provisional and s.any_provisional
        # the outbox delivered the notice and reports it to the case (`sent_at` is the delivery instant)
        await ctx.until(cst(2025, 11, 4, 8, 20))
        row = await ctx.pool.fetchval(
            "UPDATE notifications SET status = 'sent', sent_at = $2 WHERE case_no = $1 AND template = 'case_feedback'"
            " AND audience = 'complainant' RETURNING key",
            s.case_no,
            cst(2025, 11, 4, 8, 15),
        )
        assert row is not None
        assert await report_deliveries(ctx.pool, ctx.env.client) >= 1
        s = await settle(h, lambda s: s.feedback_received_on is not None)
        assert s.feedback_received_on == date(2025, 11, 4)
        assert s.review_window_ends_at == cst(2025, 12, 5, 0)
        assert not s.review_window_provisional and not s.any_provisional
        delivered = [e for e in s.events if e.kind == "feedback_delivered"]
        assert [e.details["delivered_at"] for e in delivered] == ["2025-11-04T08:15:00+08:00"]
        assert await ctx.pool.fetchval(
            "SELECT delivery_reported_at IS NOT NULL FROM notifications WHERE key = $1", row
        )
        # reported again (a second sender, a retry): nothing changes
        await ctx.pool.execute("UPDATE notifications SET delivery_reported_at = NULL WHERE key = $1", row)
        await report_deliveries(ctx.pool, ctx.env.client)
        await h.execute_update(
            ComplaintCase.record_return_visit, RecordReturnVisitDecision(actor=INTAKE, outcome="satisfied")
        )
        assert kinds(await summary(h)).count("feedback_delivered") == 1
        # the last minute of day 30 is inside the window; the case closes at 24:00
        await ctx.until(cst(2025, 12, 4, 23, 59))
        assert "request_review" in await h.query(ComplaintCase.allowed_decisions, INTAKE)
        await ctx.until(cst(2025, 12, 5, 0, 1))
        final = await h.result()
        assert final.close_reason == "review_window_lapsed" and to_minute(final.closed_at) == cst(2025, 12, 5, 0)
        await record(h, "review_window_from_delivery")


async def test_a_letter_window_is_provisional_until_its_receipt_is_recorded(
    pg_pool: asyncpg.Pool, time_shift_lib: str
) -> None:
    """A letter sent Mon 11/3 counts as received after the 7-day postal allowance (Mon 11/10, window to 24:00
    Wed 12/10, provisional); its receipt says Thu 11/6: the 30th day is Sat 12/6, so the window runs to 24:00
    on Mon 12/8, the next working day."""
    async with scenario(cst(2025, 11, 3, 10), pg_pool, time_shift_lib) as ctx:
        h = await feedback_sent(ctx, "SX2025110300132", channel="mail")
        s = await summary(h)
        assert s.review_window_ends_at == cst(2025, 12, 11, 0) and s.review_window_provisional
        await ctx.until(cst(2025, 11, 7, 9))
        await refused(
            h.execute_update(
                ComplaintCase.record_receipt, RecordReceiptDecision(actor=CASEWORKER, received_on=date(2025, 11, 8))
            ),
            "received_on 2025-11-08 is in the future",
        )
        s = await h.execute_update(
            ComplaintCase.record_receipt,
            RecordReceiptDecision(actor=CASEWORKER, received_on=date(2025, 11, 6), note="挂号信回执"),
        )
        assert s.review_window_ends_at == cst(2025, 12, 9, 0) and not s.review_window_provisional
        assert s.feedback_received_on == date(2025, 11, 6) and not s.any_provisional
        await refused(
            h.execute_update(
                ComplaintCase.record_receipt, RecordReceiptDecision(actor=CASEWORKER, received_on=date(2025, 11, 6))
            ),
            "the receipt was already recorded (2025-11-06)",
        )
        await h.execute_update(
            ComplaintCase.record_return_visit, RecordReturnVisitDecision(actor=INTAKE, outcome="satisfied")
        )
        await ctx.until(cst(2025, 12, 8, 23, 59))
        assert "request_review" in await h.query(ComplaintCase.allowed_decisions, INTAKE)
        await ctx.until(cst(2025, 12, 9, 0, 1))
        final = await h.result()
        assert final.close_reason == "review_window_lapsed" and to_minute(final.closed_at) == cst(2025, 12, 9, 0)
        await record(h, "review_window_letter_receipt")


async def test_a_calendar_reload_that_moves_nothing_stays_off_the_timeline(
    pg_pool: asyncpg.Pool, time_shift_lib: str
) -> None:
    async with scenario(cst(2025, 9, 26, 9), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("SX2025092600133")
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        before = await summary(h)
        # a closure after every deadline of the case: the calendar changed, no deadline did
        cal = get_calendar("CN-SX").with_closures([date(2026, 3, 3)], name="系统升级闭馆")
        snap = CalendarSnapshot.from_calendar(cal, date(2025, 9, 19), date(2027, 9, 30))
        await h.signal(ComplaintCase.calendar_updated, CalendarUpdate(version=snap.version, snapshot=snap))
        s = await settle(h, lambda s: s.calendar_version == snap.version)
        assert kinds(s) == kinds(before) and s.clocks == before.clocks
        versions = await ctx.pool.fetchval("SELECT count(*) FROM case_events WHERE case_no = $1", s.case_no)
        assert versions == len(before.events)
        # a closure on the investigation's last day moves it, and that is on the timeline
        cal = cal.with_closures([date(2025, 10, 23)], name="系统升级闭馆")
        snap = CalendarSnapshot.from_calendar(cal, date(2025, 9, 19), date(2027, 9, 30))
        await h.signal(ComplaintCase.calendar_updated, CalendarUpdate(version=snap.version, snapshot=snap))
        s = await settle(h, lambda s: s.calendar_version == snap.version)
        recomputed = [e for e in s.events if e.kind == "deadlines_recomputed"]
        assert [c["to"] for e in recomputed for c in e.details["changes"]] == ["2025-10-24T17:00:00+08:00"]
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await record(h, "calendar_reload_unmoved")


XJ_DISPATCHER = Actor(id="disp-xj", role=Role.dispatcher, unit_id="XJ")
XJ_INTAKE = Actor(id="agent-xj", role=Role.intake_agent, unit_id="XJ")


async def seed_xinjiang(pool: asyncpg.Pool, folder: Path) -> None:
    """A Xinjiang directory beside the Shanxi one: the region's bureau, Urumqi and one of its districts."""
    units = [
        ("NHSA", "国家医疗保障局", "national", None, "CN"),
        ("XJ", "新疆维吾尔自治区医疗保障局", "province", "NHSA", "CN-XJ"),
        ("XJ-WLMQ", "乌鲁木齐市医疗保障局", "city", "XJ", "CN-XJ"),
        ("XJ-WLMQ-TS", "乌鲁木齐市天山区医疗保障局", "county", "XJ-WLMQ", "CN-XJ"),
    ]
    doc = {
        "version": "test-xj",
        "provincial_centre": "XJ",
        "units": [
            {"unit_id": u, "name": n, "level": lv, "parent_id": p, "jurisdiction": j, "supervisor_id": f"sup-{u}"}
            for u, n, lv, p, j in units
        ],
        "dispatch": [],
    }
    path = folder / "xj_units.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    await seed_directory(pool, path)


async def test_xinjiang_deadlines_end_at_the_season_close(
    pg_pool: asyncpg.Pool, time_shift_lib: str, tmp_path: Path
) -> None:
    """Xinjiang works Beijing time 10:00-14:00 and 16:00-20:00 in summer, until 19:30 in winter: a case received
    Thu 9/24/2026 (Fri 9/25 is Mid-Autumn) must be accepted by 20:00 on Tue 9/29 (summer), and its investigation
    (15 WD across National Day) ends at 19:30 on Mon 10/26 (winter). Xinjiang's 2026 data awaits verification, so
    its deadlines are provisional."""
    await seed_xinjiang(pg_pool, tmp_path)
    async with scenario(cst(2026, 9, 24, 11), pg_pool, time_shift_lib) as ctx:
        h = await ctx.start("XJ2026092400001", jurisdiction="CN-XJ")
        s = await summary(h)
        acceptance = [c for c in s.clocks if c.clock == "acceptance"][0]
        assert acceptance.due_at == cst(2026, 9, 29, 20) and acceptance.provisional and s.any_provisional
        await ctx.until(cst(2026, 9, 29, 19, 59))
        s = await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=XJ_DISPATCHER, unit_id="XJ-WLMQ-TS"))
        assert not [c for c in s.clocks if c.clock == "acceptance"][0].breached  # 19:59 is within the summer day
        inv = [c for c in s.clocks if c.clock == "investigation"][0]
        assert inv.due_at == cst(2026, 10, 26, 19, 30)
        await ctx.until(cst(2026, 10, 26, 19, 31))
        s = await settle(h, lambda s: s.sla_level == "red")
        assert level_events(s, "investigation") == [
            ("blue", cst(2026, 10, 22, 0)),
            ("yellow", cst(2026, 10, 26, 0)),
            ("red", cst(2026, 10, 26, 19, 30)),
        ]
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=XJ_INTAKE))
