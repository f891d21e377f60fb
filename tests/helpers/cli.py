"""Running the `complaints` CLI in-process against a test server, as a person would type it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import Result
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from clients.cli import app

runner = CliRunner()


def _address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def invoke(env: WorkflowEnvironment, queue: str, *args: str) -> Result:
    """Run `complaints --address <dev> --task-queue <queue> ARGS` in a thread."""
    argv = ["--address", _address(env), "--task-queue", queue, *args]
    return await asyncio.to_thread(runner.invoke, app, argv)


def write_json(tmp_path: Path, name: str, data: object) -> str:
    p = tmp_path / name
    p.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(p)
