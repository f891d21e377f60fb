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
from api_support import DISPATCHER, ROOT, ApiProcess, api_process
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from temporalio.testing import WorkflowEnvironment
from test_client_support import task_queue

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
    return subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest_asyncio.fixture(scope="module")
async def fuzzed_api(dev_env: WorkflowEnvironment, pg_dsn: str) -> AsyncIterator[ApiProcess]:
    # the worker runs in its own process: the generated tests are synchronous and would block an in-loop one
    q = task_queue()
    async with api_process(dev_env, pg_dsn, q) as api:
        worker = _worker(api.env)
        try:
            yield api
        finally:
            worker.terminate()
            worker.wait(timeout=30)


SCHEMA = schemathesis.openapi.from_path(str(PUBLISHED))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_operation_conforms(operation: Any, fuzzed_api: ApiProcess) -> None:
    headers = {"Authorization": f"Bearer {fuzzed_api.token(DISPATCHER)}"}
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def conforms(case: Any) -> None:
        if case.headers:
            case.headers.pop("X-API-Key", None)
            case.headers.pop("Authorization", None)
        response = case.call_and_validate(base_url=fuzzed_api.base_url, headers=headers, checks=CHECKS, timeout=60)
        statuses.append(response.status_code)

    try:
        conforms()
    except Exception:
        if fuzzed_api.log is not None:
            print(fuzzed_api.log.read_text(errors="replace")[-6000:])
        raise
    # the token was accepted: the generated requests reached the operation, not just the authentication
    assert statuses and set(statuses) != {401}, statuses
    print(operation.label, sorted(set(statuses)))
