"""A case taken over from another system on the dev server: it starts where its record left it (decisions at
their past instants in the audit trail, no notices sent again), the next decision is an ordinary one, and a
record that does not fit the rules opens no case and writes nothing.

Set `COMPLAINTS_RECORD_HISTORIES=1` to write `tests/workflows/histories/taken_over.json` for the replay test
(tests/workflows/test_replay.py replays it and checks its patch marker).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta

import asyncpg
import pytest
from helpers.cases import (
    CASEWORKER,
    CST,
    DISPATCHER,
    HANDLING_UNIT,
    SUPERVISOR,
    fixed_key_data_converter,
    registration,
)
from helpers.client import new_case_no, running_worker
from helpers.histories import record_history
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.testing import WorkflowEnvironment

from calendars import get_calendar
from cases.models import (
    AcceptDecision,
    CaseSummary,
    DecideExtensionDecision,
    PriorDecision,
    PriorDecisions,
    RequestExtensionDecision,
    SendFeedbackDecision,
)
from workflows import ComplaintCase
from workflows.client import start_case

CAL = get_calendar("CN-SX")


async def _registered(handle: WorkflowHandle[ComplaintCase, CaseSummary]) -> CaseSummary:
    """The summary once the case has registered (the query refuses while it loads its calendar)."""
    for _ in range(100):
        try:
            return await handle.query(ComplaintCase.summary)
        except WorkflowQueryFailedError:
            await asyncio.sleep(0.05)
    return await handle.query(ComplaintCase.summary)


def _working_day_at(d: datetime, wd: int, hour: int) -> datetime:
    return datetime.combine(CAL.add_working_days(d.astimezone(CST).date(), wd), time(hour), CST)


async def test_a_taken_over_case_continues_where_its_record_left_it(
    dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool
) -> None:
    # the fixed test key: the recorded history must replay on any machine
    client = Client(**{**dev_env.client.config(), "data_converter": fixed_key_data_converter()})
    queue = f"take-over-{uuid.uuid4().hex[:8]}"
    today = datetime.now(CST)
    received = _working_day_at(today, -9, 10)
    accepted = _working_day_at(received, 1, 15)
    asked = _working_day_at(accepted, 5, 9)
    assert asked < today
    reg = registration(case_no=new_case_no(), received_at=received.isoformat())
    prior = PriorDecisions(source="旧12393系统", decisions=[
        PriorDecision(at=accepted, decision=AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)),
        PriorDecision(at=asked, decision=RequestExtensionDecision(actor=CASEWORKER, reason="需调取多家机构结算数据")),
    ])
    async with running_worker(client, pg_pool, queue):
        handle = await start_case(client, reg, task_queue=queue, prior=prior)
        summary = await _registered(handle)
        assert summary.stage.value == "investigation" and summary.accepted_at == accepted
        assert summary.extension_status == "requested" and summary.sla_level == "on_track"

        for _ in range(100):  # the read model is written just after the state is set
            if await pg_pool.fetchval("SELECT count(*) FROM cases WHERE case_no = $1", reg.case_no):
                break
            await asyncio.sleep(0.05)
        rows = await pg_pool.fetch("SELECT kind, at, details FROM case_events WHERE case_no = $1 ORDER BY seq", reg.case_no)
        at = {r["kind"]: r["at"] for r in rows}
        assert (at["registered"], at["accepted"], at["extension_requested"]) == (received, accepted, asked)
        assert all(r["details"]["taken_over_from"] == "旧12393系统" for r in rows)
        assert await pg_pool.fetchval("SELECT count(*) FROM notifications WHERE case_no = $1", reg.case_no) == 0

        # the next decision is an ordinary one, at the real clock, and tells the complainant
        await handle.execute_update(
            ComplaintCase.decide_extension, DecideExtensionDecision(actor=SUPERVISOR, approve=True, note="")
        )
        row = await pg_pool.fetchrow(
            "SELECT at, details FROM case_events WHERE case_no = $1 AND kind = 'extension_approved'", reg.case_no)
        assert row is not None and row["at"] > today - timedelta(minutes=1)
        assert "taken_over_from" not in row["details"]
        assert await pg_pool.fetchval("SELECT count(*) FROM notifications WHERE case_no = $1", reg.case_no) > 0
        await record_history(handle, "taken_over")

        # a record the rules refuse: no case, nothing written
        bad = registration(case_no=new_case_no(), received_at=received.isoformat())
        refused = PriorDecisions(source="旧12393系统", decisions=[
            PriorDecision(at=accepted, decision=AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)),
            PriorDecision(at=asked, decision=SendFeedbackDecision(actor=CASEWORKER, message="已答复")),
        ])
        bad_handle = await start_case(client, bad, task_queue=queue, prior=refused)
        with pytest.raises(WorkflowFailureError) as failure:
            await bad_handle.result()
        assert "decisions.1" in str(failure.value.cause) and "no case opened" in str(failure.value.cause)
        for table in ("cases", "case_events", "notifications"):
            assert await pg_pool.fetchval(f"SELECT count(*) FROM {table} WHERE case_no = $1", bad.case_no) == 0



async def test_a_decision_sent_while_a_take_over_registers_waits_for_its_prior_decisions(
    dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool
) -> None:
    """Right after the start the case has no state yet; a new case would be in acceptance, but a taken-over
    one is where its record left it, so the decision is judged once the prior decisions are applied."""
    queue = f"take-over-{uuid.uuid4().hex[:8]}"
    today = datetime.now(CST)
    received = _working_day_at(today, -6, 10)
    accepted = _working_day_at(received, 1, 15)
    asked = _working_day_at(accepted, 3, 9)
    reg = registration(case_no=new_case_no(), received_at=received.isoformat())
    prior = PriorDecisions(source="旧12393系统", decisions=[
        PriorDecision(at=accepted, decision=AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)),
        PriorDecision(at=asked, decision=RequestExtensionDecision(actor=CASEWORKER, reason="需调取多家机构结算数据")),
    ])
    async with running_worker(dev_env.client, pg_pool, queue):
        handle = await start_case(dev_env.client, reg, task_queue=queue, prior=prior)
        after = await handle.execute_update(
            ComplaintCase.decide_extension, DecideExtensionDecision(actor=SUPERVISOR, approve=True, note="")
        )
        assert after.extension_status == "approved" and after.accepted_at == accepted
