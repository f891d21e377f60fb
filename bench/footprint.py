"""Worker footprint: resident memory (psutil RSS) of one worker process holding N open cases (default 5,000)
registered and idle in acceptance (each waiting on its SLA timer), as the delta over the same process idle.

Phase A: a worker with `max_cached_workflows` >= N (every case stays in the workflow cache); the cases are
registered through it. Phase B: a fresh worker with the SDK default cache (1,000 workflows, the setting
`python -m workers` runs with); every case is queried once, which replays it into the cache (evicting the
oldest beyond the limit; only the cache size plus a margin of cases is touched: enough to fill the cache and
evict, not a replay of all N). Both on a dev server subprocess and a real embedded PostgreSQL.

The dev server runs **in memory** here (`temporal server start-dev` without `--db-filename`): registering
5,000 cases through the SQLite file is bounded by the server's fsyncs (~5 cases/s on a loaded 2-core machine),
and this benchmark measures the worker's memory, not the server's write path (that is `intake`). The cases
are the real `ComplaintCase` started by `workflows.client.start_case` and fully registered (calendar
snapshot, directory, encrypted personal data, audit events, projection) before RSS is read.
Memory figures are not times, so no time baseline applies; the registration and replay rates are printed
for reference next to the intake benchmark's baselines.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    Report,
    connect_client,
    create_database,
    dev_server,
    machine_line,
    postgres,
    settings_for,
    temp_dir,
    wait_namespace_ready,
)
from bench.intake import registrations

SDK_DEFAULT_CACHE = 1000
B_MARGIN = 200  # phase B touches SDK_DEFAULT_CACHE + B_MARGIN cases: the cache fills and then evicts
B_CONCURRENCY = 8  # concurrent queries (replays) in phase B


def _rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


async def _settle_rss(pid: int, seconds: float = 3.0) -> int:
    """RSS after the process has been quiet for a moment (the lowest of a few samples)."""
    samples = []
    for _ in range(int(seconds / 0.5)):
        await asyncio.sleep(0.5)
        samples.append(_rss(pid))
    return min(samples)


def _spawn_worker(root: Path, env: dict[str, str], max_cached: int, *extra: str) -> subprocess.Popen[bytes]:
    log_path = root / f"worker-{max_cached}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.footprint_worker", str(max_cached), *extra],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env={**os.environ, **env},
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    log.close()
    ready = threading.Event()
    threading.Thread(target=_copy_stdout, args=(proc, log_path, ready), daemon=True).start()
    _READY[proc.pid] = ready
    return proc


_READY: dict[int, threading.Event] = {}


def _copy_stdout(proc: subprocess.Popen[bytes], log_path: Path, ready: threading.Event) -> None:
    """Copy the worker's stdout into its log for as long as it runs, noting its "ready" line. A pipe nobody
    reads fills after 64 KiB and then blocks whichever of the worker's threads writes to stdout next."""
    assert proc.stdout is not None
    with open(log_path, "ab") as log:
        for line in proc.stdout:
            if line.strip() == b"ready":
                ready.set()
            log.write(line)
            log.flush()
    ready.set()  # stdout closed: the worker exited, `_wait_ready` reports it


async def _wait_ready(proc: subprocess.Popen[bytes]) -> None:
    ready = _READY.pop(proc.pid)
    if not await asyncio.to_thread(ready.wait, 120) or proc.poll() is not None:
        raise RuntimeError(f"footprint worker did not start (exit {proc.poll()})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def run(n_cases: int = 5000, concurrency: int = 64, in_memory: bool = True) -> Report:
    """Measure the worker's RSS idle and holding `n_cases` open cases, with two cache sizes."""
    from workflows import ComplaintCase
    from workflows.client import start_case

    rep = Report("footprint")
    rep.params = {"cases": n_cases, "concurrency": concurrency, "phase_a_max_cached_workflows": n_cases + 100,
                  "phase_b_max_cached_workflows": SDK_DEFAULT_CACHE,
                  "phase_b_cases_touched": min(n_cases, SDK_DEFAULT_CACHE + B_MARGIN),
                  "temporal": "dev server " + ("in memory (no --db-filename)" if in_memory else "on a SQLite file")}
    print(machine_line(), flush=True)
    if in_memory:
        rep.note("dev server in memory (no SQLite file): registration is not bounded by the server's fsyncs; "
                 "the figure is the worker process's RSS, which the server's storage does not touch")
    with temp_dir("bench-footprint-") as root:
        data = root / "data"
        settings = settings_for(data)
        async with postgres(root) as server, dev_server(root, in_memory=in_memory) as ds:
            dsn = await create_database(server, "footprint")
            client = await connect_client(ds.address, settings)
            await wait_namespace_ready(client)
            tq = "complaints-footprint"
            env = {"COMPLAINTS_DATA_DIR": str(data), "COMPLAINTS_DATABASE_URL": dsn,
                   "COMPLAINTS_TEMPORAL_ADDRESS": ds.address, "COMPLAINTS_TASK_QUEUE": tq,
                   "COMPLAINTS_DATABASE_POOL_MAX": "20"}
            regs = registrations(n_cases + 1)
            warm, regs = regs[0], regs[1:]
            # ---- phase A: cache holds every case
            proc = _spawn_worker(root, env, n_cases + 100)
            try:
                await _wait_ready(proc)
                h = await start_case(client, warm, task_queue=tq)  # imports the sandbox, warms the pool
                await _registered(h)
                gc.collect()
                idle = await _settle_rss(proc.pid)
                rep.add("a_idle_rss", idle / 2**20, "MiB")
                sem = asyncio.Semaphore(concurrency)

                async def register(reg: Any) -> None:
                    async with sem:
                        await start_case(client, reg, task_queue=tq)

                t0 = time.perf_counter()
                await asyncio.gather(*(register(r) for r in regs))
                await _wait_projected(dsn, n_cases + 1)
                reg_s = time.perf_counter() - t0
                rep.add("registration_rate", n_cases / reg_s, "cases/s")
                loaded = await _settle_rss(proc.pid)
                rep.add("a_loaded_rss", loaded / 2**20, "MiB")
                rep.add("a_delta", (loaded - idle) / 2**20, "MiB")
                rep.add("a_per_case", (loaded - idle) / n_cases / 1024, "KiB/case")
            finally:
                _stop(proc)
            # ---- phase B: the SDK default cache (what `python -m workers` runs with)
            proc = _spawn_worker(root, env, SDK_DEFAULT_CACHE)
            try:
                await _wait_ready(proc)
                await client.get_workflow_handle(f"complaint-{warm.case_no}").query(ComplaintCase.summary)
                idle_b = await _settle_rss(proc.pid)
                rep.add("b_idle_rss", idle_b / 2**20, "MiB")

                # every query of an evicted case replays its history in the worker (CPU-bound): a few at a time,
                # so none outlives the server's query timeout on a loaded machine; a timed-out one is retried
                sem_b = asyncio.Semaphore(B_CONCURRENCY)

                async def touch(reg: Any) -> None:
                    from temporalio.service import RPCError

                    h = client.get_workflow_handle(f"complaint-{reg.case_no}")
                    for attempt in range(4):
                        async with sem_b:
                            try:
                                await h.query(ComplaintCase.summary)
                                return
                            except RPCError:
                                if attempt == 3:
                                    raise

                touched = regs[: SDK_DEFAULT_CACHE + B_MARGIN]
                t1 = time.perf_counter()
                await asyncio.gather(*(touch(r) for r in touched))
                rep.add("b_replay_rate", len(touched) / (time.perf_counter() - t1), "cases/s")
                loaded_b = await _settle_rss(proc.pid)
                rep.add("b_loaded_rss", loaded_b / 2**20, "MiB")
                rep.add("b_delta", (loaded_b - idle_b) / 2**20, "MiB")
                held = min(len(touched), SDK_DEFAULT_CACHE)
                rep.add("b_per_cached_case", (loaded_b - idle_b) / held / 1024, "KiB/case")
            finally:
                _stop(proc)
    rep.note(
        "a case evicted from the cache costs no worker memory while it waits: its timer lives in the server; "
        "the next task for it replays its history (the b_replay_rate figure)"
    )
    rep.write()
    return rep


async def _registered(h: Any, tries: int = 200) -> bool:
    for _ in range(tries):
        try:
            await h.query("summary")
            return True
        except Exception:  # noqa: BLE001 - still registering
            await asyncio.sleep(0.1)
    return False


async def _wait_projected(dsn: str, n: int, limit_s: float = 1800, stall_s: float = 120) -> None:
    """Until every case's registration reached the read model (the workflow finished registering); fails
    fast when no case was registered for `stall_s` seconds (a stuck worker must not eat the run's budget)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + limit_s
        last, moved = -1, time.monotonic()
        while time.monotonic() < deadline:
            done = await conn.fetchval("SELECT count(*) FROM cases")
            if done >= n:
                return
            if done != last:
                last, moved = done, time.monotonic()
            elif time.monotonic() - moved > stall_s:
                break
            await asyncio.sleep(0.5)
        raise RuntimeError(f"only {await conn.fetchval('SELECT count(*) FROM cases')} of {n} cases registered")
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.footprint [N]`."""
    args = argv if argv is not None else sys.argv[1:]
    asyncio.run(run(int(args[0]) if args else 5000))


if __name__ == "__main__":
    main()
