"""A real `python -m workers` process serves its metrics and probes over HTTP: the numbers a case causes show
up in `/metrics`, the Temporal SDK's own metrics on their port, and `/readyz` follows PostgreSQL down and up.

The worker runs as a subprocess because the SDK core binds its Prometheus port once per process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from helpers.client import ROOT, decision, registration, task_queue
from helpers.reliability import free_port
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from clients.case_client import CaseClient, DecisionRefused
from devstack.pgserver import EmbeddedPostgres


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(text: str, name: str, **labels: str) -> float | None:
    return _samples(text).get((name, frozenset(labels.items())))


async def _until(what: str, probe: Callable[[], Any], within: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await asyncio.to_thread(probe)
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what}: not within {within:.0f}s (last: {last!r})")


class WorkerProcess:
    def __init__(self, ops_port: int, sdk_port: int, log: Path, proc: subprocess.Popen[bytes]) -> None:
        self.ops = f"http://127.0.0.1:{ops_port}"
        self.sdk = f"http://127.0.0.1:{sdk_port}/metrics"
        self.log = log
        self.proc = proc

    def metrics(self) -> str:
        status, body = _get(f"{self.ops}/metrics")
        assert status == 200, body
        return body

    def readyz(self) -> tuple[int, dict[str, Any]]:
        status, body = _get(f"{self.ops}/readyz")
        return status, json.loads(body)


@contextmanager
def _worker_process(tmp_path: Path, dev_env: WorkflowEnvironment, dsn: str, queue: str) -> Iterator[WorkerProcess]:
    ops_port, sdk_port = free_port(), free_port()
    env = {
        **os.environ,
        "COMPLAINTS_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "COMPLAINTS_DATABASE_URL": dsn,
        "COMPLAINTS_TASK_QUEUE": queue,
        "COMPLAINTS_WORKER_OPS_PORT": str(ops_port),
        "COMPLAINTS_WORKER_SDK_METRICS_PORT": str(sdk_port),
        "COMPLAINTS_OUTBOX_TRANSPORT": "file",
    }
    log = tmp_path / f"worker-{queue}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield WorkerProcess(ops_port, sdk_port, log, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _ready(worker: WorkerProcess) -> None:
    def probe() -> bool:
        assert worker.proc.poll() is None, worker.log.read_text()
        try:
            return worker.readyz()[0] == 200
        except OSError:
            return False  # not listening yet

    await _until("the worker's /readyz answers 200", probe)


@asynccontextmanager
async def _running(tmp_path: Path, dev_env: WorkflowEnvironment, dsn: str) -> AsyncIterator[tuple[WorkerProcess, CaseClient]]:
    queue = task_queue()
    with _worker_process(tmp_path, dev_env, dsn, queue) as worker:
        await _ready(worker)
        yield worker, CaseClient(dev_env.client, task_queue=queue)


async def test_metrics_show_what_a_case_caused(dev_env: WorkflowEnvironment, pg_dsn: str, tmp_path: Path) -> None:
    async with _running(tmp_path, dev_env, pg_dsn) as (worker, cases):
        before = worker.metrics()
        assert _value(before, "complaints_decisions_total", decision="accept") == 0
        assert _value(before, "complaints_read_model_up") == 1

        case_no = await cases.register(registration())
        summary = await cases.decide(case_no, "accept", decision("accept"))
        with pytest.raises(DecisionRefused):  # accepted already: the validator refuses a second acceptance
            await cases.decide(case_no, "accept", decision("accept"))

        def projected() -> str | None:
            text = worker.metrics()
            count = _value(text, "complaints_open_cases", stage=summary.stage, sla_level=summary.sla_level)
            return text if count == 1 else None

        text = await _until(f"open_cases{{stage={summary.stage}, sla_level={summary.sla_level}}} == 1", projected)
        assert _value(text, "complaints_decisions_total", decision="accept") == 1
        assert _value(text, "complaints_decisions_refused_total", decision="accept") == 1
        assert _value(text, "complaints_decisions_total", decision="reject") == 0
        # the case's registration left the acceptance stage: nothing open there any more
        assert sum(v for (name, labels), v in _samples(text).items()
                   if name == "complaints_open_cases" and ("stage", "acceptance") in labels) == 0
        assert _value(text, "complaints_provisional_open_cases") == 0

        # the SDK's own metrics, on their own port, for this worker's task queue
        status, sdk = _get(worker.sdk)
        assert status == 200
        tasks = [v for (name, labels), v in _samples(sdk).items()
                 if name == "temporal_workflow_task_execution_latency_count"
                 and ("task_queue", cases.task_queue) in labels]
        assert tasks and sum(tasks) >= 2, sdk[:2000]  # the registration's workflow task and the acceptance's


async def test_readyz_follows_postgres_and_retries_are_counted(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    pg.start()
    try:
        pg.create_database("complaints")
        dsn = pg.dsn("complaints")
        async with _running(tmp_path, dev_env, dsn) as (worker, cases):
            status, body = worker.readyz()
            assert (status, body["checks"]) == (200, {"temporal_polling": "ok", "postgres": "ok"})
            assert _get(f"{worker.ops}/healthz")[0] == 200

            await asyncio.to_thread(pg.stop)
            status, body = worker.readyz()
            assert status == 503 and body["checks"]["postgres"].startswith("failing"), body
            assert body["checks"]["temporal_polling"] == "ok"
            assert _get(f"{worker.ops}/healthz")[0] == 200  # alive, just not ready
            down = worker.metrics()
            assert _value(down, "complaints_read_model_up") == 0
            assert _value(down, "complaints_open_cases", stage="dispatch", sla_level="on_track") is None

            # a registration while the database is down: its activities fail and are retried
            case_no = await cases.register(registration())
            await _until("an activity retry is counted", lambda: any(
                name == "complaints_activity_retries_total" and v >= 1
                for (name, _), v in _samples(worker.metrics()).items()))

            await asyncio.to_thread(pg.start)
            await _until("/readyz answers 200 again", lambda: worker.readyz()[0] == 200)
            conn = await asyncpg.connect(dsn)
            try:
                async def stored() -> bool:
                    return await conn.fetchval("SELECT count(*) FROM cases WHERE case_no = $1", case_no) == 1

                for _ in range(200):
                    if await stored():
                        break
                    await asyncio.sleep(0.3)
                assert await stored(), "the registration reached the read model once PostgreSQL was back"
            finally:
                await conn.close()
            assert _value(worker.metrics(), "complaints_read_model_up") == 1
    finally:
        await asyncio.to_thread(pg.destroy)
