"""The API process logs in the project's format (`common.logs`): JSON lines by default, text when configured."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest
from helpers.api import api_process
from temporalio.testing import WorkflowEnvironment


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_the_api_writes_the_configured_log_format(
    dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: asyncpg.Pool, log_format: str
) -> None:
    queue = f"complaints-api-logs-{uuid.uuid4().hex[:8]}"
    extra = {"COMPLAINTS_LOG_FORMAT": log_format, "COMPLAINTS_LOG_LEVEL": "info"}
    async with api_process(dev_env, pg_dsn, queue, extra) as api:
        async with api.http() as http:
            assert (await http.get("/v1/cases", headers={"Authorization": "Bearer nonsense"})).status_code == 401
    assert api.log is not None
    text = api.log.read_text(encoding="utf-8")
    # the log file is named after the port, which an earlier run may have had: read from this run's first line
    mine = text[text.rfind("\n", 0, text.rindex("Started server process")) + 1:]
    lines = [line for line in mine.splitlines() if line.strip()]
    if log_format == "json":
        parsed = [json.loads(line) for line in lines]
        assert all(p["process"] == "api" and {"time", "level", "logger", "message"} <= p.keys() for p in parsed)
        assert any(p["logger"] == "uvicorn.error" and p["message"] == "Application startup complete." for p in parsed)
    else:
        assert " INFO uvicorn.error: Application startup complete." in mine
        assert not mine.lstrip().startswith("{")
