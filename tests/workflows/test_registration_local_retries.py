"""A registration load that fails is retried through a workflow timer, never inside the worker.

The SDK core (temporalio 1.35.0) leaks the start-to-close timer of every local-activity attempt it retries
itself: the stale timer can time out a later attempt early, and when it fires after the worker shut down it
panics (`TimeoutBag::mark_started ... receive half not dropped`). `workflows.review.LOCAL_RETRY_THRESHOLD`
makes every retry a fresh schedule after a timer; this test fails if the retry stays in the worker.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from helpers.cases import CST, registration
from helpers.reliability import unique_case_numbers
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.case_activities import CaseActivities
from activities.contracts import CaseContextRequest
from workers.main import build_worker
from workflows import ComplaintCase
from workflows.client import start_case


def _marker_attempts(events: list[Any]) -> list[tuple[int, int]]:
    """(event id, attempt) of each local-activity marker."""
    out = []
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            m = e.marker_recorded_event_attributes
            if m.marker_name == "core_local_activity" and "data" in m.details:
                out.append((e.event_id, int(json.loads(m.details["data"].payloads[0].data).get("attempt", 1))))
    return out


async def test_failed_registration_load_retries_after_a_timer(
    dev_env: WorkflowEnvironment, pg_pool: asyncpg.Pool
) -> None:
    acts = CaseActivities(pg_pool)
    attempts: list[int] = []

    @activity.defn(name="load_case_context")
    async def first_attempt_fails(request: CaseContextRequest) -> Any:
        attempts.append(activity.info().attempt)
        if activity.info().attempt == 1:
            raise RuntimeError("directory briefly unreachable")
        return await acts.load_case_context(request)

    tq = f"la-retry-{uuid.uuid4().hex[:8]}"
    (case_no,) = unique_case_numbers(1)
    reg = registration(case_no=case_no, received_at=datetime.now(CST).isoformat())
    async with build_worker(dev_env.client, pg_pool, task_queue=tq,
                            activity_overrides={"load_case_context": first_attempt_fails}):
        handle = await start_case(dev_env.client, reg, task_queue=tq)
        for _ in range(300):  # bounded: 30 s
            try:
                summary = await handle.query(ComplaintCase.summary)
                break
            except Exception:  # noqa: BLE001 - still registering
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the case did not register")
    assert [e.kind for e in summary.events][:1] == ["registered"]
    assert attempts == [1, 2]
    events = (await handle.fetch_history()).events
    markers = _marker_attempts(events)
    timers = [e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    # the failed attempt left its marker, then a backoff timer, then the second attempt its own marker (later
    # local activities, the registration's writes, have first attempts of their own)
    retried = [eid for eid, attempt in markers if attempt == 2]
    assert retried, markers
    failed = [eid for eid, attempt in markers if attempt == 1 and eid < retried[0]]
    assert any(failed[-1] < t < retried[0] for t in timers), (markers, timers)
