"""Reliability: the Temporal dev server restarted on its SQLite file (SIGTERM, and SIGKILL) loses no case.

Each variant runs its own `temporal server start-dev --db-filename <tmp>/temporal.db` and a real worker
process. Open cases are registered (half accepted); then the worker is stopped and "late" cases are
registered whose acceptance deadline (received 12 working days ago) is already past, so their workflow tasks
and SLA thresholds are due while the server is down. The server is stopped; a decision and an intake sent
meanwhile fail cleanly at the client (an `RPCError` within the client's timeout, nothing half-done). The
server comes back on the same file with a new worker.

Some cases fall due seconds after the stop: the bureau's service day (a `bureau_service_hours` row, and a
`bureau_calendar_days` opening should the test run on a day off) ends just after the server goes down, and the
cases were received two working days before, so each waits on a timer armed for that instant. That timer comes
due while the server is down, and fires after the restart.

Proves: every case is still there and running (`describe` + `summary`), the decision refused during the outage
succeeds when retried with the same update id and the new intake starts, the late cases registered before the
outage are processed after it and, accepted then, record their acceptance deadline as breached (red 超期:
lateness kept, never hidden), the timers that came due during the outage fire after it (the due-now cases turn
red at their deadline with no decision sent, `TimerFired` after the restart), and after finishing every case PostgreSQL holds each timeline event exactly
once. (That a late case shows red *before* any decision is `test_reliability_late_registration.py`.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from helpers.cases import CST, DISPATCHER, HANDLING_UNIT, INTAKE, registration
from helpers.reliability import (
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
    WorkflowQueryFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from activities import bureau_calendar
from calendars import get_calendar
from cases.models import AcceptDecision, CaseSummary, WithdrawDecision
from common.converter import make_data_converter
from devstack.pgserver import EmbeddedPostgres
from workflows import ComplaintCase
from workflows.client import start_case

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(300)]

OPEN_CASES = 20
# what a client sees while the server is down: a transport error or its own timeout, never a partial result
CLEAN_FAILURES = (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError)
LATE_CASES = 5
DUE_NOW_CASES = 3
# from setting the bureau's close time to its passing: enough to register the due-now cases and stop the server
DUE_IN = timedelta(seconds=20)


async def _connect(address: str) -> Client:
    return await Client.connect(address, data_converter=make_data_converter())


async def _pending_timer_fire_at(handle: WorkflowHandle[Any, Any]) -> tuple[datetime, datetime] | None:
    """The workflow's latest still-pending timer (None if no timer is pending): when the server fires it, and
    the instant the workflow armed it for. The workflow computes a timer's duration from its task's start time
    (`workflow.now()`), and the server counts it from when the task completed: a task that also wrote the read
    model (a local activity) completed later, by up to seconds on a loaded machine, and its timer fires later
    by as much."""
    started: dict[str, tuple[datetime, datetime]] = {}
    task_started: datetime | None = None
    async for ev in handle.fetch_history_events():
        if ev.HasField("workflow_task_started_event_attributes"):
            task_started = ev.event_time.ToDatetime(UTC)
        elif ev.HasField("timer_started_event_attributes"):
            attrs = ev.timer_started_event_attributes
            timeout = attrs.start_to_fire_timeout.ToTimedelta()
            assert task_started is not None
            started[attrs.timer_id] = (ev.event_time.ToDatetime(UTC) + timeout, task_started + timeout)
        elif ev.HasField("timer_fired_event_attributes"):
            started.pop(ev.timer_fired_event_attributes.timer_id, None)
        elif ev.HasField("timer_canceled_event_attributes"):
            started.pop(ev.timer_canceled_event_attributes.timer_id, None)
    return max(started.values()) if started else None


async def _bureau_day_ending_soon(dsn: str) -> tuple[datetime, date]:
    """Make today a working day of the CN-SX bureau whose service day ends `DUE_IN` from now; returns (that
    instant, the day two working days before, on which a case received is due then)."""
    now = datetime.now(CST)
    if (now + DUE_IN + timedelta(minutes=1)).date() != now.date():  # the close must fall today: wait for midnight
        await asyncio.sleep((datetime.combine(now.date() + timedelta(days=1), time_of_day(0), CST) - now)
                            .total_seconds() + 1)
        now = datetime.now(CST)
    close_at = (now + DUE_IN).replace(microsecond=0)
    published = get_calendar("CN-SX")
    openings = [] if published.is_working_day(close_at.date()) else [close_at.date()]
    conn = await asyncpg.connect(dsn)
    try:
        for day in openings:
            await bureau_calendar.record_day(conn, "CN-SX", day, working=True, note="服务日", recorded_by="adm-test")
        await bureau_calendar.set_close_time(conn, "CN-SX", close_at.time(), note="reliability test",
                                             recorded_by="adm-test")
    finally:
        await conn.close()
    bureau = get_calendar("CN-SX", extra_openings=openings, close_time=close_at.time())
    return close_at, bureau.add_working_days(close_at.date(), -2)


def _acceptance(summary: CaseSummary) -> Any:
    return next(c for c in summary.clocks if c.clock == "acceptance")


async def _summary_when(
    handle: WorkflowHandle[Any, Any], pred: Any, stats: DriveStats, deadline: float
) -> CaseSummary:
    """The case summary once `pred` holds (or the last one seen at `deadline`). The query answers only once
    registration is done (it fails before), so a failed query is asked again."""
    s: CaseSummary | None = None
    while True:
        try:
            s = await retrying(handle.id, lambda: handle.query(ComplaintCase.summary), stats, deadline)
        except WorkflowQueryFailedError:
            if time.monotonic() > deadline:
                raise
        if s is not None and (pred(s) or time.monotonic() > deadline):
            return s
        await asyncio.sleep(0.2)


async def _timer_fired_after(handle: WorkflowHandle[Any, Any], after: datetime) -> bool:
    async for ev in handle.fetch_history_events():
        if ev.HasField("timer_fired_event_attributes") and ev.event_time.ToDatetime(UTC) >= after:
            return True
    return False


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

        numbers = unique_case_numbers(OPEN_CASES + LATE_CASES + DUE_NOW_CASES + 1)
        open_nos, late_nos = numbers[:OPEN_CASES], numbers[OPEN_CASES:OPEN_CASES + LATE_CASES]
        due_nos, new_no = numbers[OPEN_CASES + LATE_CASES:-1], numbers[-1]
        now = datetime.now(CST)
        for no in open_nos:
            h = await start_case(client, registration(case_no=no, received_at=now.isoformat()), task_queue=tq)
            if int(no[-1]) % 2 == 0:
                await update(h, "accept", AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), stats, deadline)
        for no in open_nos:  # every case has finished registering
            await retrying(no, lambda no=no: client.get_workflow_handle(f"complaint-{no}").query(
                ComplaintCase.summary), stats, deadline)

        # due-now cases: acceptance due when the bureau's service day ends, seconds from now
        close_at, received_day = await _bureau_day_ending_soon(dsn)
        received_due = datetime.combine(received_day, time_of_day(10), CST)
        for no in due_nos:
            h = await start_case(client, registration(case_no=no, received_at=received_due.isoformat()),
                                 task_queue=tq)
            s = await _summary_when(h, lambda s: s.sla_level == "yellow", stats, deadline)
            assert _acceptance(s).due_at == close_at and s.sla_level == "yellow", (no, _acceptance(s))
            # the summary can show the new level before the task that arms the timer is recorded
            timer = await _pending_timer_fire_at(h)
            while timer is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                timer = await _pending_timer_fire_at(h)
            assert timer is not None and abs((timer[1] - close_at).total_seconds()) < 2, (no, timer, close_at)

        # late cases: registered while no worker runs, their deadlines already past
        worker.stop()
        cal = get_calendar("CN-SX")
        received = datetime.combine(cal.add_working_days(now.date(), -12), datetime.min.time(), CST) + timedelta(
            hours=10)
        for no in late_nos:
            await start_case(client, registration(case_no=no, received_at=received.isoformat()), task_queue=tq)

        assert datetime.now(CST) < close_at, "too slow: the due-now timers fired before the server went down"
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

        # the due-now timers come due while the server is down
        await asyncio.sleep(max(0.0, (close_at - datetime.now(CST)).total_seconds() + 1))
        restarted_at = datetime.now(UTC)
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
        for no in [*open_nos, *late_nos, *due_nos, new_no]:
            h = client.get_workflow_handle_for(ComplaintCase.run, f"complaint-{no}")
            desc = await retrying(no, h.describe, stats, deadline)
            assert desc.status == WorkflowExecutionStatus.RUNNING, (no, desc.status)
        # each open case still waits on its one SLA timer, due at its next threshold (persisted across the restart)
        for no in open_nos:
            h = client.get_workflow_handle_for(ComplaintCase.run, f"complaint-{no}")
            summary = await retrying(no, lambda h=h: h.query(ComplaintCase.summary), stats, deadline)
            timer = await retrying(no, lambda h=h: _pending_timer_fire_at(h), stats, deadline)
            assert timer is not None, no
            fire_at, armed_for = timer
            assert fire_at > datetime.now(UTC), (no, fire_at)
            # the timer is armed for a threshold of the case (to within the timer's sub-second slack)
            assert _seconds_to_nearest_threshold(summary, armed_for) < 2, (no, armed_for, fire_at)
        # the timers that came due during the outage fired after it: red at the deadline, no decision sent
        for no in due_nos:
            h = client.get_workflow_handle_for(ComplaintCase.run, f"complaint-{no}")
            s = await _summary_when(h, lambda s: s.sla_level == "red", stats, deadline)
            acc = _acceptance(s)
            assert acc.level == "red" and acc.breached and acc.stopped_at is None, (no, acc)
            assert [(e.kind, e.details.get("level")) for e in s.events] == [
                ("registered", None), ("sla_level_changed", "yellow"), ("sla_level_changed", "red")], s.events
            assert s.events[-1].at >= close_at
            assert await _timer_fired_after(h, restarted_at), no
        for no in late_nos:
            # lateness is recorded, never hidden: accepting now stops the acceptance clock breached, red
            h = client.get_workflow_handle_for(ComplaintCase.run, f"complaint-{no}")
            s = await update(h, "accept", AcceptDecision(actor=DISPATCHER), stats, deadline)
            acc = [c for c in s["clocks"] if c["clock"] == "acceptance"][0]
            assert acc["breached"] and acc["level"] == "red", acc

        # finish every case; PostgreSQL holds each event exactly once
        summaries: dict[str, CaseSummary] = {}
        for no in [*open_nos, *late_nos, *due_nos, new_no]:
            h = client.get_workflow_handle_for(ComplaintCase.run, f"complaint-{no}")
            await update(h, "withdraw", WithdrawDecision(actor=INTAKE, reason="reliability test"), stats, deadline)
            summaries[no] = await retrying(no, h.result, stats, deadline)
        report = await audit(dsn, summaries)
    finally:
        worker.stop()
        server.stop(signal.SIGKILL)
    n = len(summaries)
    record_result(f"dev server restart ({stop_signal.name})", n, report.archived, n - report.archived,
                  report.duplicated_keys, time.monotonic() - t0, f"{LATE_CASES} late cases processed after restart, breach recorded red; "
                  f"{DUE_NOW_CASES} timers due during the outage fired after it")
    assert report.archived == n == OPEN_CASES + LATE_CASES + DUE_NOW_CASES + 1
    assert report.duplicated_keys == 0 and not report.missing_rows and not report.mismatched, report
