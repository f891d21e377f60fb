"""The embedded stack of `make up`: every component answers, `down` stops exactly its pids, data survives.

Runs `python -m devstack.stack up|down` in a throwaway data folder on free ports, like a developer would.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _http_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(resp.status)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of an exited parent counts as gone
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture()
def stack_env(tmp_path: Path) -> dict[str, str]:
    temporal_port, pg_port = _free_port(), _free_port()
    return {
        **os.environ,
        "COMPLAINTS_DATA_DIR": str(tmp_path / "data"),
        "COMPLAINTS_EMBEDDED_PG_PORT": str(pg_port),
        "COMPLAINTS_EMBEDDED_TEMPORAL_PORT": str(temporal_port),
        # what a caller of this stack sets to reach it (the defaults are the standard ports)
        "COMPLAINTS_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "COMPLAINTS_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg_port}/complaints?sslmode=disable",
        "COMPLAINTS_EMBEDDED_TEMPORAL_UI_PORT": str(_free_port()),
        "COMPLAINTS_CODEC_SERVER_PORT": str(_free_port()),
        "COMPLAINTS_DASHBOARD_PORT": str(_free_port()),
        "COMPLAINTS_API_PORT": str(_free_port()),
        "COMPLAINTS_WORKBENCH_PORT": str(_free_port()),
        "COMPLAINTS_WORKER_OPS_PORT": str(_free_port()),
        "COMPLAINTS_WORKER_SDK_METRICS_PORT": str(_free_port()),
    }


def _stack(command: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "devstack.stack", command],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, f"stack {command} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _register_and_summarise(env: dict[str, str], case_no: str) -> str:
    """Start a case through the public client with the stack's settings; return its stage."""
    script = f"""
import asyncio, json
from common.settings import Settings
from common.connect import connect
from workflows.client import start_case
from cases.models import ComplaintRegistration
from pathlib import Path
from common.process import exit_now

async def main():
    s = Settings()
    client = await connect(s)
    raw = json.loads(Path("schemas/examples/registration.json").read_text())
    raw["case_no"] = "{case_no}"
    reg = ComplaintRegistration.model_validate(raw)
    handle = await start_case(client, reg, task_queue=s.task_queue)
    for _ in range(100):
        try:
            summary = await handle.query("summary")
            print(summary.stage if hasattr(summary, "stage") else summary["stage"])
            exit_now(0)
        except Exception:
            await asyncio.sleep(0.2)
    raise SystemExit("no summary")

asyncio.run(main())
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_make_up_runs_everything_and_down_stops_exactly_it(stack_env: dict[str, str]) -> None:
    out = _stack("up", stack_env)
    data = Path(stack_env["COMPLAINTS_DATA_DIR"])
    try:
        assert "worker: polling task queue 'complaints'" in out
        worker_ops = f"http://127.0.0.1:{stack_env['COMPLAINTS_WORKER_OPS_PORT']}"
        assert f"Worker metrics    {worker_ops}/metrics" in out
        assert _http_status(f"{worker_ops}/readyz") == 200
        assert _http_status(f"http://127.0.0.1:{stack_env['COMPLAINTS_EMBEDDED_TEMPORAL_UI_PORT']}/") == 200
        assert _http_status(f"http://127.0.0.1:{stack_env['COMPLAINTS_DASHBOARD_PORT']}/") == 200
        assert _http_status(f"http://127.0.0.1:{stack_env['COMPLAINTS_WORKBENCH_PORT']}/") == 200
        assert (data / "temporal.db").exists()
        stage = _register_and_summarise(stack_env, "SX2026112500901")
        assert stage == "acceptance"
        # the API answers a token from `complaints login` (the stack's own key in the data folder)
        login = subprocess.run(
            [sys.executable, "-m", "clients.cli", "login", "--as", "disp-01", "--role", "dispatcher", "--unit", "SX"],
            cwd=ROOT, env=stack_env, capture_output=True, text=True, timeout=60,
        )
        assert login.returncode == 0, login.stderr
        request = urllib.request.Request(
            f"http://127.0.0.1:{stack_env['COMPLAINTS_API_PORT']}/v1/cases/SX2026112500901",
            headers={"Authorization": f"Bearer {login.stdout.strip()}"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert json.loads(resp.read())["allowed_decisions"] == ["accept", "reject", "merge_into"]
        # the read-model gauges come from the worker alone, the API's /metrics has its requests only
        with urllib.request.urlopen(f"{worker_ops}/metrics", timeout=30) as resp:
            worker_metrics = resp.read().decode()
        waiting = [s.value for f in text_string_to_metric_families(worker_metrics) for s in f.samples
                   if s.name == "complaints_open_cases" and s.labels["stage"] == "acceptance"]
        assert sum(waiting) == 1, worker_metrics
        with urllib.request.urlopen(f"http://127.0.0.1:{stack_env['COMPLAINTS_API_PORT']}/metrics", timeout=30) as resp:
            api_metrics = resp.read().decode()
        assert "complaints_api_requests_total" in api_metrics and "complaints_open_cases" not in api_metrics
    finally:
        pids = {p.stem: int(p.read_text()) for p in (data / "pids").glob("*.pid")}
        _stack("down", stack_env)
    assert set(pids) == {"temporal", "worker", "dashboard", "codec", "api", "workbench"}
    assert not any(_alive(pid) for pid in pids.values()), pids
    assert not list((data / "pids").glob("*.pid"))

    # up again on the same data: the case registered before is still there, still waiting for acceptance
    _stack("up", stack_env)
    try:
        assert _register_and_summarise(stack_env, "SX2026112500901") == "acceptance"
    finally:
        _stack("down", stack_env)


def _complaints(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clients.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def _read_model_cases(env: dict[str, str]) -> set[str]:
    script = """
import asyncio, asyncpg
from common.settings import Settings
async def main():
    conn = await asyncpg.connect(Settings().database_url)
    print(" ".join(r[0] for r in await conn.fetch("SELECT case_no FROM cases")))
    await conn.close()
asyncio.run(main())
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_backup_of_the_running_stack_and_make_restore(stack_env: dict[str, str], tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    _stack("up", stack_env)
    try:
        assert _register_and_summarise(stack_env, "SX2026112500911") == "acceptance"
        # embedded mode: the dev server's own file is found under the data folder and copied while it runs
        made = _complaints(stack_env, "db", "backup", "--output", str(backup))
        assert made.returncode == 0, made.stderr
        assert {p.name for p in backup.iterdir()} == {"manifest.json", "readmodel.dump", "temporal.db"}
        assert _register_and_summarise(stack_env, "SX2026112500912") == "acceptance"  # after the backup
        refused = _complaints(stack_env, "db", "restore", str(backup), "--replace")
        assert refused.returncode == 1 and "stop the dev server" in refused.stderr
        assert _read_model_cases(stack_env) >= {"SX2026112500911", "SX2026112500912"}

        restored = subprocess.run([sys.executable, "-m", "devstack.stack", "restore", str(backup)],
                                  cwd=ROOT, env=stack_env, capture_output=True, text=True, timeout=300)
        assert restored.returncode == 0, f"{restored.stdout}\n{restored.stderr}"
        assert "dev server: restored at" in restored.stdout
        assert "worker: polling task queue 'complaints'" in restored.stdout  # up again
        # the data is the backup's: the case registered after it is gone from both stores
        assert _read_model_cases(stack_env) == {"SX2026112500911"}
        assert _complaints(stack_env, "show", "SX2026112500911").returncode == 0
        gone = _complaints(stack_env, "show", "SX2026112500912")
        assert gone.returncode == 1 and "SX2026112500912" in gone.stderr
    finally:
        _stack("down", stack_env)


def test_compose_file_is_valid() -> None:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose (Debian package) is required; `make test` installs it"
    proc = subprocess.run([exe, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
