"""Benchmark ``calendars`` working-day arithmetic against numpy and chinese_calendar.

Run: ``.venv/bin/python bench/bench_calendar.py``. Prints ``name: value unit`` lines
and writes ``bench/results/calendar.json``. numpy's business-day functions take a
holiday list but cannot express makeup *weekend* working days (调休上班), so their
answers differ whenever a span touches one; chinese_calendar walks day by day.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path

import chinese_calendar
import numpy as np

from calendars import get_calendar, shanghai_tz

N_FAST = 20_000
N_SLOW = 500
SEED = 20261125


def _per_call_us(fn: Callable[[], object], calls: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / calls * 1e6


def _machine() -> dict[str, object]:
    mem = None
    try:
        import psutil

        mem = psutil.virtual_memory().total
    except Exception:  # noqa: BLE001 - optional
        try:
            with open("/proc/meminfo", encoding="ascii") as fh:
                mem = int(fh.readline().split()[1]) * 1024
        except OSError:
            pass
    return {
        "cores": os.cpu_count(),
        "memory_bytes": mem,
        "memory_gib": round(mem / 2**30, 1) if mem else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "chinese_calendar": getattr(chinese_calendar, "__version__", "?"),
    }


def main() -> dict[str, object]:
    """Run the benchmark, print the figures and write the JSON file."""
    cal = get_calendar("CN")
    rng = random.Random(SEED)
    lo, hi = date(2020, 1, 1).toordinal(), date(2026, 9, 30).toordinal()
    starts = [date.fromordinal(rng.randint(lo, hi)) for _ in range(N_FAST)]
    ns = [rng.randint(1, 60) for _ in range(N_FAST)]
    ends = [d + timedelta(days=rng.randint(1, 90)) for d in starts]

    holidays = np.array(sorted(cal.off_weekdays), dtype="datetime64[D]")
    bdc = np.busdaycalendar(weekmask="1111100", holidays=holidays)
    np_starts = np.array(starts, dtype="datetime64[D]")
    np_ns = np.array(ns)
    np_ends = np.array(ends, dtype="datetime64[D]")
    one = np.timedelta64(1, "D")

    # --- add_working_days --------------------------------------------------
    ours_add = _per_call_us(
        lambda: [cal.add_working_days(d, n) for d, n in zip(starts, ns, strict=True)], N_FAST
    )
    np_add_scalar = _per_call_us(
        lambda: [
            np.busday_offset(d, n, roll="backward", busdaycal=bdc)
            for d, n in zip(np_starts, np_ns, strict=True)
        ],
        N_FAST,
    )
    np_add_vector = _per_call_us(
        lambda: np.busday_offset(np_starts, np_ns, roll="backward", busdaycal=bdc), N_FAST
    )

    def cc_add(d: date, n: int) -> date:
        # chinese_calendar counts the start day itself when it is a workday; adjust to 次日起算
        return chinese_calendar.find_workday(n if chinese_calendar.is_workday(d) else n - 1, d)

    cc_add_us = _per_call_us(
        lambda: [cc_add(d, n) for d, n in zip(starts[:N_SLOW], ns[:N_SLOW], strict=True)], N_SLOW
    )

    # --- working_days_between ------------------------------------------------
    ours_btw = _per_call_us(
        lambda: [cal.working_days_between(a, b) for a, b in zip(starts, ends, strict=True)], N_FAST
    )
    np_btw_scalar = _per_call_us(
        lambda: [
            np.busday_count(a + one, b + one, busdaycal=bdc) for a, b in zip(np_starts, np_ends, strict=True)
        ],
        N_FAST,
    )
    np_btw_vector = _per_call_us(
        lambda: np.busday_count(np_starts + one, np_ends + one, busdaycal=bdc), N_FAST
    )
    cc_btw_us = _per_call_us(
        lambda: [
            len(chinese_calendar.get_workdays(a + timedelta(days=1), b))
            for a, b in zip(starts[:N_SLOW], ends[:N_SLOW], strict=True)
        ],
        N_SLOW,
    )

    # --- deadline_at: the default service day vs Xinjiang's seasons (the close looked up per day) ---------
    received = [datetime.combine(d, time_of_day(10), tzinfo=shanghai_tz()) for d in starts]
    seasonal = get_calendar("CN-XJ")
    # alternated, best of 7 each: on a shared machine a burst of load then hits both sides alike
    ours_deadline = seasonal_deadline = float("inf")
    for _ in range(7):
        ours_deadline = min(ours_deadline, _per_call_us(
            lambda: [cal.deadline_at(r, n) for r, n in zip(received, ns, strict=True)], N_FAST
        ))
        seasonal_deadline = min(seasonal_deadline, _per_call_us(
            lambda: [seasonal.deadline_at(r, n) for r, n in zip(received, ns, strict=True)], N_FAST
        ))

    # --- agreement -------------------------------------------------------------
    ours_r = [cal.add_working_days(d, n) for d, n in zip(starts, ns, strict=True)]
    np_r = np.busday_offset(np_starts, np_ns, roll="backward", busdaycal=bdc).astype(object)
    np_add_diff = sum(1 for a, b in zip(ours_r, np_r, strict=True) if a != b)
    cc_add_diff = sum(1 for i in range(N_SLOW) if cc_add(starts[i], ns[i]) != ours_r[i])
    ours_c = [cal.working_days_between(a, b) for a, b in zip(starts, ends, strict=True)]
    np_c = np.busday_count(np_starts + one, np_ends + one, busdaycal=bdc)
    np_btw_diff = int(sum(1 for a, b in zip(ours_c, np_c, strict=True) if a != int(b)))
    makeup = sorted(cal.working_weekends)

    def touches_makeup(a: date, b: date) -> bool:
        return any(a < m <= b for m in makeup)

    np_diff_without_makeup = sum(
        1
        for i in range(N_FAST)
        if not touches_makeup(starts[i], max(ours_r[i], ends[i]))
        and (ours_r[i] != np_r[i] or ours_c[i] != int(np_c[i]))
    )
    cc_btw_diff = sum(
        1
        for i in range(N_SLOW)
        if len(chinese_calendar.get_workdays(starts[i] + timedelta(days=1), ends[i])) != ours_c[i]
    )

    figures: dict[str, float] = {
        "calendars_add_working_days": ours_add,
        "numpy_busday_offset_scalar": np_add_scalar,
        "numpy_busday_offset_vectorised_per_element": np_add_vector,
        "chinese_calendar_find_workday": cc_add_us,
        "calendars_working_days_between": ours_btw,
        "numpy_busday_count_scalar": np_btw_scalar,
        "numpy_busday_count_vectorised_per_element": np_btw_vector,
        "chinese_calendar_get_workdays_len": cc_btw_us,
        "calendars_deadline_at_default_hours": ours_deadline,
        "calendars_deadline_at_seasonal_hours": seasonal_deadline,
    }
    ratios = {
        "add_numpy_scalar_over_calendars": np_add_scalar / ours_add,
        "add_chinese_calendar_over_calendars": cc_add_us / ours_add,
        "add_calendars_over_numpy_vectorised": ours_add / np_add_vector,
        "between_numpy_scalar_over_calendars": np_btw_scalar / ours_btw,
        "between_chinese_calendar_over_calendars": cc_btw_us / ours_btw,
        "between_calendars_over_numpy_vectorised": ours_btw / np_btw_vector,
        "deadline_seasonal_over_default_hours": seasonal_deadline / ours_deadline,
    }
    disagreements = {
        "numpy_add_differs": np_add_diff,
        "numpy_between_differs": np_btw_diff,
        "numpy_differs_on_spans_without_makeup_days": np_diff_without_makeup,
        "chinese_calendar_add_differs": cc_add_diff,
        "chinese_calendar_between_differs": cc_btw_diff,
    }
    for k, v in figures.items():
        print(f"{k}: {v:.3f} us/call")
    for k, v in ratios.items():
        print(f"{k}: {v:.1f} x")
    print(f"numpy_add_differs: {np_add_diff} of {N_FAST} calls")
    print(f"numpy_between_differs: {np_btw_diff} of {N_FAST} calls")
    print(f"numpy_differs_on_spans_without_makeup_days: {np_diff_without_makeup} of {N_FAST} calls")
    print(f"chinese_calendar_add_differs: {cc_add_diff} of {N_SLOW} calls")
    print(f"chinese_calendar_between_differs: {cc_btw_diff} of {N_SLOW} calls")
    print(
        "note: numpy busdaycalendar cannot express makeup weekend working days (调休上班); "
        "its answers differ on spans that touch one"
    )
    result = {
        "benchmark": "calendar",
        "unit": "microseconds per call",
        "calls": {"fast": N_FAST, "chinese_calendar": N_SLOW},
        "figures_us": figures,
        "ratios": ratios,
        "disagreements": disagreements,
        "notes": [
            "numpy cannot express makeup weekend working days, so its answers differ on spans touching one",
            "chinese_calendar helpers walk day by day; find_workday is adjusted for 次日起算",
            "vectorised numpy figures are total time / number of elements for one array call",
        ],
        "machine": _machine(),
    }
    out = Path(__file__).resolve().parent / "results" / "calendar.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"results: {out}")
    return result


if __name__ == "__main__":
    main()
