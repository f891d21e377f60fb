"""`complaints demo`: a bureau's past months on a simulated clock, its open cases live on the real server.

    python -m devstack.demo --cases 120 --start 2026-06-01 [--seed 7]     (what `complaints demo` runs)

The plans come from `clients.demo` (pure). The cases whose life ended before now run on a time-skipping test
server whose wall clock is shifted to the first receipt (`devstack.timeshift`), with the project's own worker
(`workers.main.build_worker`: the same workflows and activities) writing the configured read model. The
driver skips the server's clock to each planned instant and registers or decides there, so every decision,
SLA level change, 督办/通报 escalation, review and lapsed review window is recorded at its own past instant.
That server is stopped at the end: those closed cases live on in the read model only, like any case closed
longer than the dev server's retention (24 h) ago. The cases still open now are then registered on the
configured Temporal server as take-overs of their past (`clients.demo.run_live`).

This is development tooling (it needs the time-skipping server binary and a C compiler for the clock shim),
which is why `complaints demo` starts it as a separate process: the deployed client never imports a worker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowHandle

from activities.db import create_pool
from cases.models import DECISION_MODELS
from clients import demo
from clients.case_client import CaseClient
from common.contract import workflow_id
from common.converter import make_data_converter
from common.process import exit_now
from common.settings import Settings, get_settings
from devstack.timeshift import build_time_shift_lib, start_time_skipping_at
from workers.main import build_worker, forward_core_logs
from workflows import ComplaintCase
from workflows.client import start_case


class DemoError(Exception):
    """The demo cannot run here (what is missing is in the message)."""


@dataclass
class HistoryReport:
    """What the simulated past did."""

    cases: int = 0
    decisions: int = 0
    first: datetime | None = None
    last: datetime | None = None
    refused: list[str] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        span = f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}" if self.first and self.last else "-"
        lines = [f"history: {self.cases} closed cases, {self.decisions} decisions, simulated {span}, "
                 f"in {self.seconds:.1f}s"]
        if self.refused:
            lines.append(f"{len(self.refused)} decision(s) refused, e.g. {self.refused[0]}")
        if self.still_open:
            lines.append(f"{len(self.still_open)} case(s) still open on the simulated clock: {self.still_open[:5]}")
        return "\n".join(lines)


async def run_history(plans: list[demo.CasePlan], settings: Settings, *, concurrency: int = 32) -> HistoryReport:
    """Run the closed cases' lives on a clock-shifted time-skipping server, writing `settings`' read model."""
    rep = HistoryReport(cases=len(plans))
    if not plans:
        return rep
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with tempfile.TemporaryDirectory(prefix="complaints-demo-") as tmp:
        shim = build_time_shift_lib(Path(tmp))
        if shim is None:
            raise DemoError("the demo's past runs on a clock-shifted time-skipping server, whose shim needs a C "
                            "compiler (Debian: apt-get install gcc)")
        rep.first = min(p.registration.received_at for p in plans)
        rep.last = max(p.closes_at for p in plans if p.closes_at is not None)
        env = await start_time_skipping_at(rep.first - timedelta(minutes=5), shim, make_data_converter(settings))
        pool = await create_pool(settings.database_url, 1, 10)
        try:
            task_queue = f"demo-history-{uuid.uuid4().hex[:8]}"
            async with build_worker(env.client, pool, settings, task_queue=task_queue):
                await _drive(env, plans, task_queue, concurrency, rep)
                rep.still_open = await _still_open(env, plans)
        finally:
            await pool.close()
            await env.shutdown()
    rep.seconds = loop.time() - t0
    return rep


async def _drive(env: Any, plans: list[demo.CasePlan], task_queue: str, concurrency: int,
                 rep: HistoryReport) -> None:
    """Skip the clock to each planned instant and act there; then past the last closing instant."""
    moments: dict[datetime, list[tuple[int, int]]] = defaultdict(list)  # instant -> (plan, step or -1)
    for i, p in enumerate(plans):
        moments[p.registration.received_at].append((i, -1))
        for j, step in enumerate(p.steps):
            moments[step.at].append((i, j))
    handles: dict[int, WorkflowHandle[Any, Any]] = {}
    stopped: set[int] = set()
    sem = asyncio.Semaphore(concurrency)

    async def act(i: int, j: int) -> None:
        if i in stopped:
            return
        async with sem:
            p = plans[i]
            if j < 0:
                handles[i] = await start_case(env.client, p.registration, task_queue=task_queue)
                return
            step = p.steps[j]
            decision = DECISION_MODELS[step.name].model_validate(step.payload)
            try:
                await handles[i].execute_update(getattr(ComplaintCase, step.name), decision)
                rep.decisions += 1
            except Exception as e:  # noqa: BLE001 - a refused step ends that case's plan, reported
                stopped.add(i)
                rep.refused.append(f"{p.case_no} {step.name}: {str(getattr(e, 'cause', None) or e)[:200]}")

    for at in sorted(moments):
        now = await env.get_current_time()
        if at > now:
            await env.sleep(at - now)
        # one case's steps at the same instant keep their order; different cases run side by side
        by_case: dict[int, list[int]] = defaultdict(list)
        for i, j in moments[at]:
            by_case[i].append(j)

        async def in_order(i: int, js: list[int]) -> None:
            for j in js:
                await act(i, j)

        await asyncio.gather(*(in_order(i, js) for i, js in by_case.items()))
    assert rep.last is not None
    now = await env.get_current_time()
    end = rep.last + timedelta(minutes=1)
    if end > now:
        await env.sleep(end - now)


async def _still_open(env: Any, plans: list[demo.CasePlan]) -> list[str]:
    """Case numbers whose workflow has not closed (timer-driven closes finish just after the last skip)."""
    pending = [p.case_no for p in plans]
    for _ in range(50):
        still = []
        for case_no in pending:
            # the raw call: the SDK's describe cannot decode the test server's DueAt search attribute
            desc = await env.client.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(namespace=env.client.namespace,
                                                 execution=WorkflowExecution(workflow_id=workflow_id(case_no))))
            if desc.workflow_execution_info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
                still.append(case_no)
        if not still:
            return []
        pending = still
        await asyncio.sleep(0.2)
    return pending


async def run(n: int, *, start: date | None, seed: int | None, concurrency: int,
              settings: Settings | None = None) -> tuple[HistoryReport, demo.DemoReport]:
    """The whole demo: plan, simulate the closed past, register the open cases live."""
    settings = settings or get_settings()
    if settings.outbox_transport != "file":
        raise DemoError("the demo's made-up complainants would get real messages: it runs only with the local "
                        "outbox (COMPLAINTS_OUTBOX_TRANSPORT=file)")
    now = datetime.now(UTC)
    plans = demo.generate(n, start=start, seed=seed, now=now)
    history, live = demo.split(plans, now)
    past = await run_history(history, settings, concurrency=concurrency)
    cc = await CaseClient.connect(settings)
    present = await demo.run_live(cc, live, now=now, concurrency=concurrency)
    return past, present


def main(argv: list[str] | None = None) -> None:
    """`python -m devstack.demo --cases N [--start YYYY-MM-DD] [--seed S] [--concurrency C]`."""
    ap = argparse.ArgumentParser(prog="python -m devstack.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--start", type=date.fromisoformat, default=None)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=20)
    args = ap.parse_args(argv)
    forward_core_logs()  # the SDK core's warnings go to stderr with Python logging, not into the report
    try:
        past, present = asyncio.run(run(args.cases, start=args.start, seed=args.seed, concurrency=args.concurrency))
    except (DemoError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        exit_now(1)
    print(past.describe())
    print(present.describe())
    exit_now(1 if past.still_open or present.failed else 0)


if __name__ == "__main__":
    main()
