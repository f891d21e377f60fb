"""The README's API lines work as written: `complaints login` and the three `curl` lines, run by bash against a
real API process (its port and a fresh case number substituted)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.api import DATA_DIR, ROOT, api_process
from helpers.client import new_case_no, running_worker, task_queue
from temporalio.testing import WorkflowEnvironment

pytestmark = pytest.mark.devserver
EXAMPLE_CASE = "SX2026112000123"


def readme_api_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### The HTTP API in three lines", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block is not None
    return [ln for ln in block.group(1).splitlines() if ln.strip()]


def _run_bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


async def test_readme_curl_lines_run_as_written(
    dev_env: WorkflowEnvironment, pg_dsn: str, pg_pool: Any, tmp_path: Path
) -> None:
    lines = readme_api_lines()
    assert lines[0].startswith("TOKEN=$(.venv/bin/complaints login ")
    assert [ln.split()[0] for ln in lines[1:]] == ["curl", "curl", "curl"]
    case = new_case_no()
    reg = tmp_path / "registration.json"
    reg.write_text((ROOT / "schemas/examples/registration.json").read_text(encoding="utf-8").replace(EXAMPLE_CASE, case),
                   encoding="utf-8")
    q = task_queue()
    async with running_worker(dev_env.client, pg_pool, q), api_process(dev_env, pg_dsn, q) as api:
        port = api.base_url.rsplit(":", 1)[1]
        script = []
        for ln in lines:
            ln = ln.replace(".venv/bin/complaints", f"{sys.executable} -m clients.cli")
            ln = ln.replace("http://127.0.0.1:8000", api.base_url).replace(EXAMPLE_CASE, case)
            ln = ln.replace("@schemas/examples/registration.json", f"@{reg}")
            script.append(ln if not ln.startswith("curl") else ln + "; echo")
        env = {**api.env, "COMPLAINTS_DATA_DIR": str(DATA_DIR), "COMPLAINTS_API_PORT": port}
        proc = await asyncio.to_thread(_run_bash, "\n".join(script), env)
    assert proc.returncode == 0, proc.stderr
    registered, view, accepted = (json.loads(x) for x in proc.stdout.strip().splitlines())
    assert registered == {"case_no": case, "created": True}
    assert view["summary"]["stage"] == "acceptance" and "accept" in view["allowed_decisions"]
    assert accepted["summary"]["stage"] == "investigation" and accepted["summary"]["handling_unit"] == "SX-TY-XD"
