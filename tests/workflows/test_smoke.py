"""Smoke tests: each fixture talks to a real server (time-skipping, dev server, PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workers.sandbox import workflow_runner


@workflow.defn
class SleepFifteenDays:
    @workflow.run
    async def run(self) -> str:
        start = workflow.now()
        await workflow.sleep(timedelta(days=15))
        return str((workflow.now() - start).days)


async def test_time_skipping_sleeps_fifteen_days_instantly(ts_env: WorkflowEnvironment) -> None:
    queue = f"smoke-{uuid.uuid4()}"
    async with Worker(ts_env.client, task_queue=queue, workflows=[SleepFifteenDays], workflow_runner=workflow_runner()):
        before = await ts_env.get_current_time()
        days = await ts_env.client.execute_workflow(
            SleepFifteenDays.run, id=f"smoke-{uuid.uuid4()}", task_queue=queue
        )
        after = await ts_env.get_current_time()
    assert days == "15"
    assert after - before >= timedelta(days=15)


async def test_dev_server_has_search_attributes_and_visibility(dev_env: WorkflowEnvironment) -> None:
    queue = f"smoke-{uuid.uuid4()}"
    wf_id = f"smoke-{uuid.uuid4()}"
    async with Worker(dev_env.client, task_queue=queue, workflows=[SleepFifteenDays], workflow_runner=workflow_runner()):
        handle = await dev_env.client.start_workflow(SleepFifteenDays.run, id=wf_id, task_queue=queue)
        desc = await handle.describe()
        assert desc.status == WorkflowExecutionStatus.RUNNING
        await handle.terminate("smoke test done")
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    resp = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=dev_env.client.namespace)
    )
    for name in ("CaseStage", "SlaLevel", "DueAt", "Jurisdiction", "HandlingUnit", "Channel", "CaseKind"):
        assert name in resp.custom_attributes


async def test_postgres_row_round_trip(pg_pool: asyncpg.Pool) -> None:
    async with pg_pool.acquire() as conn:
        await conn.execute("CREATE TABLE smoke (id int PRIMARY KEY, note text)")
        await conn.execute("INSERT INTO smoke VALUES ($1, $2)", 1, "投诉")
        assert await conn.fetchval("SELECT note FROM smoke WHERE id = 1") == "投诉"
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") >= 0
