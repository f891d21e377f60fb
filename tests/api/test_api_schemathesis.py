"""Property-based run of schemathesis against the published OpenAPI document, on a real API process with a
worker process: every operation, with a valid token; no 5xx, and every response (status, content type,
headers, body) is one the document declares."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import schemathesis
from helpers.api import DISPATCHER, INTAKE, ROOT, ApiProcess, api_process
from helpers.client import registration, task_queue
from helpers.reliability import worker_ports_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from temporalio.testing import WorkflowEnvironment

pytestmark = pytest.mark.devserver

PUBLISHED = ROOT / "schemas" / "openapi.json"
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env={**env, **worker_ports_env()},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest_asyncio.fixture(scope="module")
async def fuzzed_api(dev_env: WorkflowEnvironment, pg_dsn: str) -> AsyncIterator[tuple[ApiProcess, list[str]]]:
    """The API and a worker process, plus a few real cases the generated requests may aim at (so decisions
    reach the case's own rules, not only the input checks)."""
    # the worker runs in its own process: the generated tests are synchronous and would block an in-loop one
    q = task_queue()
    async with api_process(dev_env, pg_dsn, q) as api:
        worker = _worker(api.env)
        try:
            cases = []
            async with api.http() as http:
                for _ in range(4):
                    reg = registration()
                    r = await http.post("/v1/cases", json=reg, headers=api.headers(INTAKE))
                    assert r.status_code == 201, r.text
                    cases.append(reg["case_no"])
            yield api, cases
        finally:
            worker.terminate()
            worker.wait(timeout=30)


SCHEMA = schemathesis.openapi.from_path(str(PUBLISHED))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_operation_conforms(operation: Any, fuzzed_api: tuple[ApiProcess, list[str]]) -> None:
    api, real_cases = fuzzed_api
    headers = {"Authorization": f"Bearer {api.token(DISPATCHER)}"}
    statuses: list[int] = []

    @given(case=operation.as_strategy(), aim=st.sampled_from([None, *real_cases]))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def conforms(case: Any, aim: str | None) -> None:
        if case.headers:
            case.headers.pop("X-API-Key", None)
            case.headers.pop("Authorization", None)
        if aim is not None and case.path_parameters and "case_no" in case.path_parameters:
            case.path_parameters["case_no"] = aim
        response = case.call_and_validate(base_url=api.base_url, headers=headers, checks=CHECKS, timeout=60)
        statuses.append(response.status_code)

    try:
        conforms()
    except Exception:
        if api.log is not None:
            print(api.log.read_text(errors="replace")[-6000:])
        raise
    # the token was accepted: the generated requests reached the operation, not just the authentication
    assert statuses and set(statuses) != {401}, statuses
    print(operation.label, sorted(set(statuses)))
