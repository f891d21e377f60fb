"""Reliability: PostgreSQL (the read model) unavailable for ~30 s under load loses and doubles nothing.

The test owns a PostgreSQL server (not the session one) and stops it with `pg_ctl stop` while cases are being
driven (register, accept with a unit, withdraw) through a real worker on the Temporal dev server; 30 s later it
starts it again on the same data directory and port.

Proves: the activities fail and are retried with backoff (the decisions wait, none is lost; the workflows
keep their state in Temporal); meanwhile the dashboard's query layer raises `DataSourceUnavailable` and the
Streamlit app shows "数据源不可用" instead of a traceback; when PostgreSQL returns, the read model catches up:
every case archived, every timeline event exactly once in `case_events`, every `cases` row at the final version.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from helpers.cases import CST, DISPATCHER, HANDLING_UNIT, INTAKE, registration
from helpers.reliability import (
    DriveStats,
    audit,
    fault_marks,
    record_result,
    retrying,
    stop_postgres,
    unique_case_numbers,
    update,
)
from temporalio.testing import WorkflowEnvironment

from cases.models import AcceptDecision, CaseSummary, WithdrawDecision
from common.settings import Settings
from dashboard import queries as q
from dashboard.db import DataSourceUnavailable, run_queries
from devstack.pgserver import EmbeddedPostgres
from workers.main import build_worker
from workflows.client import start_case

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(360)]

CASES = 40
CONCURRENCY = 10
OUTAGE_SECONDS = 30
APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


# The app runs in a process of its own: Python 3.11's traceback formatting parses source with `ast` while the
# worker logs the outage's failed activities, and `ast.parse` in two threads at once can fail spuriously
# ("AST constructor recursion depth mismatch", CPython gh-106905), which would break Streamlit's script compile.
_APP_WHILE_DOWN = """
import json, sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=60)
at.run()
print(json.dumps({"exception": [str(e.value) for e in at.exception],
                  "texts": [e.value for e in [*at.error, *at.warning, *at.info]]}))
"""


def _dashboard_while_down(dsn: str) -> dict[str, list[str]]:
    """What the dashboard shows (its error, warning and info texts, and any exception) with the database down."""
    env = {**os.environ, "COMPLAINTS_DATABASE_URL": dsn, "COMPLAINTS_MODE": "embedded",
           "COMPLAINTS_DASHBOARD_REFRESH_SECONDS": "0"}
    proc = subprocess.run([sys.executable, "-c", _APP_WHILE_DOWN, APP], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


async def test_postgres_outage_under_load(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    from activities.db import create_pool
    from activities.seed import prepare_database

    t0 = time.monotonic()
    pg = EmbeddedPostgres(tmp_path / "pg")
    pg.start()
    dsn = pg.create_database("complaints")
    await prepare_database(dsn)
    pool = await create_pool(dsn, min_size=1, max_size=10)
    client = dev_env.client
    tq = f"complaints-rel-pg-{uuid.uuid4().hex[:8]}"
    stats = DriveStats()
    deadline = time.monotonic() + 300
    sem = asyncio.Semaphore(CONCURRENCY)
    summaries: dict[str, CaseSummary] = {}
    outage_over = asyncio.Event()
    seen: dict[str, object] = {}

    async def drive(no: str) -> None:
        reg = registration(case_no=no, received_at=datetime.now(CST).isoformat())
        async with sem:
            h = await retrying(no, lambda: start_case(client, reg, task_queue=tq), stats, deadline)
            await update(h, "accept", AcceptDecision(actor=DISPATCHER, unit_id=HANDLING_UNIT), stats, deadline)
            await update(h, "withdraw", WithdrawDecision(actor=INTAKE, reason="reliability test"), stats, deadline)
            summaries[no] = await retrying(f"{no} result", h.result, stats, deadline, per_try=60)

    async def outage() -> None:
        # half-way, off the batch boundary: the cases run nearly in lockstep, so at a multiple of CONCURRENCY
        # cases every case in flight would be registering; here some are mid-decision too
        await stats.until_updates(CASES // 2 + CONCURRENCY // 2)
        await asyncio.to_thread(stop_postgres, pg)
        down_at = time.monotonic()
        seen["updates_at_stop"] = stats.updates_done
        # the dashboard's data layer: a clean DataSourceUnavailable, and the app says so
        try:
            await asyncio.to_thread(run_queries, dsn, lambda conn: q.open_by_level(conn, None))
        except DataSourceUnavailable as exc:
            seen["query_error"] = exc
        seen["app"] = await asyncio.to_thread(_dashboard_while_down, dsn)
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        seen["updates_during_outage"] = stats.updates_done - int(seen["updates_at_stop"])  # type: ignore[arg-type]
        await asyncio.to_thread(pg.start)
        outage_over.set()

    try:
        async with build_worker(client, pool, Settings(task_queue=tq)):
            chaos = asyncio.create_task(outage())
            results = await asyncio.gather(*(drive(n) for n in unique_case_numbers(CASES)),
                                           return_exceptions=True)
            await chaos
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, failures[:3]
        report = await audit(dsn, summaries)
        marks = await fault_marks(client, [f"complaint-{no}" for no in summaries])
    finally:
        await pool.close()
        pg.destroy()
    record_result(f"PostgreSQL down {OUTAGE_SECONDS} s under load", CASES, report.archived,
                  CASES - report.archived, report.duplicated_keys, time.monotonic() - t0,
                  f"{marks.retried_activities} activity and {marks.retried_local_activities} local activity "
                  f"retries in {marks.cases_touched} cases; "
                  f"{seen.get('updates_during_outage')} decisions completed while down")

    # Which work the outage meets depends on timing: registration loads or a decision's writes. Both are local
    # activities on cases that register now (retried after a workflow timer), regular activities (retried by the
    # server) on the older paths; either kind of retry proves the fault hit.
    assert marks.retried_activities + marks.retried_local_activities > 0, \
        f"the outage hit no activity: the fault was not injected under load ({marks})"
    assert isinstance(seen.get("query_error"), DataSourceUnavailable)
    app = seen["app"]
    assert isinstance(app, dict)
    assert not app["exception"], app["exception"]
    texts = " ".join(app["texts"])
    assert "数据源不可用" in texts, texts
    assert report.archived == CASES == len(summaries)
    assert report.duplicated_keys == 0 and not report.missing_rows and not report.mismatched, report
