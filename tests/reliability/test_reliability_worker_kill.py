"""Reliability: a worker killed with `kill -9` in the middle of 200 cases loses no case and doubles no event.

A real worker process (`python -m workers`) serves a private task queue on the Temporal dev server; the test
drives 200 cases (register, accept, assign, then withdraw to the archive) with bounded concurrency, kills the
worker with SIGKILL once about a third of the decisions went through, starts a new worker and lets the
drivers retry (fixed update ids: a retried decision is deduplicated by the server, never applied twice).

Proves: every case ends archived; `case_events` has no event key twice and, per case, exactly the workflow's
timeline (same seq and kind, nothing missing or extra); the `cases` row matches the final summary.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from helpers.cases import CST, DISPATCHER, HANDLING_UNIT, INTAKE, registration
from helpers.reliability import (
    DriveStats,
    WorkerProcess,
    audit,
    fault_marks,
    fresh_database,
    record_result,
    retrying,
    unique_case_numbers,
    update,
    wait_for_poller,
)
from temporalio.testing import WorkflowEnvironment

from cases.models import AcceptDecision, AssignDecision, CaseSummary, WithdrawDecision
from devstack.pgserver import EmbeddedPostgres
from workflows.client import start_case

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(480)]

CASES = int(os.environ.get("COMPLAINTS_RELIABILITY_CASES", "200"))
CONCURRENCY = 16


async def test_worker_killed_mid_flight_loses_nothing(
    dev_env: WorkflowEnvironment, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    t0 = time.monotonic()
    client = dev_env.client
    dsn = await fresh_database(pg_server.dsn("postgres"), pg_server.dsn)
    tq = f"complaints-rel-kill-{uuid.uuid4().hex[:8]}"
    env = {
        "COMPLAINTS_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "COMPLAINTS_DATABASE_URL": dsn,
        "COMPLAINTS_TASK_QUEUE": tq,
        # same data folder as the test process (tests/conftest.py): the worker uses the same dev key file
        "COMPLAINTS_DATA_DIR": os.environ["COMPLAINTS_DATA_DIR"],
        "COMPLAINTS_MODE": "embedded",
    }
    first = WorkerProcess(env, tmp_path / "worker-1.log")
    first.start()
    await wait_for_poller(client, tq, first.pid)

    stats = DriveStats()
    deadline = time.monotonic() + 360
    numbers = unique_case_numbers(CASES)
    sem = asyncio.Semaphore(CONCURRENCY)
    summaries: dict[str, CaseSummary] = {}
    total_updates = 3 * CASES
    killed = asyncio.Event()

    async def drive(case_no: str) -> None:
        reg = registration(case_no=case_no, received_at=datetime.now(CST).isoformat())
        async with sem:
            h = await retrying(case_no, lambda: start_case(client, reg, task_queue=tq), stats, deadline)
            await update(h, "accept", AcceptDecision(actor=DISPATCHER), stats, deadline)
            await update(h, "assign", AssignDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), stats, deadline)
        # the rest waits until the fault happened, so every case is in flight across the kill
        await killed.wait()
        async with sem:
            await update(h, "withdraw", WithdrawDecision(actor=INTAKE, reason="reliability test"), stats, deadline)
            summaries[case_no] = await retrying(f"{case_no} result", h.result, stats, deadline, per_try=60)

    async def chaos() -> WorkerProcess:
        await stats.until_updates(total_updates // 3)
        first.kill9()
        killed.set()
        await asyncio.sleep(2)
        second = WorkerProcess(env, tmp_path / "worker-2.log")
        second.start()
        return second

    chaos_task = asyncio.create_task(chaos())
    results = await asyncio.gather(*(drive(n) for n in numbers), return_exceptions=True)
    second = await chaos_task
    try:
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, failures[:3]
        report = await audit(dsn, summaries)
        marks = await fault_marks(client, [f"complaint-{no}" for no in summaries])
    finally:
        second.stop()
    seconds = time.monotonic() - t0
    record_result("worker kill -9 mid-flight", CASES, report.archived, CASES - report.archived,
                  report.duplicated_keys, seconds,
                  f"{marks.cases_touched} cases with timed-out/retried tasks; {stats.retries} client retries")
    # the kill hit work in flight: tasks the dead worker held timed out and were retried elsewhere
    assert marks.cases_touched > 0, marks
    assert len(summaries) == CASES
    assert report.archived == CASES, f"lost {report.lost}"
    assert report.duplicated_keys == 0
    assert not report.missing_rows, report.missing_rows[:5]
    assert not report.mismatched, report.mismatched[:5]
    # each case: registered, accepted, assigned, withdrawn, archived - exactly once each
    for s in summaries.values():
        assert [e.kind for e in s.events] == ["registered", "accepted", "assigned", "withdrawn", "archived"]
