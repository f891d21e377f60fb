"""Interop proof: a case started and driven with the `temporal` CLI only, from the published example payloads.

This is what an intake system in Java or Go does: JSON payloads on task queue `complaints`, workflow type
`ComplaintCase`, id `complaint-<case_no>`, updates by name, the `summary` query. The CLI cannot run our
Python encryption codec, so the worker here uses the plain pydantic JSON converter (production intake
systems encrypt with the same codec, or point the CLI at the codec server with `--codec-endpoint`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.client import EXAMPLES, running_worker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cases.models import CaseSummary, ComplaintRegistration
from devstack.binaries import temporal_cli

pytestmark = pytest.mark.devserver

CASE_NO = json.loads((EXAMPLES / "registration.json").read_text(encoding="utf-8"))["case_no"]
WID = f"complaint-{CASE_NO}"


def _cli(address: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [temporal_cli(), *args, "--address", address, "--namespace", "default"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"temporal {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


async def _acli(address: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_cli, address, *args, check=check)


def _query_summary(address: str) -> CaseSummary:
    proc = _cli(address, "workflow", "query", "--workflow-id", WID, "--name", "summary", "-o", "json")
    out: Any = json.loads(proc.stdout)
    result = out["queryResult"][0] if isinstance(out, dict) and "queryResult" in out else out
    return CaseSummary.model_validate(result)


async def _summary_when_ready(address: str) -> CaseSummary:
    for _ in range(100):
        try:
            return await asyncio.to_thread(_query_summary, address)
        except AssertionError:
            await asyncio.sleep(0.1)  # the case is still registering
    return await asyncio.to_thread(_query_summary, address)


async def test_temporal_cli_starts_and_drives_a_case(dev_env: WorkflowEnvironment, pg_pool) -> None:  # noqa: ANN001
    address = dev_env.client.service_client.config.target_host
    plain = await Client.connect(address, namespace="default", data_converter=pydantic_data_converter)
    # the example payload is what the workflow accepts
    ComplaintRegistration.model_validate_json((EXAMPLES / "registration.json").read_text(encoding="utf-8"))
    async with running_worker(plain, pg_pool, "complaints"):
        start = [
            "workflow", "start", "--type", "ComplaintCase", "--task-queue", "complaints",
            "--workflow-id", WID, "--input-file", str(EXAMPLES / "registration.json"), "-o", "json",
        ]
        first_run = json.loads((await _acli(address, *start)).stdout)["runId"]
        # starting again with the same id never creates a second case: either a conflict error or the same run
        again = await _acli(address, *start, check=False)
        if again.returncode == 0:
            assert json.loads(again.stdout)["runId"] == first_run
        listed = await _acli(address, "workflow", "count", "--query", f"WorkflowId = '{WID}'")
        assert listed.stdout.strip().endswith("1"), listed.stdout

        first = await _summary_when_ready(address)
        assert first.case_no == CASE_NO and first.stage.value == "acceptance"
        assert first.complainant is not None and "*" in first.complainant.id_number  # masked

        # a refused decision: exit code != 0, the validator's reason in the output, nothing in history
        refused = await _acli(
            address, "workflow", "update", "execute", "--workflow-id", WID, "--name", "send_feedback",
            "--input-file", str(EXAMPLES / "updates" / "send_feedback.json"), check=False,
        )
        assert refused.returncode != 0
        assert "send_feedback refused" in refused.stderr + refused.stdout
        # a payload that does not fit the model is refused at the workflow boundary
        bad = await _acli(
            address, "workflow", "update", "execute", "--workflow-id", WID, "--name", "accept",
            "--input", json.dumps({"actor": {"id": "x", "role": "janitor", "unit_id": "SX"}}), check=False,
        )
        assert bad.returncode != 0

        accepted = await _acli(
            address, "workflow", "update", "execute", "--workflow-id", WID, "--name", "accept",
            "--input-file", str(EXAMPLES / "updates" / "accept.json"), "-o", "json",
        )
        result = json.loads(accepted.stdout)
        after = CaseSummary.model_validate(result.get("result", result))
        assert after.stage.value == "investigation" and after.handling_unit == "SX-TY-XD"

        await _acli(
            address, "workflow", "update", "execute", "--workflow-id", WID, "--name", "complete_investigation",
            "--input-file", str(EXAMPLES / "updates" / "complete_investigation.json"),
        )
        s = await asyncio.to_thread(_query_summary, address)
        assert s.stage.value == "feedback" and s.investigation is not None
        kinds = [e.kind for e in s.events]
        assert kinds[:1] == ["registered"] and "accepted" in kinds and "investigation_completed" in kinds

        history = [ev async for ev in plain.get_workflow_handle(WID).fetch_history_events()]
        accepted_updates = [
            ev.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            for ev in history
            if ev.HasField("workflow_execution_update_accepted_event_attributes")
        ]
        assert accepted_updates == ["accept", "complete_investigation"]


def test_example_files_exist_for_the_walkthrough() -> None:
    assert Path(EXAMPLES / "registration.json").exists()
    for name in ("accept", "complete_investigation", "send_feedback"):
        assert (EXAMPLES / "updates" / f"{name}.json").exists()
