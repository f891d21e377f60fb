"""`python -m bench`: every benchmark in turn (calendar, intake, api, dashboard_queries, footprint, year).

    python -m bench                # full sizes (see SIZES)
    python -m bench --quick        # tiny sizes: a smoke run of the whole harness (what tests/devstack/test_bench_smoke.py runs)
    python -m bench --only intake  # one benchmark (repeatable: --only intake --only year)
    python -m bench --budget 20    # the wall-time budget (minutes) the summary is checked against (default 20)

Each benchmark prints `benchmark.figure: value unit` lines (time figures with their same-run baseline and
ratio), states the machine and writes `bench/results/<name>.json`; a summary with wall times is printed last.

`footprint` runs in a child process **concurrently with `dashboard_queries`** (unless `--serial`): its figures
are resident memory of its own worker process, which CPU contention does not change, while running it alone
would add ~6 minutes to the run. Its output is printed when it finishes; its rates (registration, replay) are
then for reference only. Every other benchmark runs alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

# the dev encryption key and any other local files of a run go to a throwaway folder, never to .data/
# (removed at exit when this run created it)
if "COMPLAINTS_DATA_DIR" not in os.environ:
    import atexit
    import shutil

    os.environ["COMPLAINTS_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-data-")
    atexit.register(shutil.rmtree, os.environ["COMPLAINTS_DATA_DIR"], True)

from bench.common import machine_line  # noqa: E402

SIZES: dict[str, dict[str, dict[str, int]]] = {
    "full": {
        "intake": {"n_cases": 200, "clients": 8},
        "api": {"n_cases": 100, "clients": 4},
        "dashboard_queries": {"n": 1_000_000, "repeats": 7},
        "footprint": {"n_cases": 5000},
        "year": {"n_cases": 2000},
    },
    "quick": {
        "intake": {"n_cases": 6, "clients": 2},
        "api": {"n_cases": 4, "clients": 2},
        "dashboard_queries": {"n": 3000, "repeats": 2},
        "footprint": {"n_cases": 10},
        "year": {"n_cases": 12},
    },
}
ORDER = ("calendar", "intake", "api", "dashboard_queries", "footprint", "year")
# (runs in the foreground, runs beside it in a child process): see the module docstring
CONCURRENT = ("dashboard_queries", "footprint")


def _calendar(quick: bool) -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "bench_calendar.py"
    spec = importlib.util.spec_from_file_location("bench_calendar", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if quick:
        mod.N_FAST, mod.N_SLOW = 500, 20
    return mod.main()


def runners(size: str) -> dict[str, Callable[[], Any]]:
    """Name -> a callable running that benchmark at `size` ('full' or 'quick')."""
    from bench import api, dashboard_queries, footprint, intake, year

    s = SIZES[size]
    return {
        "calendar": lambda: _calendar(size == "quick"),
        "intake": lambda: asyncio.run(intake.run(**s["intake"])),
        "api": lambda: asyncio.run(api.run(**s["api"])),
        "dashboard_queries": lambda: asyncio.run(dashboard_queries.run(**s["dashboard_queries"])),
        "footprint": lambda: asyncio.run(footprint.run(**s["footprint"])),
        "year": lambda: asyncio.run(year.run(**s["year"])),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; returns the number that failed."""
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--only", action="append", choices=ORDER, help="run only this benchmark (repeatable)")
    ap.add_argument("--serial", action="store_true", help="run every benchmark alone (no concurrent footprint)")
    ap.add_argument("--budget", type=float, default=20.0, metavar="MINUTES",
                    help="wall-time budget of the whole run, checked in the summary (default 20)")
    args = ap.parse_args(argv)
    size = "quick" if args.quick else "full"
    chosen = [n for n in ORDER if not args.only or n in args.only]
    print(machine_line(), flush=True)
    print(f"bench: {size} run of {', '.join(chosen)}", flush=True)
    table = runners(size)
    walls: dict[str, float] = {}
    failed: list[str] = []
    fg, bg = CONCURRENT
    beside = not args.serial and fg in chosen and bg in chosen
    t0 = time.perf_counter()
    for name in chosen:
        if beside and name == bg:
            continue
        child = None
        if beside and name == fg:
            child = _start_child(bg, SIZES[size][bg])
            print(f"\n(bench: {bg} runs concurrently in child process {child[0].pid}; its output follows {fg})",
                  flush=True)
        print(f"\n== {name} ==", flush=True)
        s0 = time.perf_counter()
        try:
            table[name]()
        except Exception:  # noqa: BLE001 - report and go on with the others
            traceback.print_exc()
            failed.append(name)
        walls[name] = time.perf_counter() - s0
        if child is not None:
            print(f"\n== {bg} (concurrently with {fg}) ==", flush=True)
            ok, walls[bg] = _finish_child(*child)
            if not ok:
                failed.append(bg)
    print("\n== summary ==")
    for name, w in walls.items():
        print(f"bench.{name}_wall: {w:.1f} s{'  (FAILED)' if name in failed else ''}")
    total = time.perf_counter() - t0
    print(f"bench.total_wall: {total:.1f} s")
    budget = args.budget * 60
    verdict = "within budget" if total <= budget else "OVER BUDGET"
    print(f"bench.budget: {total / 60:.1f} min of {args.budget:g} min ({100 * total / budget:.0f} %), {verdict}")
    return len(failed)


def _start_child(name: str, size: dict[str, int]) -> tuple[subprocess.Popen[bytes], Any, float]:
    """`python -m bench.<name> <n_cases>` in a child process, its output going to a temp file."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _finish_child
    proc = subprocess.Popen([sys.executable, "-m", f"bench.{name}", str(size["n_cases"])], stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(os.environ),
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return proc, out, time.perf_counter()


def _finish_child(proc: subprocess.Popen[bytes], out: Any, started: float) -> tuple[bool, float]:
    """Wait for the child, print its output; (succeeded, its wall time)."""
    rc = proc.wait()
    wall = time.perf_counter() - started
    out.seek(0)
    sys.stdout.write(out.read().decode("utf-8", errors="replace"))
    out.close()
    if rc != 0:
        print(f"bench: child exited with {rc}", flush=True)
    sys.stdout.flush()
    return rc == 0, wall


if __name__ == "__main__":
    sys.exit(main())
