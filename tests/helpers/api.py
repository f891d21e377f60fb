"""A real API process for the HTTP tests: `python -m api` under uvicorn on a free loopback port, talking to the
dev server (a worker of the test's own task queue) and the module's PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.auth import login_token
from api.settings import ApiSettings
from cases.models import Actor, Role

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ["COMPLAINTS_DATA_DIR"])  # the session's throwaway folder (tests/conftest.py)

DISPATCHER = Actor(id="disp-01", role=Role.dispatcher, unit_id="SX")
INTAKE = Actor(id="agent-07", role=Role.intake_agent, unit_id="SX")
CASEWORKER = Actor(id="cw-xd-1", role=Role.caseworker, unit_id="SX-TY-XD")
OTHER_CASEWORKER = Actor(id="cw-pc-1", role=Role.caseworker, unit_id="SX-DT-PC")
SUPERVISOR = Actor(id="sup-SX-TY", role=Role.supervisor, unit_id="SX-TY")
REVIEWER = Actor(id="rev-ty-1", role=Role.reviewer, unit_id="SX-TY")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ApiProcess:
    base_url: str
    queue: str
    proc: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None

    def token(self, actor: Actor) -> str:
        return login_token(DATA_DIR, actor, ApiSettings())

    def headers(self, actor: Actor, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(actor)}", **extra}

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=60)


@asynccontextmanager
async def api_process(
    env_dev: WorkflowEnvironment, dsn: str, queue: str, extra_env: dict[str, str] | None = None
) -> AsyncIterator[ApiProcess]:
    """Start `python -m api` and wait until /readyz answers 200; stop it (its own pid only) afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "COMPLAINTS_TEMPORAL_ADDRESS": env_dev.client.service_client.config.target_host,
        "COMPLAINTS_TASK_QUEUE": queue,
        "COMPLAINTS_DATABASE_URL": dsn,
        "COMPLAINTS_DATA_DIR": str(DATA_DIR),
        **(extra_env or {}),
    }
    log = DATA_DIR / f"api-{port}.log"
    proc = _spawn(port, env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the API exited: {log.read_text(errors='replace')}")
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not become ready in 60 s")
                await asyncio.sleep(0.2)
        yield ApiProcess(base, queue, proc, env, log)
    finally:
        _stop(proc)


def _spawn(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # a file, not a pipe nobody reads (a full pipe would stall the server)
        return subprocess.Popen(
            [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def eventually(check: Any, within: float = 30, interval: float = 0.2) -> Any:
    """Poll `await check()` until it returns something truthy (the read model is a moment behind)."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s: {check}")
        await asyncio.sleep(interval)
