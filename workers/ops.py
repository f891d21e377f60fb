"""What operations sees of a worker process: Prometheus metrics and the health probes.

* The Temporal SDK's own metrics (poll requests, task latencies, slots, sticky cache) come from the SDK core's
  Prometheus exporter on `Settings.worker_sdk_metrics_port` (`sdk_runtime`). The core binds it once per
  process, so every worker process gets a port of its own (one container = one process in compose).
* The application's metrics and the probes share one small aiohttp server on `Settings.worker_ops_port`:
  `/metrics` (common.metrics: this process's counters, plus the read-model gauges when
  `Settings.metrics_read_model` says this process serves them), `/healthz` (the process answers) and
  `/readyz` (polling started, PostgreSQL and Temporal answer; 503 with the failing check otherwise).
* `MetricsInterceptor` counts decisions taken and refused and activity retries. Workflow code runs in the
  sandbox and is replayed, so it reaches the counters through an extern function and counts nothing while
  replaying (validators are not run on replay at all).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from temporalio import activity, workflow
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.runtime import PrometheusConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    HandleUpdateInput,
    Interceptor,
    Worker,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from cases.transitions import DECISIONS
from common.metrics import (
    ACTIVITY_RETRIES,
    DECISIONS_REFUSED,
    DECISIONS_TAKEN,
    ReadModelCollector,
    read_model_registry,
)
from common.settings import Settings

log = logging.getLogger("complaints.worker")

_COUNT_DECISION = "complaints_count_decision"
_CHECK_TIMEOUT = 3.0


def sdk_prometheus(settings: Settings) -> PrometheusConfig:
    """The SDK core's exporter; counters get `_total` and durations are seconds, as Prometheus expects."""
    return PrometheusConfig(
        bind_address=f"{settings.metrics_host}:{settings.worker_sdk_metrics_port}",
        counters_total_suffix=True,
        durations_as_seconds=True,
    )


# ------------------------------------------------------------------------------------- counting


def _count_decision(decision: str, outcome: str) -> None:
    (DECISIONS_TAKEN if outcome == "taken" else DECISIONS_REFUSED).labels(decision=decision).inc()


class _DecisionCounter(WorkflowInboundInterceptor):
    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        try:
            super().handle_update_validator(input)
        except Exception:
            if input.update in DECISIONS:
                workflow.extern_functions()[_COUNT_DECISION](input.update, "refused")
            raise

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        counted = input.update in DECISIONS and not workflow.unsafe.is_replaying()
        try:
            result = await super().handle_update_handler(input)
        except ApplicationError as e:
            # the handler decides again on the full state (e.g. after loading more calendar data) and may refuse
            if counted and e.type == "DecisionRefused":
                workflow.extern_functions()[_COUNT_DECISION](input.update, "refused")
            raise
        if counted:
            workflow.extern_functions()[_COUNT_DECISION](input.update, "taken")
        return result


class _RetryCounter(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        if info.attempt > 1:
            ACTIVITY_RETRIES.labels(activity=info.activity_type).inc()
        return await super().execute_activity(input)


class MetricsInterceptor(Interceptor):
    """Counts decisions (taken / refused, by name) and activity retries in this process's counters."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _RetryCounter(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        input.unsafe_extern_functions[_COUNT_DECISION] = _count_decision
        return _DecisionCounter


# ------------------------------------------------------------------------------------- probes


@dataclass
class Probe:
    """The running parts readiness is about."""

    worker: Worker
    client: Client
    pool: asyncpg.Pool
    task_queue: str
    namespace: str

    async def _polling(self) -> None:
        if not self.worker.is_running:
            raise RuntimeError("worker not running")
        resp = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.namespace,
                task_queue=TaskQueue(name=self.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=timedelta(seconds=_CHECK_TIMEOUT),
        )
        identity = self.worker.config().get("identity") or self.client.identity
        if not any(p.identity == identity for p in resp.pollers):
            raise RuntimeError(f"{identity} is not among the task queue's pollers yet")

    async def _postgres(self) -> None:
        await asyncio.wait_for(self.pool.fetchval("SELECT 1"), _CHECK_TIMEOUT)

    async def checks(self) -> dict[str, str]:
        """Each check's verdict: "ok" or why not. The Temporal call answers both "reachable" and "polling"."""
        named: dict[str, Callable[[], Any]] = {"temporal_polling": self._polling, "postgres": self._postgres}
        results = await asyncio.gather(*(check() for check in named.values()), return_exceptions=True)
        return {
            name: "ok" if not isinstance(result, BaseException) else f"failing: {type(result).__name__}: {result}"
            for name, result in zip(named, results, strict=True)
        }


def ops_app(probe: Probe, collector: ReadModelCollector | None) -> web.Application:
    """/metrics, /healthz and /readyz of one worker process."""
    read_model = read_model_registry(collector) if collector is not None else None

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(REGISTRY)
        if collector is not None and read_model is not None:
            await collector.refresh()
            body += generate_latest(read_model)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await probe.checks()
        ok = all(v == "ok" for v in checks.values())
        return web.json_response({"status": "ok" if ok else "unavailable", "checks": checks},
                                 status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def start_ops_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics and probes on http://%s:%d/metrics (/healthz, /readyz)", *runner.addresses[0][:2])
    return runner
