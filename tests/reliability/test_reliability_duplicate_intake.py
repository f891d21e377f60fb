"""Reliability: a duplicate-intake storm (the same case number registered 10 times at once, as a hotline desk
retrying on a flaky network would) yields exactly one workflow run, and every caller gets its handle.

Proves: all 10 `start_case` calls return the same workflow id and run id; Temporal visibility lists one
execution for the id; the case has one `registered` event in its timeline and in PostgreSQL, and one `cases`
row. A later intake of the same number (after the case closed) still returns the one case, never a new run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import asyncpg
import pytest
from helpers.cases import CST, INTAKE, registration
from helpers.reliability import record_result, unique_case_numbers
from temporalio.testing import WorkflowEnvironment

from cases.models import CaseSummary, WithdrawDecision
from common.settings import Settings
from workers.main import build_worker
from workflows import ComplaintCase
from workflows.client import start_case

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(120)]

CALLERS = 10


async def test_same_case_number_ten_times_at_once(dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool) -> None:
    t0 = time.monotonic()
    client = dev_env.client
    tq = f"complaints-rel-dup-{uuid.uuid4().hex[:8]}"
    (no,) = unique_case_numbers(1)
    reg = registration(case_no=no, received_at=datetime.now(CST).isoformat())
    async with build_worker(client, pg_pool, Settings(task_queue=tq)):
        handles = await asyncio.gather(*(start_case(client, reg, task_queue=tq) for _ in range(CALLERS)))
        assert {h.id for h in handles} == {f"complaint-{no}"}
        run_ids = {h.result_run_id or h.first_execution_run_id for h in handles}
        assert len(run_ids) == 1 and None not in run_ids, run_ids
        desc = await handles[0].describe()
        assert desc.run_id in run_ids

        summ: CaseSummary | None = None
        for _ in range(300):  # bounded: 30 s even on a loaded 2-core machine
            try:
                summ = await handles[0].query(ComplaintCase.summary)
                break
            except Exception:  # noqa: BLE001 - still registering
                await asyncio.sleep(0.1)
        assert summ is not None
        assert [e.kind for e in summ.events].count("registered") == 1

        # one execution in visibility
        count = 0
        for _ in range(150):  # visibility is eventually consistent
            count = len([w async for w in client.list_workflows(f"WorkflowId = 'complaint-{no}'")])
            if count:
                break
            await asyncio.sleep(0.2)
        assert count == 1, f"{count} executions of complaint-{no} in visibility"

        # closed: another intake of the same number still gets the one case (never a second run)
        await handles[0].execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE, reason="dup test"))
        final = await handles[0].result()
        again = await start_case(client, reg, task_queue=tq)
        assert again.id == handles[0].id
        assert (await again.describe()).run_id in run_ids

    rows = await pg_pool.fetch("SELECT kind FROM case_events WHERE case_no = $1 ORDER BY seq", no)
    assert [r["kind"] for r in rows] == [e.kind for e in final.events]
    assert await pg_pool.fetchval("SELECT count(*) FROM cases WHERE case_no = $1", no) == 1
    record_result("duplicate intake storm (10 callers)", 1, 1, 0, 0, time.monotonic() - t0,
                  f"{CALLERS} callers, 1 run id")
