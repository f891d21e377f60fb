"""The workflow boundary: a raw JSON registration that is invalid fails the start at once, naming the field.

This is what an intake system in another language sees when it bypasses the Python client's validation:
no retry loop on an undecodable input, no case in the read model, and the number can be sent again fixed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from helpers.temporal import time_skipping_server
from temporalio.client import WorkflowFailureError, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from common.converter import make_data_converter
from workers.main import build_worker
from workflows import ComplaintCase
from workflows.client import start_case

EXAMPLE = Path(__file__).resolve().parents[2] / "schemas" / "examples" / "registration.json"


@pytest_asyncio.fixture(scope="module")
async def boundary_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this module only, its clock at the machine's: the cases register at the example's
    date, and the session's shared server is wherever other tests' result waits skipped its clock to (possibly
    past the published calendars)."""
    async with time_skipping_server(make_data_converter()) as env:
        yield env


def _example(case_no: str | None = None) -> dict:
    raw = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    if case_no is not None:
        raw["case_no"] = case_no
    return raw


@pytest.mark.parametrize(
    ("field", "mutate"),
    [
        ("complainant.id_number", lambda r: r["complainant"].update(id_number="140105199003071235")),
        ("complainant.phone", lambda r: r["complainant"].update(phone="12345")),
        ("received_at", lambda r: r.update(received_at="2026-11-20T09:00:00")),
        ("channel", lambda r: r.update(channel="fax")),
    ],
)
async def test_invalid_raw_registration_fails_fast_naming_the_field(
    boundary_env: WorkflowEnvironment, pg_pool: asyncpg.Pool, field: str, mutate
) -> None:
    queue = f"boundary-{uuid.uuid4()}"
    case_no = _example()["case_no"][:-5] + f"{uuid.uuid4().int % 100000:05d}"
    raw = _example(case_no)
    mutate(raw)
    async with build_worker(boundary_env.client, pg_pool, task_queue=queue):
        handle = await boundary_env.client.start_workflow("ComplaintCase", raw, id=f"complaint-{case_no}",
                                                    task_queue=queue)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        cause = failure.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "InvalidInput"
        assert field in cause.message
        assert await pg_pool.fetchval("SELECT count(*) FROM cases WHERE case_no = $1", case_no) == 0
        assert await pg_pool.fetchval("SELECT count(*) FROM case_events WHERE case_no = $1", case_no) == 0

        # the intake system fixes the payload and sends the same number again: the case opens
        from cases.models import ComplaintRegistration

        fixed = ComplaintRegistration.model_validate(_example(case_no))
        again = await start_case(boundary_env.client, fixed, task_queue=queue)
        assert again.result_run_id != handle.result_run_id
        summary = None
        for _ in range(100):  # the summary query answers once registration (calendar, directory) is done
            try:
                summary = await again.query(ComplaintCase.summary)
                break
            except WorkflowQueryFailedError:
                await asyncio.sleep(0.1)
        assert summary is not None and summary.case_no == case_no and summary.stage == "acceptance"
        await again.terminate("test done")
