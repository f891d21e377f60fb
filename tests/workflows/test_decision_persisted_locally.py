"""A decision is written to the read model inside the workflow task that takes it (PATCH_PERSIST_AS_LOCAL_ACTIVITY).

Since the patch `persist_case_changes` runs as a local activity: one decision is one workflow task (update
accepted, a local-activity marker, the search attributes, update completed), with no activity task going
through the task queue. What a user sees does not change: when the update returns, the read model already
holds the decision (its events once each, the projection at the new version), and the `summary` query shows
it. The history recorded here (`decisions_persisted_locally`) is replayed by tests/workflows/test_replay.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from helpers.cases import (
    CASEWORKER,
    CST,
    DISPATCHER,
    HANDLING_UNIT,
    INTAKE,
    registration,
)
from helpers.histories import save_history
from helpers.reliability import unique_case_numbers
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from cases.models import (
    AcceptDecision,
    CompleteInvestigationDecision,
    RecordReturnVisitDecision,
    SendFeedbackDecision,
)
from workers.main import build_worker
from workflows import ComplaintCase
from workflows.client import start_case
from workflows.complaint_case import (
    EARLIER_PATCHES,
    PATCH_ONE_MARKER_FOR_EARLIER_PATCHES,
    PATCH_PERSIST_AS_LOCAL_ACTIVITY,
)


def _name(event: Any) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def _decision_events(events: list[Any]) -> list[list[str]]:
    """The event names of each update, from its acceptance to its completion."""
    out: list[list[str]] = []
    current: list[str] | None = None
    for e in events:
        name = _name(e)
        if name == "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
            current = []
        elif current is not None:
            if name == "WORKFLOW_EXECUTION_UPDATE_COMPLETED":
                out.append(current)
                current = None
            else:
                current.append(name)
    return out


async def _read_model(pool: asyncpg.Pool, case_no: str) -> tuple[str, int, list[str]]:
    row = await pool.fetchrow("SELECT stage, version FROM cases WHERE case_no = $1", case_no)
    kinds = await pool.fetch("SELECT kind FROM case_events WHERE case_no = $1 ORDER BY seq", case_no)
    return row["stage"], row["version"], [k["kind"] for k in kinds]


async def test_each_decision_is_one_workflow_task_and_in_the_read_model_when_it_returns(
    fixed_key_env: WorkflowEnvironment, pg_pool: asyncpg.Pool
) -> None:
    client = fixed_key_env.client
    tq = f"local-persist-{uuid.uuid4().hex[:8]}"
    (case_no,) = unique_case_numbers(1)
    reg = registration(case_no=case_no, received_at=datetime.now(CST).isoformat())
    steps: list[tuple[Any, Any]] = [
        (ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)),
        (ComplaintCase.complete_investigation, CompleteInvestigationDecision(
            actor=CASEWORKER, findings="经核实，医院多收床位费属实", legal_basis="《医疗保障基金使用监督管理条例》第十五条",
            institution_at_fault=True, rectification_required=False)),
        (ComplaintCase.send_feedback, SendFeedbackDecision(
            actor=CASEWORKER, message="已责令退还多收费用", basis="《医疗保障基金使用监督管理条例》第十五条",
            reasons="医院多收床位费属实，应予退还")),
        (ComplaintCase.record_return_visit, RecordReturnVisitDecision(actor=INTAKE, outcome="satisfied")),
    ]
    async with build_worker(client, pg_pool, task_queue=tq):
        h: WorkflowHandle[ComplaintCase, Any] = await start_case(client, reg, task_queue=tq)
        for update, decision in steps:
            summary = await h.execute_update(update, decision)
            # read-your-writes on both sides, with no waiting: the read model and the query have the decision
            stage, version, kinds = await _read_model(pg_pool, case_no)
            assert (stage, version) == (summary.stage, len(summary.events))
            assert kinds == [e.kind for e in summary.events]
            assert (await h.query(ComplaintCase.summary)).events == summary.events
        history = await h.fetch_history()
        save_history("decisions_persisted_locally", history)
        await h.terminate("test over")

    names = [_name(e) for e in history.events]
    assert not any(n.startswith("ACTIVITY_TASK") for n in names), names
    per_decision = _decision_events(history.events)
    assert len(per_decision) == len(steps)
    for events in per_decision:
        # accepted and completed inside one workflow task: nothing waited for the task queue in between
        assert "WORKFLOW_TASK_COMPLETED" not in events and "WORKFLOW_TASK_SCHEDULED" not in events, events
        assert events.count("MARKER_RECORDED") == 1, events
    # a case that starts now takes PATCH_PERSIST_AS_LOCAL_ACTIVITY on the one marker for the earlier patches
    assert PATCH_PERSIST_AS_LOCAL_ACTIVITY in EARLIER_PATCHES
    patch_markers = [
        e for e in history.events
        if _name(e) == "MARKER_RECORDED" and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert len(patch_markers) == 1
    assert PATCH_ONE_MARKER_FOR_EARLIER_PATCHES.encode() in patch_markers[0].marker_recorded_event_attributes.details[
        "patch-data"].payloads[0].data
