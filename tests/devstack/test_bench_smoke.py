"""Keeps the benchmark harness working: `python -m bench --quick` (every benchmark at tiny sizes on the real
embedded stack) must finish, print figures with their baselines and write its JSON results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def test_bench_quick_runs_everything(tmp_path: Path) -> None:
    env = {**os.environ, "COMPLAINTS_DATA_DIR": str(tmp_path / "bench-data")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "machine:" in out
    for line in ("intake.update_p50:", "intake.cases_per_s:", "api.api_accept_p95:", "api.api_registrations_per_s:", "year.history_events_per_s:", "year.wall_vs_noop_walk:",
                 "dashboard_queries.province.sla_board_p50:", "footprint.a_delta:", "bench.total_wall:",
                 "bench.budget:", "footprint.note: dev server in memory"):
        assert line in out, line
    assert "(x" in out  # time figures carry their ratio to the same-run baseline
    for name in ("calendar", "intake", "api", "dashboard_queries", "footprint", "year"):
        doc = json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))
        assert doc.get("machine"), name
