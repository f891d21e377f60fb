"""`BureauReports` and its Schedule. On the time-skipping server: the workflow publishes nothing on a Saturday
or a holiday, publishes the daily report on a makeup Saturday (调休), and adds the monthly report on a month's
first working day, each decided from the bureau's calendar snapshot. On the dev server: the real Schedule, whose
missed runs are started by a backfill (what the server does for runs missed while it was down): each run
reports on its scheduled day, skips the weekend, and a day caught up twice is stored and announced once.

`COMPLAINTS_RECORD_HISTORIES=1` writes the first-working-day run to `tests/workflows/histories/` for the replay
test (encrypted with the fixed test key of `helpers.cases`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import asyncpg
import pytest_asyncio
from helpers.cases import fixed_key_data_converter
from helpers.client import running_worker, task_queue
from helpers.dashboard_seed import seed_dashboard
from helpers.histories import record_history
from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from common.contract import reports_schedule_id
from workflows.payloads import ReportsInput, ReportsResult
from workflows.reports import BureauReports
from workflows.schedules import CATCHUP_WINDOW, ensure_report_schedule

BUREAU = "CN-SX"


@pytest_asyncio.fixture(scope="module")
async def seeded(pg_dsn: str, pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await seed_dashboard(pg_dsn)
    return pg_pool


async def run_day(env: WorkflowEnvironment, pool: asyncpg.Pool, day: date, history: str | None = None) -> ReportsResult:
    """Run the reports of `day`; with `history`, on the fixed test key, and record it when asked to."""
    queue = task_queue()
    client = env.client if history is None else Client(**{**env.client.config(),
                                                          "data_converter": fixed_key_data_converter()})
    async with running_worker(client, pool, queue):
        handle = await client.start_workflow(
            BureauReports.run, ReportsInput(jurisdiction=BUREAU, day=day), id=f"reports-test-{uuid.uuid4()}",
            task_queue=queue, result_type=ReportsResult,
        )
        result = await handle.result()
    if history is not None:
        await record_history(handle, history)
    return result


async def stored(pool: asyncpg.Pool, day: date) -> list[str]:
    rows = await pool.fetch("SELECT kind FROM reports WHERE jurisdiction = $1 AND published_on = $2 ORDER BY kind",
                            BUREAU, day)
    return [r["kind"] for r in rows]


async def test_saturday_and_holiday_publish_nothing(ts_env: WorkflowEnvironment, seeded: asyncpg.Pool) -> None:
    saturday = await run_day(ts_env, seeded, date(2026, 3, 14))
    holiday = await run_day(ts_env, seeded, date(2026, 10, 2))
    assert (saturday.day_kind, saturday.reports) == ("weekend", [])
    assert (holiday.day_kind, holiday.reports) == ("holiday", [])
    assert await stored(seeded, date(2026, 3, 14)) == [] and await stored(seeded, date(2026, 10, 2)) == []


async def test_makeup_saturday_publishes_the_daily_report(ts_env: WorkflowEnvironment, seeded: asyncpg.Pool) -> None:
    result = await run_day(ts_env, seeded, date(2026, 2, 14))
    assert result.day_kind == "makeup"
    assert [r.report_id for r in result.reports] == ["daily-CN-SX-2026-02-14"]
    row = await seeded.fetchrow("SELECT period_start, period_end FROM reports WHERE report_id = $1",
                                "daily-CN-SX-2026-02-14")
    assert row is not None and (row["period_start"], row["period_end"]) == (date(2026, 2, 13), date(2026, 2, 13))


async def test_first_working_day_of_the_month_adds_the_monthly_report(
    ts_env: WorkflowEnvironment, seeded: asyncpg.Pool
) -> None:
    result = await run_day(ts_env, seeded, date(2026, 3, 2), history="reports_first_working_day")
    assert [r.report_id for r in result.reports] == ["daily-CN-SX-2026-03-02", "monthly-CN-SX-2026-03-02"]
    assert all(r.stored for r in result.reports)
    assert await stored(seeded, date(2026, 3, 2)) == ["daily", "monthly"]


async def test_a_bureau_closure_is_a_day_off_too(ts_env: WorkflowEnvironment, seeded: asyncpg.Pool) -> None:
    """The bureau's own calendar (PostgreSQL) reaches the decision through the snapshot activity."""
    await seeded.execute(
        "INSERT INTO bureau_calendar_days (jurisdiction, day, working, note, recorded_by)"
        " VALUES ($1, $2, false, '系统割接闭馆', 'test')", BUREAU, date(2026, 3, 25))
    result = await run_day(ts_env, seeded, date(2026, 3, 25))
    assert (result.day_kind, result.reports) == ("closure", [])


def beijing(local_day: date, hour: int, minute: int = 0) -> datetime:
    """A Beijing wall-clock time (an aware instant)."""
    return datetime(local_day.year, local_day.month, local_day.day, hour, minute, tzinfo=timezone(timedelta(hours=8)))


async def finished_runs(env: WorkflowEnvironment, queue: str, expected: int) -> list[ReportsResult]:
    """The results of the Schedule's runs on `queue` once `expected` of them completed (visibility catches up)."""
    query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Completed'"
    deadline = time.monotonic() + 90
    while True:
        runs = [w async for w in env.client.list_workflows(query)]
        if len(runs) >= expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    return [await env.client.get_workflow_handle(w.id, run_id=w.run_id, result_type=ReportsResult).result()
            for w in runs]


async def test_missed_days_are_caught_up_once(dev_env: WorkflowEnvironment, seeded: asyncpg.Pool) -> None:
    queue = task_queue()
    client = dev_env.client
    handle = client.get_schedule_handle(reports_schedule_id(BUREAU))
    assert await ensure_report_schedule(client, BUREAU, queue) == "created"
    try:
        assert await ensure_report_schedule(client, BUREAU, queue) == "updated"
        desc = await handle.describe()
        spec = desc.schedule.spec
        assert spec.time_zone_name == "Asia/Shanghai"
        assert [(c.hour[0].start, c.minute[0].start) for c in spec.calendars] == [(8, 30)]
        assert desc.schedule.policy.catchup_window == CATCHUP_WINDOW
        await handle.pause(note="the test drives the runs by backfill")
        async with running_worker(client, seeded, queue):
            # the server was down from Friday night to Monday 09:00: Saturday's, Sunday's and Monday's runs
            await handle.backfill(ScheduleBackfill(
                start_at=beijing(date(2026, 3, 13), 20), end_at=beijing(date(2026, 3, 16), 9),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            ))
            first = await finished_runs(dev_env, queue, 3)
            # Monday caught up a second time (an operator's backfill on top of the server's catch-up)
            await handle.backfill(ScheduleBackfill(
                start_at=beijing(date(2026, 3, 16), 8), end_at=beijing(date(2026, 3, 16), 9),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            ))
            runs = await finished_runs(dev_env, queue, 4)
    finally:
        await handle.delete()
    assert sorted((r.day, r.day_kind) for r in first) == [
        (date(2026, 3, 14), "weekend"), (date(2026, 3, 15), "weekend"), (date(2026, 3, 16), "workday")]
    monday = [r for r in runs if r.day == date(2026, 3, 16)]
    # two runs for Monday, one report: the second run finds it stored and queues nothing
    assert sorted(o.stored for r in monday for o in r.reports) == [False, True]
    assert await stored(seeded, date(2026, 3, 16)) == ["daily"]
    assert await stored(seeded, date(2026, 3, 14)) == [] and await stored(seeded, date(2026, 3, 15)) == []
    supervisors = await seeded.fetchval(
        "SELECT count(DISTINCT supervisor_id) FROM org_units WHERE jurisdiction = $1", BUREAU)
    assert await seeded.fetchval(
        "SELECT count(*) FROM notifications WHERE case_no = 'daily-CN-SX-2026-03-16'") == supervisors
    failed = [w async for w in client.list_workflows(f"TaskQueue = '{queue}' AND ExecutionStatus != 'Completed'")]
    assert failed == []
