"""Reliability: a case whose SLA thresholds are already past when its workflow runs (registered late, or
processed after an outage) must show them at once: red 超期 and the escalation 通报, without waiting for a
decision.

This was a bug: `next_wakeup` only names future thresholds, so a case whose thresholds were all past waited
with no timeout and stayed `on_track` until a decision arrived. The workflow now ticks first when
`cases.transitions.needs_tick` says a passed threshold is unrecorded (behind PATCH_TICK_PASSED_THRESHOLDS).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import asyncpg
import pytest
from helpers.cases import CST, registration
from helpers.reliability import unique_case_numbers
from temporalio.testing import WorkflowEnvironment

from calendars import get_calendar
from cases.models import CaseSummary
from common.settings import Settings
from workers.main import build_worker
from workflows import ComplaintCase
from workflows.client import start_case

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(120)]


async def test_case_registered_after_its_deadline_is_red_at_once(dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool) -> None:
    tq = f"complaints-rel-late-{uuid.uuid4().hex[:8]}"
    cal = get_calendar("CN-SX")
    now = datetime.now(CST)
    received = datetime.combine(cal.add_working_days(now.date(), -12), datetime.min.time(), CST) + timedelta(hours=10)
    (no,) = unique_case_numbers(1)
    async with build_worker(dev_env.client, pg_pool, Settings(task_queue=tq)):
        h = await start_case(dev_env.client, registration(case_no=no, received_at=received.isoformat()),
                             task_queue=tq)
        summ: CaseSummary | None = None
        for _ in range(25):
            try:
                summ = await h.query(ComplaintCase.summary)
                if summ.sla_level == "red":
                    break
            except Exception:  # noqa: BLE001 - still registering
                pass
            await asyncio.sleep(0.2)
        assert summ is not None and summ.sla_level == "red", summ and summ.sla_level
        assert "sla_escalated" in [e.kind for e in summ.events]
