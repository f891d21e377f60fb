"""`python -m bench`: every benchmark in turn (calendar, intake, dashboard_queries, footprint, year).

    python -m bench                # full sizes (see SIZES)
    python -m bench --quick        # tiny sizes: a smoke run of the whole harness (what tests/test_bench_smoke.py runs)
    python -m bench --only intake  # one benchmark (repeatable: --only intake --only year)

Each benchmark prints `benchmark.figure: value unit` lines (time figures with their same-run baseline and
ratio), states the machine and writes `bench/results/<name>.json`; a summary with wall times is printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

# the dev encryption key and any other local files of a run go to a throwaway folder, never to .data/
os.environ.setdefault("COMPLAINTS_DATA_DIR", tempfile.mkdtemp(prefix="bench-data-"))

from bench.common import machine_line  # noqa: E402

SIZES: dict[str, dict[str, dict[str, int]]] = {
    "full": {
        "intake": {"n_cases": 200, "clients": 8},
        "dashboard_queries": {"n": 1_000_000, "repeats": 7},
        "footprint": {"n_cases": 5000},
        "year": {"n_cases": 2000},
    },
    "quick": {
        "intake": {"n_cases": 6, "clients": 2},
        "dashboard_queries": {"n": 3000, "repeats": 2},
        "footprint": {"n_cases": 10},
        "year": {"n_cases": 12},
    },
}
ORDER = ("calendar", "intake", "dashboard_queries", "footprint", "year")


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
    from bench import dashboard_queries, footprint, intake, year

    s = SIZES[size]
    return {
        "calendar": lambda: _calendar(size == "quick"),
        "intake": lambda: asyncio.run(intake.run(**s["intake"])),
        "dashboard_queries": lambda: asyncio.run(dashboard_queries.run(**s["dashboard_queries"])),
        "footprint": lambda: asyncio.run(footprint.run(**s["footprint"])),
        "year": lambda: asyncio.run(year.run(**s["year"])),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; returns the number that failed."""
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    ap.add_argument("--only", action="append", choices=ORDER, help="run only this benchmark (repeatable)")
    args = ap.parse_args(argv)
    size = "quick" if args.quick else "full"
    chosen = [n for n in ORDER if not args.only or n in args.only]
    print(machine_line(), flush=True)
    print(f"bench: {size} run of {', '.join(chosen)}", flush=True)
    table = runners(size)
    walls: dict[str, float] = {}
    failed: list[str] = []
    t0 = time.perf_counter()
    for name in chosen:
        print(f"\n== {name} ==", flush=True)
        s0 = time.perf_counter()
        try:
            table[name]()
        except Exception:  # noqa: BLE001 - report and go on with the others
            traceback.print_exc()
            failed.append(name)
        walls[name] = time.perf_counter() - s0
    print("\n== summary ==")
    for name, w in walls.items():
        print(f"bench.{name}_wall: {w:.1f} s{'  (FAILED)' if name in failed else ''}")
    print(f"bench.total_wall: {time.perf_counter() - t0:.1f} s")
    return len(failed)


if __name__ == "__main__":
    sys.exit(main())
