"""Helpers shared by the client, CLI and interop tests: unique case numbers, example payloads, a real worker.

No tests here. Workers always use `workers.sandbox.workflow_runner()` (asyncpg must never be re-imported
inside the workflow sandbox).
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from workers.main import build_worker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "schemas" / "examples"
_used: set[str] = set()
_rng = random.Random(uuid.uuid4().int)


def new_case_no(day: str | None = None) -> str:
    """A case number not used before in this test session (date part in Oct/Nov 2026)."""
    while True:
        d = day or f"202610{_rng.randint(1, 31):02d}"
        no = f"SX{d}{_rng.randint(1, 99_999):05d}"
        if no not in _used:
            _used.add(no)
            return no


def example(rel: str) -> dict[str, Any]:
    """A copy of `schemas/examples/<rel>`."""
    return copy.deepcopy(json.loads((EXAMPLES / rel).read_text(encoding="utf-8")))


def registration(**over: Any) -> dict[str, Any]:
    """The example registration with a fresh case number (and top-level overrides)."""
    data = example("registration.json")
    data["case_no"] = new_case_no()
    data.update(over)
    return data


def decision(name: str, **over: Any) -> dict[str, Any]:
    """The example payload of update `name` (with top-level overrides)."""
    data = example(f"updates/{name}.json")
    data.update(over)
    return data


def task_queue() -> str:
    """A task queue of its own for one test, so workers of different tests never share work."""
    return f"complaints-test-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def running_worker(client: Client, pool: Any, queue: str) -> AsyncIterator[Worker]:
    """A real worker (all workflows and activities) on `queue` while the block runs."""
    worker = build_worker(client, pool, task_queue=queue)
    async with worker:
        yield worker
