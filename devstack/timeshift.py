"""Time-skipping test servers whose clock starts on a chosen date (dated SLA scenarios, the year benchmark).

The time-skipping server starts at the machine's wall clock and only moves forward, so Golden Week 2025 or
Spring Festival 2026 are out of reach from 2026-11. A tiny LD_PRELOAD shim, compiled here with the system C
compiler, shifts only that server process's CLOCK_REALTIME by a fixed offset; workers, activities and
PostgreSQL keep the real clock. Used by tests and `bench/year.py`, never by the running system.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from common.search_attributes import register_search_attributes
from devstack.binaries import temporal_test_server

_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <sys/time.h>
static long long off = 0; static int ready = 0;
static void setup(void) { if (!ready) { const char *s = getenv("TIME_SHIFT_SECONDS"); off = s ? atoll(s) : 0; ready = 1; } }
int clock_gettime(clockid_t id, struct timespec *tp) {
  static int (*real)(clockid_t, struct timespec *) = 0;
  if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
  int r = real(id, tp); setup();
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) tp->tv_sec += off;
  return r;
}
int gettimeofday(struct timeval *tv, void *tz) {
  static int (*real)(struct timeval *, void *) = 0;
  if (!real) real = dlsym(RTLD_NEXT, "gettimeofday");
  int r = real(tv, tz); setup();
  if (r == 0 && tv) tv->tv_sec += off;
  return r;
}
time_t time(time_t *t) { struct timespec ts; clock_gettime(CLOCK_REALTIME, &ts); if (t) *t = ts.tv_sec; return ts.tv_sec; }
"""


def build_time_shift_lib(folder: Path) -> str | None:
    """Compile the shim into `folder`; its path, or None when no C compiler is available."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    source, lib = folder / "shift.c", folder / "libshift.so"
    source.write_text(_SHIM)
    try:
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(source), "-ldl"],
                       check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError):
        return None
    return str(lib)


async def start_time_skipping_at(
    start: datetime, lib: str, data_converter: DataConverter
) -> WorkflowEnvironment:
    """A time-skipping server whose clock reads `start` now, with the case search attributes registered."""
    saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "TIME_SHIFT_SECONDS")}
    os.environ["LD_PRELOAD"] = lib
    os.environ["TIME_SHIFT_SECONDS"] = str(int((start - datetime.now(UTC)).total_seconds()))
    try:
        env = await WorkflowEnvironment.start_time_skipping(
            data_converter=data_converter, test_server_existing_path=temporal_test_server()
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    await register_search_attributes(env.client)
    return env
