"""`start_case_with_decision`: register and take the first decision in one call (update-with-start).

Proves on the dev server: the decision is taken in the case's first workflow task, right after registration
(nothing else goes through the task queue); the read model has both when the call returns; a resend with the
same update id answers the first outcome and changes nothing; a refused decision leaves the case registered.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import pytest
from helpers.cases import CASEWORKER, CST, DISPATCHER, HANDLING_UNIT, registration
from helpers.reliability import unique_case_numbers
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from cases.models import AcceptDecision
from common.contract import workflow_id
from workers.main import build_worker
from workflows import ComplaintCase
from workflows.client import start_case_with_decision


async def test_register_and_accept_in_one_call(dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool) -> None:
    client = dev_env.client
    tq = f"start-with-decision-{uuid.uuid4().hex[:8]}"
    accepted_no, refused_no = unique_case_numbers(2)
    accept = AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)
    async with build_worker(client, pg_pool, task_queue=tq):
        reg = registration(case_no=accepted_no, received_at=datetime.now(CST).isoformat())
        summary = await start_case_with_decision(client, reg, ComplaintCase.accept, accept, task_queue=tq,
                                                 update_id=f"{accepted_no}-accept")
        assert summary.stage == "investigation" and summary.handling_unit == HANDLING_UNIT
        assert [e.kind for e in summary.events] == ["registered", "accepted", "assigned"]
        rows = await pg_pool.fetch("SELECT kind FROM case_events WHERE case_no = $1 ORDER BY seq", accepted_no)
        assert [r["kind"] for r in rows] == ["registered", "accepted", "assigned"]

        # the registration and the decision share the first workflow task
        handle = client.get_workflow_handle(workflow_id(accepted_no))
        history = await handle.fetch_history()
        types = [e.event_type for e in history.events]
        completed = types.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
        assert types[:completed].count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in types

        # the intake system resends (it did not see the answer): the same outcome, nothing applied twice
        again = await start_case_with_decision(client, reg, ComplaintCase.accept, accept, task_queue=tq,
                                               update_id=f"{accepted_no}-accept")
        assert again == summary
        assert len((await handle.fetch_history()).events) == len(history.events)

        # a decision the actor may not take is refused; the case is registered all the same
        other = registration(case_no=refused_no, received_at=datetime.now(CST).isoformat())
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await start_case_with_decision(client, other, ComplaintCase.accept, AcceptDecision(actor=CASEWORKER),
                                           task_queue=tq)
        assert "may not accept" in str(refused.value.cause)
        registered = await client.get_workflow_handle(workflow_id(refused_no)).query(ComplaintCase.summary)
        assert registered.stage == "acceptance" and [e.kind for e in registered.events] == ["registered"]
        for no in (accepted_no, refused_no):
            await client.get_workflow_handle(workflow_id(no)).terminate("test over")
