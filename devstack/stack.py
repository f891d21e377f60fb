"""The embedded stack behind `make up` / `make down`: dev server, PostgreSQL, worker, dashboard, codec server.
Every listening port is on 127.0.0.1, the worker's metrics and probes included.

Every process is started detached in its own session, its pid written under `.data/pids/`, its output
under `.data/logs/`. `down` stops exactly those pids (by process group), never anything found by name.
Data lives in `.data/` (Temporal's SQLite file, the PostgreSQL cluster, the dev encryption key), so
`down` + `up` keeps every case.

    python -m devstack.stack up|down|status
    python -m devstack.stack restore BACKUP_DIR     # `make restore BACKUP=...`: stop, restore, up again
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from activities.db import apply_migrations
from activities.seed import seed_directory
from api.settings import get_api_settings
from clients.backup import BackupError, restore, verify
from common.contract import SEARCH_ATTRIBUTES
from common.process import run_command
from common.settings import Settings
from devstack.binaries import temporal_cli
from devstack.pgserver import EmbeddedPostgres


class Stack:
    """The local processes of one data folder."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.data = self.settings.data_dir.resolve()
        self.pids = self.data / "pids"
        self.logs = self.data / "logs"
        self.postgres = EmbeddedPostgres(self.data / "postgres", port=self.settings.embedded_pg_port)
        self.temporal_port = self.settings.embedded_temporal_port
        self.ui_port = self.settings.embedded_temporal_ui_port
        self.codec_port = self.settings.codec_server_port
        self.api_port = get_api_settings().port
        # loopback only in the embedded mode, whatever COMPLAINTS_METRICS_HOST says
        self.worker_ops = f"http://127.0.0.1:{self.settings.worker_ops_port}"

    # -- process bookkeeping ------------------------------------------------------------------------------
    def _pidfile(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def running_pid(self, name: str) -> int | None:
        path = self._pidfile(name)
        if not path.exists():
            return None
        try:
            pid = int(path.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            path.unlink(missing_ok=True)
            return None
        # a pid file may survive a reboot while the number now belongs to someone else
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            cmdline = ""
        marker = path.with_suffix(".cmd")
        # an empty cmdline means the process is still being exec'd (or is a zombie): it is ours, keep it
        if cmdline and marker.exists() and marker.read_text() not in cmdline.replace("\0", " "):
            path.unlink(missing_ok=True)
            return None
        return pid

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
        existing = self.running_pid(name)
        if existing is not None:
            print(f"  {name}: already running (pid {existing})")
            return existing
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pids.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        self._pidfile(name).write_text(str(proc.pid))
        self._pidfile(name).with_suffix(".cmd").write_text(Path(argv[0]).name)
        print(f"  {name}: started (pid {proc.pid}, log {self.logs / (name + '.log')})")
        return proc.pid

    def _stop(self, name: str, timeout: float = 20) -> None:
        pid = self.running_pid(name)
        if pid is None:
            print(f"  {name}: not running")
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            # reap if it is our child
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.2)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._pidfile(name).unlink(missing_ok=True)
        self._pidfile(name).with_suffix(".cmd").unlink(missing_ok=True)
        print(f"  {name}: stopped (pid {pid})")

    # -- components -----------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        return {
            "COMPLAINTS_DATA_DIR": str(self.data),
            "COMPLAINTS_DATABASE_URL": self.postgres.dsn("complaints"),
            "COMPLAINTS_TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "COMPLAINTS_TEMPORAL_UI_URL": f"http://localhost:{self.ui_port}",
            "COMPLAINTS_CODEC_SERVER_PORT": str(self.codec_port),
            "COMPLAINTS_METRICS_HOST": "127.0.0.1",
            "COMPLAINTS_WORKER_OPS_PORT": str(self.settings.worker_ops_port),
            "COMPLAINTS_WORKER_SDK_METRICS_PORT": str(self.settings.worker_sdk_metrics_port),
            "COMPLAINTS_MODE": "embedded",
        }

    def start_temporal(self) -> None:
        argv = [
            temporal_cli(), "server", "start-dev",
            "--db-filename", str(self.settings.temporal_db_file),
            "--ip", "127.0.0.1", "--port", str(self.temporal_port), "--ui-port", str(self.ui_port),
            "--ui-codec-endpoint", f"http://127.0.0.1:{self.codec_port}",
            "--log-level", "warn",
            "--log-format", "json" if self.settings.log_format == "json" else "text",
        ]
        for name, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        self._spawn("temporal", argv)

    def start_postgres(self) -> None:
        self.postgres.start()
        self.postgres.create_database("complaints")
        print(f"  postgres: running on 127.0.0.1:{self.postgres.port} (data {self.postgres.datadir})")

    async def _migrate(self) -> None:
        dsn = self.postgres.dsn("complaints")
        applied = await apply_migrations(dsn)
        await seed_directory(dsn)
        print(f"  migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ""))

    def start_worker(self) -> None:
        # the worker serves the read-model gauges here; the API leaves them to it (common.metrics)
        env = {**self._env(), "COMPLAINTS_METRICS_READ_MODEL": "true"}
        self._spawn("worker", [sys.executable, "-m", "workers"], env)

    def start_codec_server(self) -> None:
        # The dev server's Web UI has no login, so it has no token to forward (and `start-dev` has no flag for
        # TEMPORAL_CODEC_PASS_ACCESS_TOKEN): on loopback the embedded codec server runs without one.
        env = {**self._env(), "COMPLAINTS_CODEC_SERVER_AUTH": "false"}
        argv = [sys.executable, "-m", "clients.codec_server", "--host", "127.0.0.1", "--port", str(self.codec_port)]
        self._spawn("codec", argv, env)

    def start_api(self) -> None:
        argv = [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(self.api_port)]
        self._spawn("api", argv, {**self._env(), "COMPLAINTS_METRICS_READ_MODEL": "false"})

    def _start_streamlit(self, name: str, script: str, port: int, env: dict[str, str]) -> None:
        argv = [
            sys.executable, "-m", "streamlit", "run", str(Path(__file__).parent.parent / "dashboard" / script),
            "--server.port", str(port),
            "--server.address", "127.0.0.1",
            "--server.headless", "true",
            "--browser.gatherUsageStats", "false",
        ]
        self._spawn(name, argv, env)

    def start_workbench(self) -> None:
        env = {**self._env(), "COMPLAINTS_WORKBENCH_API_URL": f"http://127.0.0.1:{self.api_port}"}
        self._start_streamlit("workbench", "workbench.py", self.settings.workbench_port, env)

    def start_dashboard(self) -> None:
        self._start_streamlit("dashboard", "app.py", self.settings.dashboard_port, self._env())

    # -- commands -------------------------------------------------------------------------------------
    def up(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        print(f"Starting the embedded stack (data in {self.data})")
        self.start_postgres()
        asyncio.run(self._migrate())
        self.start_temporal()
        wait_port("127.0.0.1", self.temporal_port, "Temporal frontend", 60)
        self.start_codec_server()
        self.start_worker()
        self.start_api()
        self.start_dashboard()
        self.start_workbench()
        _wait_http(f"http://127.0.0.1:{self.ui_port}/", "Temporal Web UI", 60)
        _wait_http(f"http://127.0.0.1:{self.settings.dashboard_port}/_stcore/health", "dashboard", 90)
        _wait_http(f"http://127.0.0.1:{self.api_port}/readyz", "HTTP API", 60)
        _wait_http(f"http://127.0.0.1:{self.settings.workbench_port}/_stcore/health", "workbench", 90)
        asyncio.run(_wait_worker_polling(f"127.0.0.1:{self.temporal_port}", self.settings.task_queue, 60))
        _wait_http(f"{self.worker_ops}/readyz", "worker probes", 60)
        print()
        print(f"  Temporal Web UI   http://localhost:{self.ui_port}")
        print(f"  SLA dashboard     http://localhost:{self.settings.dashboard_port}")
        print(f"  HTTP API          http://127.0.0.1:{self.api_port}/docs  (token: complaints login --as ID --role ROLE --unit UNIT)")
        print(f"  Workbench 待办    http://localhost:{self.settings.workbench_port}")
        print(f"  Temporal gRPC     127.0.0.1:{self.temporal_port}  (task queue '{self.settings.task_queue}')")
        print(f"  PostgreSQL        {self.postgres.dsn('complaints')}")
        print(f"  Codec server      http://127.0.0.1:{self.codec_port}")
        print(f"  Worker metrics    {self.worker_ops}/metrics  (/healthz, /readyz; Temporal SDK: "
              f"http://127.0.0.1:{self.settings.worker_sdk_metrics_port}/metrics)")
        print(f"  API metrics       http://127.0.0.1:{self.api_port}/metrics")
        print(f"  Logs              {self.logs}")
        print("Stop with `make down` (data is kept in .data/).")

    def down(self) -> None:
        print("Stopping the embedded stack")
        for name in ("workbench", "dashboard", "api", "worker", "codec", "temporal"):
            self._stop(name)
        print(f"  postgres: {'stopped' if self.postgres.stop() else 'not running'}")

    def restore(self, source: Path) -> None:
        """Put a `complaints db backup` folder back: the Temporal side stops (the dev server must not hold
        its file), PostgreSQL stays up for the restore, then everything starts again on the restored data."""
        try:
            verify(source)  # a backup that does not match its manifest stops nothing
        except BackupError as e:
            raise SystemExit(f"restore refused: {e}") from None
        print(f"Restoring {source} into the embedded stack (data in {self.data})")
        for name in ("workbench", "dashboard", "api", "worker", "codec", "temporal"):
            self._stop(name)
        self.start_postgres()
        target = self.settings.model_copy(update={"database_url": self.postgres.dsn("complaints")})
        try:
            report = restore(target, source, replace=True, temporal_db=self.settings.temporal_db_file)
        except BackupError as e:
            raise SystemExit(f"restore failed: {e}; the stack is stopped, `make up` starts it as it was") from None
        print(f"  read model: restored into {report.database}")
        print(f"  dev server: {'restored at ' + str(report.temporal_db) if report.temporal_db else 'not in the backup'}")
        for note in report.notes:
            print(f"  note: {note}")
        self.up()

    def status(self) -> None:
        for name in ("temporal", "codec", "worker", "api", "dashboard", "workbench"):
            pid = self.running_pid(name)
            print(f"  {name:10} {f'running (pid {pid})' if pid else 'stopped'}")
        pg = self.postgres.pid()
        print(f"  {'postgres':10} {f'running (pid {pg})' if pg else 'stopped'}")


def wait_port(host: str, port: int, what: str, timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{what} did not open {host}:{port} within {timeout:.0f}s; see .data/logs/")


def _wait_http(url: str, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    print(f"  {what}: HTTP 200 at {url}")
                    return
                last = f"HTTP {resp.status}"
        except OSError as err:
            last = str(err)
        time.sleep(0.5)
    raise SystemExit(f"{what} not answering at {url} within {timeout:.0f}s ({last}); see .data/logs/")


async def _wait_worker_polling(address: str, task_queue: str, wait_seconds: float) -> None:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    client = await Client.connect(address)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        if resp.pollers:
            print(f"  worker: polling task queue '{task_queue}' ({len(resp.pollers)} poller(s))")
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"no worker polls task queue '{task_queue}' after {wait_seconds:.0f}s; see .data/logs/worker.log")


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    command = args[0] if args else "status"
    stack = Stack()
    if command == "restore":
        if len(args) != 2:
            run_command(lambda: sys.exit("usage: python -m devstack.stack restore BACKUP_DIR"))
        run_command(lambda: stack.restore(Path(args[1])))
    commands = {"up": stack.up, "down": stack.down, "status": stack.status}
    if command not in commands:
        run_command(lambda: sys.exit(f"unknown command {command!r}: use up, down, status or restore DIR"))
    run_command(commands[command])

if __name__ == "__main__":
    main()
