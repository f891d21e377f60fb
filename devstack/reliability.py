"""`make reliability`: run the fault-injection scenarios (pytest marker `reliability`) and print their table.

    python -m devstack.reliability                 # run them, print the table (exit code = pytest's)
    python -m devstack.reliability --table FILE    # print the table of an earlier run's results file

Each scenario (tests/test_reliability_*.py) appends one JSON line to the file named by the environment
variable `COMPLAINTS_RELIABILITY_RESULTS`: scenario, cases in flight, completed, lost, duplicated events,
seconds, note. This module sets that variable, runs pytest and renders the lines as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

RESULTS_ENV = "COMPLAINTS_RELIABILITY_RESULTS"
# the registration burst (tests/test_reliability_burst.py) at the size issue 12 asks for; the test suite's
# default is smaller
BURST_ENV, BURST_CASES = "COMPLAINTS_RELIABILITY_BURST", "2000"
ROOT = Path(__file__).resolve().parent.parent
COLUMNS: list[tuple[str, str]] = [
    ("scenario", "scenario"),
    ("in_flight", "cases in flight"),
    ("completed", "completed"),
    ("lost", "lost"),
    ("duplicated", "duplicated events"),
    ("seconds", "seconds"),
    ("note", "note"),
]


def load_results(path: Path) -> list[dict[str, Any]]:
    """The result rows of a results file (one JSON object per line; blank lines ignored)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def render_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the result rows (a totals line when there are several)."""
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    sep = "|" + "|".join("---" if key in ("scenario", "note") else "---:" for key, _ in COLUMNS) + "|"
    lines = [head, sep]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(key, "")) for key, _ in COLUMNS) + " |")
    if len(rows) > 1:
        total = {k: sum(int(r.get(k, 0)) for r in rows) for k in ("in_flight", "completed", "lost", "duplicated")}
        secs = round(sum(float(r.get("seconds", 0)) for r in rows), 1)
        lines.append(f"| **total** | {total['in_flight']} | {total['completed']} | {total['lost']} | "
                     f"{total['duplicated']} | {secs} | |")
    return "\n".join(lines)


def run(pytest_args: list[str]) -> tuple[int, list[dict[str, Any]]]:
    """Run the `reliability` scenarios with pytest; returns (pytest exit code, result rows)."""
    fd, name = tempfile.mkstemp(prefix="reliability-", suffix=".jsonl")
    os.close(fd)
    path = Path(name)
    try:
        env = {BURST_ENV: BURST_CASES, **os.environ, RESULTS_ENV: str(path)}
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "reliability", "tests",
               *pytest_args]
        code = subprocess.call(cmd, cwd=ROOT, env=env)
        return code, load_results(path)
    finally:
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m devstack.reliability`."""
    parser = argparse.ArgumentParser(prog="python -m devstack.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, help="only print the table of this results file")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.table is not None:
        print(render_table(load_results(args.table)))
        return 0
    code, rows = run(args.pytest_args)
    print()
    print("Reliability scenarios (faults injected into real processes):")
    print(render_table(rows) if rows else "(no scenario reported a result)")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
