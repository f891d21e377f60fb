"""Reliability: the Temporal dev server restarted on its SQLite file (SIGTERM, and SIGKILL) loses no case.

Each variant runs its own `temporal server start-dev --db-filename <tmp>/temporal.db` and a real worker
process. Open cases are registered (half accepted); then the worker is stopped and "late" cases are
registered whose acceptance deadline (received 12 working days ago) is already past, so their workflow tasks
and SLA thresholds are due while the server is down. The server is stopped; a decision and an intake sent
meanwhile fail cleanly at the client (an `RPCError` within the client's timeout, nothing half-done). The
server comes back on the same file with a new worker.

Proves: every case is still there and running (`describe` + `summary`), the decision refused during the outage
succeeds when retried with the same update id and the new intake starts, the late cases registered before the
outage are processed after it and, accepted then, record their acceptance deadline as breached (red 超期:
lateness kept, never hidden), and after finishing every case PostgreSQL holds each timeline event exactly
once. (That a late case shows red *before* any decision is `test_reliability_late_registration.py`.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from reliability.harness import (
    DevServer,
    DriveStats,
    WorkerProcess,
    audit,
    fresh_database,
    record_result,
    retrying,
    unique_case_numbers,
    update,
    wait_for_poller,
)
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError
from test_case_rules_fixtures import CST, DISPATCHER, HANDLING_UNIT, INTAKE, registration

from calendars import get_calendar
from cases.models import AcceptDecision, CaseSummary, WithdrawDecision
from complaints.converter import make_data_converter
from complaints.pgserver import EmbeddedPostgres
from workflows import ComplaintCase
from workflows.client import start_case

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]

OPEN_CASES = 20
# what a client sees while the server is down: a transport error or its own timeout, never a partial result
CLEAN_FAILURES = (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError)
LATE_CASES = 5


async def _connect(address: str) -> Client:
    return await Client.connect(address, data_converter=make_data_converter())


async def _pending_timer_fire_at(handle: WorkflowHandle[Any, Any]) -> datetime | None:
    """When the workflow's latest still-pending timer fires (None if no timer is pending)."""
    started: dict[str, datetime] = {}
    async for ev in handle.fetch_history_events():
        if ev.HasField("timer_started_event_attributes"):
            attrs = ev.timer_started_event_attributes
            started[attrs.timer_id] = ev.event_time.ToDatetime(UTC) + attrs.start_to_fire_timeout.ToTimedelta()
        elif ev.HasField("timer_fired_event_attributes"):
            started.pop(ev.timer_fired_event_attributes.timer_id, None)
        elif ev.HasField("timer_canceled_event_attributes"):
            started.pop(ev.timer_canceled_event_attributes.timer_id, None)
    return max(started.values()) if started else None


def _seconds_to_nearest_threshold(summary: CaseSummary, at: datetime) -> float:
    """How far `at` is from the nearest SLA threshold (blue, yellow, due, escalation) of a running clock."""
    points = [t for c in summary.clocks if c.stopped_at is None
              for t in (c.blue_at, c.yellow_at, c.due_at, c.escalate_at) if t is not None]
    return min(abs((t - at).total_seconds()) for t in points)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_dev_server_restart_keeps_every_case(
    stop_signal: signal.Signals, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    server = DevServer(tmp_path / "temporal.db")
    server.start()
    dsn = await fresh_database(pg_server.dsn("postgres"), pg_server.dsn)
    tq = f"complaints-rel-restart-{uuid.uuid4().hex[:8]}"
    env = {
        "COMPLAINTS_TEMPORAL_ADDRESS": server.address,
        "COMPLAINTS_DATABASE_URL": dsn,
        "COMPLAINTS_TASK_QUEUE": tq,
        "COMPLAINTS_DATA_DIR": os.environ["COMPLAINTS_DATA_DIR"],
        "COMPLAINTS_MODE": "embedded",
    }
    worker = WorkerProcess(env, tmp_path / "worker-1.log")
    stats = DriveStats()
    deadline = time.monotonic() + 200
    try:
        client = await _connect(server.address)
        worker.start()
        await wait_for_poller(client, tq, worker.pid)

        numbers = unique_case_numbers(OPEN_CASES + LATE_CASES + 1)
        open_nos, late_nos, new_no = numbers[:OPEN_CASES], numbers[OPEN_CASES:-1], numbers[-1]
        now = datetime.now(CST)
        for no in open_nos:
            h = await start_case(client, registration(case_no=no, received_at=now.isoformat()), task_queue=tq)
            if int(no[-1]) % 2 == 0:
                await update(h, "accept", AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), stats, deadline)
        for no in open_nos:  # every case has finished registering
            await retrying(no, lambda no=no: client.get_workflow_handle(f"complaint-{no}").query(
                ComplaintCase.summary), stats, deadline)

        # late cases: registered while no worker runs, their deadlines already past
        worker.stop()
        cal = get_calendar("CN-SX")
        received = datetime.combine(cal.add_working_days(now.date(), -12), datetime.min.time(), CST) + timedelta(
            hours=10)
        for no in late_nos:
            await start_case(client, registration(case_no=no, received_at=received.isoformat()), task_queue=tq)

        server.stop(stop_signal)

        # while the server is down: a decision and an intake fail cleanly at the client
        pending = client.get_workflow_handle(f"complaint-{open_nos[1]}")  # odd serial: not accepted yet
        accept = AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT)
        # (the client's own retries would go on for a while; the caller bounds the wait)
        with pytest.raises(CLEAN_FAILURES):
            await asyncio.wait_for(pending.execute_update("accept", accept, id=f"{pending.id}:accept",
                                                          rpc_timeout=timedelta(seconds=3)), 6)
        with pytest.raises(CLEAN_FAILURES):
            await asyncio.wait_for(start_case(client, registration(case_no=new_no, received_at=now.isoformat()),
                                              task_queue=tq, rpc_timeout=timedelta(seconds=3)), 6)

        server.start()
        worker = WorkerProcess(env, tmp_path / "worker-2.log")
        worker.start()
        await wait_for_poller(client, tq, worker.pid)

        # the refused decision and intake succeed when retried
        s = await update(pending, "accept", accept, stats, deadline)
        assert s["stage"] == "investigation"
        await retrying(new_no, lambda: start_case(
            client, registration(case_no=new_no, received_at=now.isoformat()), task_queue=tq), stats, deadline)

        # every case is still there and running; the late ones went red and were escalated after the restart
        for no in [*open_nos, *late_nos, new_no]:
            h = client.get_workflow_handle_for(ComplaintCase.run, f"complaint-{no}")
            desc = await retrying(no, h.describe, stats, deadline)
            assert desc.status == WorkflowExecutionStatus.RUNNING, (no, desc.status)
        # each open case still waits on its one SLA timer, due at its next threshold (persisted across the restart)
        for no in open_nos:
            h = client.get_workflow_handle_for(ComplaintCase.run, f"complaint-{no}")
            summary = await retrying(no, lambda h=h: h.query(ComplaintCase.summary), stats, deadline)
            fire_at = await retrying(no, lambda h=h: _pending_timer_fire_at(h), stats, deadline)
            assert fire_at is not None and fire_at > datetime.now(UTC), (no, fire_at)
            # the timer is armed for a threshold of the case (to within the timer's sub-second slack)
            assert _seconds_to_nearest_threshold(summary, fire_at) < 2, (no, fire_at)
        for no in late_nos:
            # lateness is recorded, never hidden: accepting now stops the acceptance clock breached, red
            h = client.get_workflow_handle_for(ComplaintCase.run, f"complaint-{no}")
            s = await update(h, "accept", AcceptDecision(actor=DISPATCHER), stats, deadline)
            acc = [c for c in s["clocks"] if c["clock"] == "acceptance"][0]
            assert acc["breached"] and acc["level"] == "red", acc

        # finish every case; PostgreSQL holds each event exactly once
        summaries: dict[str, CaseSummary] = {}
        for no in [*open_nos, *late_nos, new_no]:
            h = client.get_workflow_handle_for(ComplaintCase.run, f"complaint-{no}")
            await update(h, "withdraw", WithdrawDecision(actor=INTAKE, reason="reliability test"), stats, deadline)
            summaries[no] = await retrying(no, h.result, stats, deadline)
        report = await audit(dsn, summaries)
    finally:
        worker.stop()
        server.stop(signal.SIGKILL)
    n = len(summaries)
    record_result(f"dev server restart ({stop_signal.name})", n, report.archived, n - report.archived,
                  report.duplicated_keys, time.monotonic() - t0, f"{LATE_CASES} late cases processed after restart, breach recorded red")
    assert report.archived == n == OPEN_CASES + LATE_CASES + 1
    assert report.duplicated_keys == 0 and not report.missing_rows and not report.mismatched, report
