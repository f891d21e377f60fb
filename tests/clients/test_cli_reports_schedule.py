"""`complaints reports schedule` against the dev server and a migrated, seeded database: it creates the bureau's
report Schedule (08:30 Beijing time, `BureauReports` on the given task queue), updates it when run again, and
refuses an unknown bureau naming `--jurisdiction` before touching any Schedule."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from helpers.cli import runner
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from clients.cli import app
from common.contract import REPORTS_WORKFLOW_TYPE, reports_schedule_id


async def schedule(env: WorkflowEnvironment, dsn: str, queue: str, *args: str) -> tuple[int, str, str]:
    argv = ["--address", env.client.service_client.config.target_host, "--task-queue", queue,
            "--database-url", dsn, "reports", "schedule", *args]
    res = await asyncio.to_thread(runner.invoke, app, argv)
    return res.exit_code, res.stdout, res.stderr


async def test_schedule_created_then_updated(dev_env: WorkflowEnvironment, pg_dsn: str) -> None:
    queue = f"reports-cli-{uuid.uuid4().hex[:8]}"
    handle = dev_env.client.get_schedule_handle(reports_schedule_id("CN-SX"))
    try:
        code, out, err = await schedule(dev_env, pg_dsn, queue, "-j", "CN-SX")
        assert code == 0, err
        assert "CN-SX: schedule created" in out
        code, out, err = await schedule(dev_env, pg_dsn, queue)  # every bureau of the directory
        assert code == 0 and "CN-SX: schedule updated" in out, err
        desc = await handle.describe()
        action = desc.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == REPORTS_WORKFLOW_TYPE and action.task_queue == queue
        assert desc.schedule.spec.time_zone_name == "Asia/Shanghai"
    finally:
        await handle.delete()


async def test_unknown_bureau_is_refused_naming_the_option(dev_env: WorkflowEnvironment, pg_dsn: str) -> None:
    code, _, err = await schedule(dev_env, pg_dsn, "unused", "-j", "CN-SX", "-j", "CN-ZZ")
    assert code == 1 and "error: --jurisdiction: CN-ZZ" in err
    with pytest.raises(RPCError):  # not even the known one was created
        await dev_env.client.get_schedule_handle(reports_schedule_id("CN-SX")).describe()
