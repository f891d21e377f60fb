"""Reliability: a burst of registrations (an intake system catching up after an outage, a morning's hotline
queue) sent at once through the public start path, `CaseClient.bulk_register` (what `complaints import` runs),
to a real worker process (`python -m workers`): once with a workflow cache that holds every case, once with the
default cache (1,000 workflows).

The worker runs as a supervisor that reads only a readiness line would run it: its stdout is a pipe nobody
reads. The SDK core reports every workflow task slower than `TEMPORAL_WORKFLOW_TASK_DURATION_WARN_SECONDS`
(here 0: every task) as a warning; written to that pipe from the core's workflow thread, the first 64 KiB of
them would block that thread and the worker would stop taking workflow tasks for good (issue 12). The worker
routes them to its log (`workers.main.forward_core_logs`), which the test checks.

Proves: every case is registered (its `cases` row in PostgreSQL) with one `registered` event, none stuck;
the registration time and rate go to the reliability table.

    COMPLAINTS_RELIABILITY_BURST=2000   # `make reliability` (python -m devstack.reliability) sets it
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
from helpers.cases import CST, registration_data
from helpers.reliability import (
    ROOT,
    WorkerProcess,
    fresh_database,
    record_result,
    unique_case_numbers,
    wait_for_poller,
)
from temporalio.testing import WorkflowEnvironment

from clients.case_client import CaseClient
from devstack.pgserver import EmbeddedPostgres

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1800)]

BURST = int(os.environ.get("COMPLAINTS_RELIABILITY_BURST", "300"))
DEFAULT_CACHE = 1000
IMPORT_CONCURRENCY = 500  # `complaints import --concurrency 500`
STALL_SECONDS = 120  # no case registered for this long: the worker is stuck


class PipedWorker(WorkerProcess):
    """`python -m workers` with stdout on a pipe that is never read (stderr, its log, goes to a file)."""

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers"], cwd=ROOT, stdout=subprocess.PIPE, stderr=out,
            stdin=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **self.env},
        )
        out.close()


async def _wait_registered(dsn: str, numbers: list[str], limit_s: float) -> int:
    """Until every case has its `cases` row; stops early when none was added for `STALL_SECONDS`."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + limit_s
        last, moved = -1, time.monotonic()
        while True:
            done = await conn.fetchval("SELECT count(*) FROM cases WHERE case_no = ANY($1::text[])", numbers)
            if done >= len(numbers) or time.monotonic() > deadline:
                return int(done)
            if done != last:
                last, moved = done, time.monotonic()
            elif time.monotonic() - moved > STALL_SECONDS:
                return int(done)
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


@pytest.mark.parametrize("cache", ["all", "default"])
async def test_burst_of_registrations_all_register(
    cache: str, dev_env: WorkflowEnvironment, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    client = dev_env.client
    dsn = await fresh_database(pg_server.dsn("postgres"), pg_server.dsn)
    tq = f"complaints-rel-burst-{uuid.uuid4().hex[:8]}"
    max_cached = BURST + 100 if cache == "all" else DEFAULT_CACHE
    env = {
        "COMPLAINTS_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "COMPLAINTS_DATABASE_URL": dsn,
        "COMPLAINTS_TASK_QUEUE": tq,
        "COMPLAINTS_DATA_DIR": os.environ["COMPLAINTS_DATA_DIR"],  # the test process's dev key file
        "COMPLAINTS_MODE": "embedded",
        "COMPLAINTS_WORKER_MAX_CACHED_WORKFLOWS": str(max_cached),
        "TEMPORAL_WORKFLOW_TASK_DURATION_WARN_SECONDS": "0",
    }
    worker = PipedWorker(env, tmp_path / "worker.log")
    worker.start()
    try:
        await wait_for_poller(client, tq, worker.pid)
        numbers = unique_case_numbers(BURST)
        received = datetime.now(CST).isoformat()
        lines = [
            CaseClient.offline().validate_registration(
                registration_data(case_no=no, received_at=received)
            ).model_dump_json()
            for no in numbers
        ]
        cases = CaseClient(client, task_queue=tq)
        t0 = time.monotonic()
        report = await cases.bulk_register(lines, concurrency=IMPORT_CONCURRENCY)
        starts_s = time.monotonic() - t0
        assert not report.errors, report.errors[:3]
        assert sorted(report.registered.values()) == sorted(numbers)
        registered = await _wait_registered(dsn, numbers, limit_s=1500)
        seconds = time.monotonic() - t0
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
    finally:
        worker.stop()
    conn = await asyncpg.connect(dsn)
    try:
        events = await conn.fetchval(
            "SELECT count(*) FROM case_events WHERE kind = 'registered' AND case_no = ANY($1::text[])", numbers
        )
    finally:
        await conn.close()
    log = worker.log.read_text(encoding="utf-8", errors="replace")
    record_result(f"burst of {BURST} starts, cache {max_cached}", BURST, registered, BURST - registered,
                  events - registered, seconds,
                  f"{registered / seconds:.1f} cases/s; starts returned in {starts_s:.0f} s "
                  f"(import concurrency {IMPORT_CONCURRENCY})")
    assert registered == BURST, f"only {registered} of {BURST} cases registered (stuck worker?)"
    assert events == BURST, f"{events} registered events for {BURST} cases"
    # the core's per-task warnings were produced and reached the worker's log, not the unread pipe
    assert "TMPRL1104" in log, log[-2000:]
