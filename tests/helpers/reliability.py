"""Fault-injection harness: a Temporal dev server and workers as real subprocesses, fresh databases on a real
PostgreSQL, a case driver that survives faults (idempotent update ids, retries until a deadline), the audit
checks every scenario ends with, and the result rows `python -m devstack.reliability` prints as a table.

No mocks: faults are `kill -9` of a worker, SIGTERM/SIGKILL of the dev server, `pg_ctl stop` of PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from common.contract import SEARCH_ATTRIBUTES
from devstack.binaries import temporal_cli
from devstack.stack import wait_port as _stack_wait_port

ROOT = Path(__file__).resolve().parents[2]
RESULTS_ENV = "COMPLAINTS_RELIABILITY_RESULTS"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 60.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on `host:port` (the stack's own wait)."""
    try:
        _stack_wait_port(host, port, f"port {port}", timeout)
    except SystemExit as stop:
        raise TimeoutError(str(stop)) from None


def unique_case_numbers(n: int, province: str = "SX") -> list[str]:
    """`n` distinct valid case numbers on a random past date (no clash with other tests on shared servers)."""
    rnd = random.Random(uuid.uuid4().int)
    day = date(2001, 1, 1) + timedelta(days=rnd.randrange(6000))
    start = rnd.randrange(1, 99999 - n)
    return [f"{province}{day:%Y%m%d}{start + i:05d}" for i in range(n)]


# ------------------------------------------------------------------------------------------ processes


class DevServer:
    """`temporal server start-dev` on a SQLite file, as a subprocess in its own process group."""

    def __init__(self, db_file: Path, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.db_file = Path(db_file)
        self.port = port or free_port()
        self.http_port = free_port()
        self.metrics_port = free_port()
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.db_file.with_suffix(".log")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        argv = [
            temporal_cli(), "server", "start-dev",
            "--db-filename", str(self.db_file),
            "--ip", "127.0.0.1", "--port", str(self.port), "--headless",
            "--http-port", str(self.http_port), "--metrics-port", str(self.metrics_port),
            "--log-level", "error",
        ]
        for name, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **(self.env or {})},
        )
        out.close()
        wait_port(self.port, timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Send `sig` to the server's process group; escalate to SIGKILL after `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def worker_ports_env() -> dict[str, str]:
    """Free ports for a worker process's metrics and probes: the defaults may be taken by `make up` or by
    another worker of the same test."""
    return {"COMPLAINTS_WORKER_OPS_PORT": str(free_port()), "COMPLAINTS_WORKER_SDK_METRICS_PORT": str(free_port())}


class WorkerProcess:
    """`python -m workers` as a subprocess with the given `COMPLAINTS_*` environment."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**worker_ports_env(), **env}
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workers"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **self.env},
        )
        out.close()

    def kill9(self) -> None:
        """`kill -9` the worker: no graceful shutdown, in-flight activities and workflow tasks are lost."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()


async def wait_for_poller(client: Client, task_queue: str, pid: int | None = None, wait_seconds: float = 90) -> None:
    """Until a worker (the one with process id `pid`, if given) polls `task_queue` for workflow tasks."""
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        try:
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            if any(pid is None or p.identity.startswith(f"{pid}@") for p in resp.pollers):
                return
        except RPCError:
            pass
        await asyncio.sleep(0.3)
    raise TimeoutError(f"no worker{f' (pid {pid})' if pid else ''} polls {task_queue!r} after {wait_seconds:.0f}s")


# ------------------------------------------------------------------------------------------ databases


def stop_postgres(pg: Any, mode: str = "immediate") -> None:
    """Stop an `EmbeddedPostgres` abruptly (`pg_ctl stop -m immediate`: like a crash, no checkpoint). `pg_ctl`
    sometimes exits 1 although the server is gone; that counts as stopped, anything else is retried once."""
    try:
        pg.stop(mode)
    except subprocess.CalledProcessError as exc:
        if pg.pid() is None:
            return
        try:
            pg.stop("fast")
        except subprocess.CalledProcessError:
            raise RuntimeError(f"PostgreSQL did not stop: {exc.stderr or exc.stdout}") from exc


async def fresh_database(admin_dsn: str, dsn_for: Callable[[str], str], migrate: bool = True) -> str:
    """Create an empty database (migrated and seeded unless `migrate=False`); returns its DSN."""
    import asyncpg

    from activities.seed import prepare_database

    name = f"r_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = dsn_for(name)
    if migrate:
        await prepare_database(dsn)
    return dsn


# ------------------------------------------------------------------------------------------ driving


RETRYABLE = (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, asyncio.TimeoutError, TimeoutError)


@dataclass
class DriveStats:
    """What happened while driving cases through a fault."""

    updates_done: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    async def until_updates(self, n: int) -> None:
        """Wait until `n` decisions went through (the moment a scenario injects its fault)."""
        while self.updates_done < n:  # noqa: ASYNC110 - a counter bumped by many tasks; polling is simplest
            await asyncio.sleep(0.05)


async def retrying(
    what: str, call: Callable[[], Awaitable[Any]], stats: DriveStats, deadline: float, per_try: float = 20.0
) -> Any:
    """Run `call` until it succeeds; transport errors and timeouts are retried (fixed update ids make that
    safe), a refused update is not. Gives up at `deadline` (monotonic)."""
    delay = 0.2
    while True:
        try:
            return await asyncio.wait_for(call(), per_try)
        except WorkflowUpdateFailedError:
            raise
        except RETRYABLE as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: still failing at the deadline: {exc!r}") from exc
            stats.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def update(
    handle: WorkflowHandle[Any, Any], name: str, decision: BaseModel, stats: DriveStats, deadline: float
) -> Any:
    """Send update `name` with a fixed id (`<workflow id>:<name>`): a retry after a fault is deduplicated by
    the server and returns the first outcome, so nothing is applied twice."""
    uid = f"{handle.id}:{name}"
    out = await retrying(
        f"{handle.id} {name}",
        lambda: handle.execute_update(name, decision, id=uid, rpc_timeout=timedelta(seconds=15)),
        stats,
        deadline,
    )
    stats.updates_done += 1
    return out


# ------------------------------------------------------------------------------------------ checks


@dataclass
class AuditReport:
    """Audit trail vs. workflow timelines for a set of cases."""

    cases: int
    archived: int
    missing_rows: list[str]
    duplicated_keys: int
    mismatched: list[str]

    @property
    def lost(self) -> int:
        return self.cases - self.archived


async def audit(dsn: str, summaries: dict[str, Any]) -> AuditReport:
    """Compare PostgreSQL with the workflows' final summaries: one `case_events` row per timeline event (same
    seq and kind, nothing extra), no event key twice, and the `cases` row at the same version and stage."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        dup = await conn.fetch("SELECT event_key, count(*) FROM case_events GROUP BY event_key HAVING count(*) > 1")
        nos = list(summaries)
        rows = await conn.fetch(
            "SELECT case_no, seq, kind FROM case_events WHERE case_no = ANY($1::text[]) ORDER BY case_no, seq", nos
        )
        cases = {
            r["case_no"]: r
            for r in await conn.fetch("SELECT case_no, version, stage FROM cases WHERE case_no = ANY($1::text[])", nos)
        }
    finally:
        await conn.close()
    by_case: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        by_case.setdefault(r["case_no"], []).append((r["seq"], r["kind"]))
    mismatched, missing = [], []
    archived = 0
    for no, s in summaries.items():
        timeline = [(e.seq, e.kind) for e in s.events]
        if by_case.get(no, []) != timeline:
            mismatched.append(no)
        row = cases.get(no)
        if row is None:
            missing.append(no)
        elif row["version"] != len(timeline) or row["stage"] != s.stage.value:
            mismatched.append(no)
        if s.stage.value == "archived":
            archived += 1
    return AuditReport(len(summaries), archived, missing, len(dup), sorted(set(mismatched)))


@dataclass
class FaultMarks:
    """Traces a fault left in workflow histories: proof that the fault hit work in flight."""

    retried_activities: int = 0  # activity tasks started with attempt > 1
    retried_local_activities: int = 0  # local activities (registration loads, decision writes) with attempt > 1
    timed_out_activities: int = 0
    timed_out_workflow_tasks: int = 0
    cases_touched: int = 0  # histories with at least one of the above


def _local_activity_attempt(event: Any) -> int:
    """The attempt a local activity completed on, from its marker (0 for any other event). Local activities
    retry inside the worker, so their retries show only here, never as `ActivityTaskStarted` events."""
    if not event.HasField("marker_recorded_event_attributes"):
        return 0
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != "core_local_activity" or "data" not in marker.details:
        return 0
    return int(json.loads(marker.details["data"].payloads[0].data).get("attempt", 1))


async def fault_marks(client: Client, workflow_ids: list[str], concurrency: int = 8) -> FaultMarks:
    """Count retries and timeouts in the histories of `workflow_ids`."""
    marks = FaultMarks()
    sem = asyncio.Semaphore(concurrency)

    async def one(wid: str) -> None:
        async with sem:
            hist = await client.get_workflow_handle(wid).fetch_history()
        touched = False
        for e in hist.events:
            if e.HasField("activity_task_started_event_attributes") and e.activity_task_started_event_attributes.attempt > 1:
                marks.retried_activities += 1
                touched = True
            elif _local_activity_attempt(e) > 1:
                marks.retried_local_activities += 1
                touched = True
            elif e.HasField("activity_task_timed_out_event_attributes"):
                marks.timed_out_activities += 1
                touched = True
            elif e.HasField("workflow_task_timed_out_event_attributes"):
                marks.timed_out_workflow_tasks += 1
                touched = True
        marks.cases_touched += touched

    await asyncio.gather(*(one(w) for w in workflow_ids))
    return marks


def record_result(scenario: str, in_flight: int, completed: int, lost: int, duplicated: int, seconds: float,
                  note: str = "") -> None:
    """Append one row to the results file named by `COMPLAINTS_RELIABILITY_RESULTS` (if set)."""
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    row = {"scenario": scenario, "in_flight": in_flight, "completed": completed, "lost": lost,
           "duplicated": duplicated, "seconds": round(seconds, 1), "note": note,
           "at": datetime.now().isoformat(timespec="seconds")}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
