"""A real worker process writes JSON lines, and every line from a case's workflow or activities names the case."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers.cases import CST, DISPATCHER, registration
from helpers.reliability import WorkerProcess, fresh_database, unique_case_numbers, wait_for_poller
from temporalio.testing import WorkflowEnvironment

from cases.models import AcceptDecision, Stage
from common.contract import workflow_id
from devstack.pgserver import EmbeddedPostgres
from workflows.client import start_case
from workflows.complaint_case import ComplaintCase


def _lines(log: Path) -> list[dict[str, Any]]:
    """Every line of the log as a JSON object; a line that is not one fails the test with the line shown."""
    lines = []
    for number, text in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            raise AssertionError(f"{log.name}:{number} is not JSON: {text!r}") from None
        assert isinstance(line, dict), f"{log.name}:{number} is not an object: {text!r}"
        lines.append(line)
    return lines


async def test_worker_log_lines_are_json_with_the_case_number(
    dev_env: WorkflowEnvironment, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    client = dev_env.client
    dsn = await fresh_database(pg_server.dsn("postgres"), pg_server.dsn)
    tq = f"complaints-logs-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(
        {
            "COMPLAINTS_TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "COMPLAINTS_DATABASE_URL": dsn,
            "COMPLAINTS_TASK_QUEUE": tq,
            "COMPLAINTS_DATA_DIR": os.environ["COMPLAINTS_DATA_DIR"],
            "COMPLAINTS_MODE": "embedded",
            "COMPLAINTS_LOG_FORMAT": "json",
            "COMPLAINTS_LOG_LEVEL": "info",
        },
        tmp_path / "worker.log",
    )
    worker.start()
    try:
        await wait_for_poller(client, tq, worker.pid)
        (case_no,) = unique_case_numbers(1)
        handle = await start_case(
            client, registration(case_no=case_no, received_at=datetime.now(CST).isoformat()), task_queue=tq
        )
        await handle.execute_update(ComplaintCase.accept, AcceptDecision(actor=DISPATCHER))
        for _ in range(100):
            if (await handle.query(ComplaintCase.summary)).stage != Stage.acceptance:
                break
            await asyncio.sleep(0.1)
    finally:
        worker.stop()  # SIGTERM: the worker drains and its last lines reach the file

    lines = _lines(worker.log)
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        datetime.fromisoformat(line["time"])
    assert any(line["logger"] == "complaints.worker" and tq in line["message"] for line in lines)

    ours = [line for line in lines if line.get("workflow_id") == workflow_id(case_no)]
    from_workflow = [line for line in ours if line["logger"] == "temporalio.workflow"]
    from_activities = [line for line in ours if line["logger"] == "temporalio.activity"]
    assert from_workflow and from_activities, ours
    # registration and acceptance, each written by the workflow and persisted by an activity
    assert len(from_workflow) >= 2 and len(from_activities) >= 2, ours
    assert all(line["case_no"] == case_no for line in ours)
    assert all(line["activity_type"] == "persist_case_changes" for line in from_activities)
    assert all(line["workflow_type"] == "ComplaintCase" for line in ours)
    # the context lives in the fields, not appended to the message as the SDK does for plain text
    assert not any("workflow_id" in line["message"] for line in ours)
    # nothing from any workflow or activity lacks its case number
    temporal = [line for line in lines if line["logger"].startswith(("temporalio.workflow", "temporalio.activity"))]
    assert all("case_no" in line for line in temporal), temporal
