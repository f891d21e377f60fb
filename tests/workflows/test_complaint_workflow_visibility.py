"""Search attributes on the Temporal dev server (real visibility): supervisors find cases by stage, unit,
SLA level and due date; and the public contract of `ComplaintCase` (update, query and signal names)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
from helpers.cases import DISPATCHER, HANDLING_UNIT, INTAKE, registration
from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from cases.models import AcceptDecision, WithdrawDecision
from workers.main import build_worker
from workflows import ComplaintCase
from workflows.client import start_case

CONTRACT_UPDATES = {
    "accept",
    "reject",
    "assign",
    "return_case",
    "request_extension",
    "decide_extension",
    "complete_investigation",
    "send_feedback",
    "record_return_visit",
    "request_review",
    "decide_review",
    "withdraw",
    "merge_into",
    "record_receipt",
}


def test_public_contract_names() -> None:
    defn = workflow._Definition.from_class(ComplaintCase)
    assert defn is not None and defn.name == "ComplaintCase"
    assert set(defn.updates) == CONTRACT_UPDATES
    assert all(u.validator is not None for u in defn.updates.values())
    assert "summary" in defn.queries and "calendar_updated" in defn.signals


@pytest.mark.devserver
async def test_search_attributes_on_dev_server(dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool) -> None:
    client = dev_env.client
    tq = f"complaints-test-{uuid.uuid4().hex[:8]}"
    received = datetime.now(timezone(timedelta(hours=8)))
    case_no = f"SX{received:%Y%m%d}{uuid.uuid4().int % 90000 + 10000:05d}"
    reg = registration(case_no=case_no, received_at=received.isoformat())
    async with build_worker(client, pg_pool, task_queue=tq):
        h = await start_case(client, reg, task_queue=tq)
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        query = (
            f'WorkflowId = "complaint-{case_no}" AND CaseStage = "investigation" AND HandlingUnit = "{HANDLING_UNIT}"'
            ' AND SlaLevel = "on_track" AND Jurisdiction = "CN-SX" AND Channel = "hotline_12393"'
            ' AND CaseKind = "complaint"'
        )
        found = []
        for _ in range(100):
            found = [w async for w in client.list_workflows(query)]
            if found:
                break
            await asyncio.sleep(0.1)
        assert [w.id for w in found] == [f"complaint-{case_no}"]
        due = found[0].typed_search_attributes
        summary = await h.query(ComplaintCase.summary)
        assert due.get(SearchAttributeKey.for_datetime("DueAt")) == summary.next_due_at
        await h.execute_update(ComplaintCase.withdraw, WithdrawDecision(actor=INTAKE))
        await h.result()
