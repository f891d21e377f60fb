"""The worker process measured by `bench.footprint`: the project's worker (`workers.main.build_worker`
configuration: workflows, activities, sandbox runner) with `max_cached_workflows` taken from the command line.

    python -m bench.footprint_worker MAX_CACHED [baselines]   (settings from COMPLAINTS_* environment variables)

`baselines` also registers the benchmarks' trivial workflows (`bench.baseline_workflows`), for a worker
process that shares a task queue with a benchmark's in-process worker (`bench.year`).
"""

from __future__ import annotations

import asyncio
import signal
import sys

from activities.db import create_pool
from bench.baseline_workflows import BASELINE_WORKFLOWS
from common.connect import connect
from common.settings import get_settings
from workers.main import build_worker, forward_core_logs


async def serve(max_cached: int, baselines: bool = False) -> None:
    """Run the worker until SIGTERM (SDK warnings and errors go to stderr, the worker log)."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    forward_core_logs()
    s = get_settings()
    pool = await create_pool(s.database_url, s.database_pool_min, s.database_pool_max)
    client = await connect(s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = build_worker(
        client, pool, s, extra_workflows=BASELINE_WORKFLOWS if baselines else (), max_cached_workflows=max_cached
    )
    async with worker:
        print("ready", flush=True)
        await stop.wait()
    await pool.close()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, "baselines" in sys.argv[2:]))
