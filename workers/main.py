"""The worker process: polls task queue `complaints`, runs the case workflows and every side-effect activity.

Stateless: scale out by starting more of them (docker-compose `deploy.replicas`). On start it applies
pending migrations (safe with several workers starting at once) and seeds the org directory; it also runs
the notification outbox sender, and serves its metrics and health probes (workers.ops). SIGTERM drains
gracefully: in-flight activities get `worker_graceful_shutdown_seconds` to finish, workflows resume on another
worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import Worker

from activities import all_activities
from activities.db import apply_migrations, create_pool
from activities.outbox import DEFAULT_MAX_ATTEMPTS, make_transport, run_outbox_sender
from activities.seed import seed_directory
from common.codec import KeyRing
from common.connect import connect
from common.logs import configure_logging
from common.metrics import ReadModelCollector
from common.settings import Settings, get_settings
from workers.ops import MetricsInterceptor, Probe, ops_app, sdk_prometheus, start_ops_server
from workers.sandbox import workflow_runner
from workflows import WORKFLOWS

log = logging.getLogger("complaints.worker")
CORE_LOGGER = "temporalio.core"


def forward_core_logs(metrics: PrometheusConfig | None = None) -> None:
    """Route the SDK core's own warnings (slow or failed workflow tasks, poll errors) through Python logging,
    so they reach the worker's log, and export the core's metrics with `metrics`. Call it before the first
    client is created.

    By default the core prints them to file descriptor 1 from its workflow-processing thread, with a blocking
    write: under a parent that reads the worker's stdout through a pipe and then stops reading (a supervisor
    waiting for "ready"), the ~90th warning fills the pipe and that thread blocks for good. The worker then
    takes no workflow task and logs nothing, which is how a burst of registrations stalled it."""
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER)),
        ), metrics=metrics)),
        error_if_already_set=False,
    )


def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings | None = None,
    *,
    task_queue: str | None = None,
    keyring: KeyRing | None = None,
    extra_workflows: Sequence[type] = (),
    activity_overrides: Mapping[str, Callable[..., Any]] | None = None,
    **options: Any,
) -> Worker:
    """The one recipe for a complaint worker: every workflow and activity, the project's sandbox runner and the
    slot and cache sizes of `settings`. Tests and benchmarks use it too, with their own `task_queue`, and
    `options` (any `Worker` argument) where they need other sizes; `extra_workflows` adds the benchmarks'
    baselines beside the real ones; `activity_overrides` (activity name -> callable) puts a fault-injecting stand-in
    in place of one activity."""
    s = settings or get_settings()
    arguments: dict[str, Any] = {
        "max_concurrent_activities": s.worker_max_concurrent_activities,
        "max_concurrent_workflow_tasks": s.worker_max_concurrent_workflow_tasks,
        "max_cached_workflows": s.worker_max_cached_workflows,
        "graceful_shutdown_timeout": timedelta(seconds=s.worker_graceful_shutdown_seconds),
        "interceptors": [MetricsInterceptor()],
        **options,
    }
    return Worker(
        client,
        task_queue=task_queue or s.task_queue,
        workflows=[*WORKFLOWS, *extra_workflows],
        activities=[
            *(a for a in all_activities(pool, keyring or KeyRing.from_settings(s))
              if a.__name__ not in (activity_overrides or {})),
            *(activity_overrides or {}).values(),
        ],
        workflow_runner=workflow_runner(),
        **arguments,
    )


async def run_worker(settings: Settings | None = None, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT when run as a program)."""
    s = settings or get_settings()
    stop = stop or asyncio.Event()
    applied = await apply_migrations(s.database_url)
    if applied:
        log.info("applied migrations %s", applied)
    await seed_directory(s.database_url)
    pool = await create_pool(s.database_url, s.database_pool_min, s.database_pool_max)
    client = await connect(s)
    worker = build_worker(client, pool, s)
    collector = ReadModelCollector(pool, max_attempts=DEFAULT_MAX_ATTEMPTS) if s.metrics_read_model else None
    probe = Probe(worker, client, pool, s.task_queue, s.temporal_namespace)
    ops = await start_ops_server(ops_app(probe, collector), s.metrics_host, s.worker_ops_port)
    transport = make_transport(s)
    sender = asyncio.create_task(
        run_outbox_sender(
            pool,
            transport,
            interval=s.outbox_interval_seconds,
            stop_event=stop,
            keyring=KeyRing.from_settings(s),
            client=client,
        )
    )
    log.info("worker polling task queue %r on %s", s.task_queue, s.temporal_address)
    try:
        async with worker:
            await stop.wait()
    finally:
        stop.set()
        await asyncio.gather(sender, return_exceptions=True)
        await ops.cleanup()
        await transport.close()
        await pool.close()


def main() -> None:
    configure_logging("worker")
    forward_core_logs(sdk_prometheus(get_settings()))

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(stop=stop)

    asyncio.run(_run())


if __name__ == "__main__":
    main()
