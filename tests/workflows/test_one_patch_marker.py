"""A case that starts now records one patch marker for all the earlier patches (PATCH_ONE_MARKER_FOR_EARLIER_PATCHES).

The SDK core keeps every marker of a cached run in the worker's memory (docs/performance.md, worker memory),
and a case used to record one per patch at registration. Now it records the one marker and takes the new path
of every patch in `EARLIER_PATCHES` on it: the registration loads and every persist run as local activities,
a completion that requires rectification starts the rectification clock, the review window ends at 24:00.
The history recorded here (`one_marker_for_earlier_patches`) is replayed by tests/workflows/test_replay.py
beside the histories that carry one marker per patch.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from helpers.cases import (
    CASEWORKER,
    CST,
    DISPATCHER,
    HANDLING_UNIT,
    fixed_key_data_converter,
    registration,
)
from helpers.histories import HISTORIES, save_history
from helpers.reliability import unique_case_numbers
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from cases.models import AcceptDecision, CompleteInvestigationDecision, SendFeedbackDecision
from workers.main import build_worker
from workflows import WORKFLOWS, ComplaintCase
from workflows.client import start_case
from workflows.complaint_case import EARLIER_PATCHES, PATCH_ONE_MARKER_FOR_EARLIER_PATCHES


def _patch_ids(events: list[dict[str, Any]]) -> list[str]:
    """The patch ids of a history's `core_patch` markers, in order (JSON form of the history)."""
    ids = []
    for event in events:
        attrs = event.get("markerRecordedEventAttributes")
        if attrs and attrs.get("markerName") == "core_patch":
            ids += [json.loads(base64.b64decode(p["data"]))["id"] for p in attrs["details"]["patch-data"]["payloads"]]
    return ids


async def test_a_new_case_records_one_marker_and_takes_every_earlier_patch(
    fixed_key_env: WorkflowEnvironment, pg_pool: asyncpg.Pool
) -> None:
    client = fixed_key_env.client
    tq = f"one-marker-{uuid.uuid4().hex[:8]}"
    (case_no,) = unique_case_numbers(1)
    reg = registration(case_no=case_no, received_at=datetime.now(CST).isoformat())
    async with build_worker(client, pg_pool, task_queue=tq):
        h: WorkflowHandle[ComplaintCase, Any] = await start_case(client, reg, task_queue=tq)
        await h.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT))
        s = await h.execute_update(ComplaintCase.complete_investigation, CompleteInvestigationDecision(
            actor=CASEWORKER, findings="经核实，医院多收床位费属实", legal_basis="《医疗保障基金使用监督管理条例》第十五条",
            institution_at_fault=True, rectification_required=True))
        # PATCH_RECTIFICATION_CLOCK's path, taken on the one marker: the rectification clock runs
        assert [c.clock for c in s.clocks if c.clock == "rectification" and c.stopped_at is None] == ["rectification"]
        s = await h.execute_update(ComplaintCase.send_feedback, SendFeedbackDecision(
            actor=CASEWORKER, message="已责令退还多收费用", basis="《医疗保障基金使用监督管理条例》第十五条",
            reasons="医院多收床位费属实，应予退还"))
        # PATCH_REVIEW_WINDOW_FROM_RECEIPT's path: the window ends at 24:00 of its last day
        assert s.review_window_ends_at is not None
        assert s.review_window_ends_at.astimezone(CST).time().isoformat() == "00:00:00"
        history = await h.fetch_history()
        await h.terminate("test over")

    doc = json.loads(history.to_json())
    assert _patch_ids(doc["events"]) == [PATCH_ONE_MARKER_FOR_EARLIER_PATCHES]
    # the registration loads and every persist ran as local activities (three patches' paths): no activity
    # task went through the task queue
    assert not [e for e in doc["events"] if e["eventType"].startswith("EVENT_TYPE_ACTIVITY_TASK")]
    # the read model has every decision: the persists ran, on the local path
    assert await pg_pool.fetchval("SELECT stage FROM cases WHERE case_no = $1", case_no) == s.stage
    result = await Replayer(workflows=WORKFLOWS, data_converter=fixed_key_data_converter()).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None
    save_history("one_marker_for_earlier_patches", history)


def test_histories_recorded_before_carry_one_marker_per_patch() -> None:
    """The replay test replays these down the path of each patch's own marker: the one marker is not there."""
    ids = _patch_ids(json.loads((HISTORIES / "decisions_persisted_locally.json").read_text())["events"])
    assert PATCH_ONE_MARKER_FOR_EARLIER_PATCHES not in ids
    assert len(ids) == len(set(ids)) > 5 and set(ids) <= EARLIER_PATCHES
    recorded = json.loads((HISTORIES / "one_marker_for_earlier_patches.json").read_text())["events"]
    assert _patch_ids(recorded) == [PATCH_ONE_MARKER_FOR_EARLIER_PATCHES]
