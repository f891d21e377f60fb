"""The figures, workbook and chart of one daily or monthly report (日报 / 月报), for `publish_report`
(`activities.report_activities`, which imports this module on its first report: pandas, Altair and openpyxl stay
out of a worker's start and memory until a report is made).

The measures (docs/spec.md §4, seed 001) follow `dashboard.queries`' definitions, grouped by unit, channel and
category over the cases of one jurisdiction; a clock or case with no unit belongs to the provincial centre:
* 按时受理率 - acceptance clocks stopped in the period and never breached / acceptance clocks stopped;
* 限时办结率 - the same for investigation clocks;
* 回访落实率 - cases whose feedback went out in the period with a return visit that reached the complainant /
  those cases; 满意率 - satisfied or basically satisfied / reached; 复核率 - of those cases, the ones with a
  review requested; 复核纠错率 - review decisions made in the period that overturned / review decisions;
* intake per channel per day (by registration), extensions approved in the period (by the case's unit);
* overdue by unit and stage: clocks running and past their due instant at the end of the period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import altair as alt
import pandas as pd

from activities.contracts import ReportRequest
from calendars import shanghai_tz
from common.exports import to_xlsx_sheets
from common.labels import CATEGORY_LABELS, CHANNEL_LABELS, STAGE_LABELS

KIND_TITLES: dict[str, str] = {"daily": "日报", "monthly": "月报"}
GROUPINGS: tuple[str, ...] = ("unit", "channel", "category")
GROUPING_TITLES: dict[str, str] = {"unit": "按单位", "channel": "按渠道", "category": "按类别"}
TOTAL = "合计"


# ------------------------------------------------------------------------------------------ measures

# (numerator, denominator, Chinese name) of each rate, in the seed's order
RATES: tuple[tuple[str, str, str], ...] = (
    ("completed_on_time", "investigation_clocks", "限时办结率"),
    ("accepted_on_time", "acceptance_clocks", "按时受理率"),
    ("return_visits_reached", "feedback_cases", "回访落实率"),
    ("satisfied", "return_visits_reached", "满意率"),
    ("reviewed", "feedback_cases", "复核率"),
    ("overturned", "review_decisions", "复核纠错率"),
)
COUNTS: tuple[tuple[str, str], ...] = (("registered", "登记量"), ("extensions", "批准延期"))
COUNT_COLUMNS: tuple[str, ...] = (
    "registered", "acceptance_clocks", "accepted_on_time", "investigation_clocks", "completed_on_time",
    "feedback_cases", "return_visits_reached", "satisfied", "reviewed", "review_decisions", "overturned",
    "extensions",
)

# SQL text of each grouping for a clock row `k` and a case row `c` (joined to its directory `od`): column names
# chosen here only, never values
_CLOCK_KEY = {"unit": "COALESCE(k.unit, od.provincial_centre)", "channel": "c.channel", "category": "c.category",
              "total": "c.jurisdiction"}
_CASE_KEY = {"unit": "COALESCE(c.handling_unit, od.provincial_centre)", "channel": "c.channel",
             "category": "c.category", "total": "c.jurisdiction"}


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = shanghai_tz()
    return datetime.combine(start, time(0), tzinfo=tz), datetime.combine(end + timedelta(days=1), time(0), tzinfo=tz)


async def period_counts(conn: Any, jurisdiction: str, start: date, end: date, grouping: str) -> pd.DataFrame:
    """The counts behind every rate for the cases of `jurisdiction`, per group (`grouping` one of `GROUPINGS`
    or "total"), for the local days [start, end]. One row per group that has any figure; columns `key` and
    `COUNT_COLUMNS`."""
    lo, hi = _bounds(start, end)
    ck, cc = _CLOCK_KEY[grouping], _CASE_KEY[grouping]
    frames = [
        await conn.fetch(
            f"""
            SELECT {ck} AS key,
                   count(*) FILTER (WHERE k.clock = 'acceptance') AS acceptance_clocks,
                   count(*) FILTER (WHERE k.clock = 'acceptance' AND NOT k.breached) AS accepted_on_time,
                   count(*) FILTER (WHERE k.clock = 'investigation') AS investigation_clocks,
                   count(*) FILTER (WHERE k.clock = 'investigation' AND NOT k.breached) AS completed_on_time
            FROM sla_clocks k JOIN cases c ON c.case_no = k.case_no
            LEFT JOIN org_directories od ON od.jurisdiction = c.jurisdiction
            WHERE c.jurisdiction = $1 AND k.clock IN ('acceptance', 'investigation')
              AND k.stopped_at >= $2 AND k.stopped_at < $3
            GROUP BY 1
            """,
            jurisdiction, lo, hi,
        ),
        await conn.fetch(
            f"""
            SELECT {cc} AS key, count(*) AS feedback_cases,
                   count(*) FILTER (WHERE c.satisfaction IS NOT NULL AND c.satisfaction <> 'unreachable')
                       AS return_visits_reached,
                   count(*) FILTER (WHERE c.satisfaction IN ('satisfied', 'basically_satisfied')) AS satisfied,
                   count(*) FILTER (WHERE EXISTS (SELECT 1 FROM case_events e
                                                  WHERE e.case_no = c.case_no AND e.kind = 'review_requested'))
                       AS reviewed
            FROM cases c LEFT JOIN org_directories od ON od.jurisdiction = c.jurisdiction
            WHERE c.jurisdiction = $1 AND c.feedback_sent_at >= $2 AND c.feedback_sent_at < $3
            GROUP BY 1
            """,
            jurisdiction, lo, hi,
        ),
        await conn.fetch(
            f"""
            SELECT {cc} AS key, count(*) FILTER (WHERE e.kind = 'review_decided') AS review_decisions,
                   count(*) FILTER (WHERE e.kind = 'review_decided' AND e.details->>'outcome' = 'overturn')
                       AS overturned,
                   count(*) FILTER (WHERE e.kind = 'extension_approved') AS extensions
            FROM case_events e JOIN cases c ON c.case_no = e.case_no
            LEFT JOIN org_directories od ON od.jurisdiction = c.jurisdiction
            WHERE c.jurisdiction = $1 AND e.kind IN ('review_decided', 'extension_approved')
              AND e.at >= $2 AND e.at < $3
            GROUP BY 1
            """,
            jurisdiction, lo, hi,
        ),
        await conn.fetch(
            f"""
            SELECT {cc} AS key, count(*) AS registered
            FROM cases c LEFT JOIN org_directories od ON od.jurisdiction = c.jurisdiction
            WHERE c.jurisdiction = $1 AND c.registered_at >= $2 AND c.registered_at < $3
            GROUP BY 1
            """,
            jurisdiction, lo, hi,
        ),
    ]
    out = pd.DataFrame({"key": pd.Series(dtype=object)})
    for rows in frames:
        part = pd.DataFrame([dict(r) for r in rows])
        if not part.empty:
            out = out.merge(part, on="key", how="outer")
    for col in COUNT_COLUMNS:
        out[col] = out[col].fillna(0).astype(int) if col in out else 0
    return out[["key", *COUNT_COLUMNS]].sort_values("key", kind="stable").reset_index(drop=True)


async def intake_per_channel_per_day(conn: Any, jurisdiction: str, start: date, end: date) -> pd.DataFrame:
    """Cases registered per local day and channel (days and channels with none are left out)."""
    lo, hi = _bounds(start, end)
    rows = await conn.fetch(
        """
        SELECT (c.registered_at AT TIME ZONE 'Asia/Shanghai')::date AS day, c.channel, count(*) AS registered
        FROM cases c
        WHERE c.jurisdiction = $1 AND c.registered_at >= $2 AND c.registered_at < $3
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        jurisdiction, lo, hi,
    )
    return pd.DataFrame([dict(r) for r in rows], columns=["day", "channel", "registered"])


async def overdue_by_unit_and_stage(conn: Any, jurisdiction: str, at: datetime) -> pd.DataFrame:
    """Clocks running at `at` (started before, not stopped by then) and past their due instant, per unit and
    clock."""
    rows = await conn.fetch(
        """
        SELECT COALESCE(k.unit, od.provincial_centre) AS unit_id, k.clock AS stage, count(*) AS overdue
        FROM sla_clocks k JOIN cases c ON c.case_no = k.case_no
        LEFT JOIN org_directories od ON od.jurisdiction = c.jurisdiction
        WHERE c.jurisdiction = $1 AND k.started_at < $2 AND k.due_at < $2
          AND (k.stopped_at IS NULL OR k.stopped_at >= $2)
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        jurisdiction, at,
    )
    return pd.DataFrame([dict(r) for r in rows], columns=["unit_id", "stage", "overdue"])


def rate(num: int, den: int) -> float | None:
    """A percentage to one decimal, None when there is nothing to divide."""
    return None if den == 0 else round(100.0 * num / den, 1)


# ------------------------------------------------------------------------------------------ the workbook


@dataclass(frozen=True)
class ReportTables:
    """Everything a report shows, as tables with Chinese headers (sheet name, frame, headers)."""

    sheets: list[tuple[str, pd.DataFrame, dict[str, str]]]
    summary: dict[str, Any]
    chart: alt.TopLevelMixin


def _label(table: dict[str, tuple[str, str]], code: Any) -> str:
    return table.get(code, (code, code))[0] if isinstance(code, str) else ""


def measure_table(
    current: pd.DataFrame, previous: pd.DataFrame, names: dict[str, str], key_header: str,
    every: Sequence[str] = (),
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per group of either period and per key of `every` (its code, its name): the counts, then each rate
    for this period beside the previous one."""
    both = current.merge(previous, on="key", how="outer", suffixes=("", "_prev"))
    both = both.merge(pd.DataFrame({"key": list(every)}, dtype=object), on="key", how="outer").fillna(0)
    both = both.sort_values("key", kind="stable").reset_index(drop=True)
    frame = pd.DataFrame({"code": both["key"], "key": [names.get(k, k) for k in both["key"]]})
    headers = {"code": "代码", "key": key_header}
    for col, title in COUNTS:
        frame[col] = both[col].astype(int)
        frame[f"{col}_prev"] = both[f"{col}_prev"].astype(int)
        headers[col], headers[f"{col}_prev"] = f"{title}（本期）", f"{title}（上期）"
    for num, den, title in RATES:
        frame[num + "_pct"] = [rate(int(a), int(b)) for a, b in zip(both[num], both[den], strict=True)]
        frame[num + "_pct_prev"] = [rate(int(a), int(b)) for a, b in zip(both[num + "_prev"], both[den + "_prev"],
                                                                        strict=True)]
        headers[num + "_pct"], headers[num + "_pct_prev"] = f"{title}%（本期）", f"{title}%（上期）"
    return frame, headers


def build_tables(
    req: ReportRequest,
    counts: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    intake: pd.DataFrame,
    overdue: tuple[pd.DataFrame, pd.DataFrame],
    unit_names: dict[str, str],
    bureau_units: Sequence[str],
) -> ReportTables:
    """The report's sheets and chart from its figures (pure). `counts` maps "total" and each of `GROUPINGS` to
    (this period, previous period) as `period_counts` returns them; every unit of `bureau_units` has its row,
    with or without figures."""
    names = {
        "total": {req.jurisdiction: TOTAL},
        "unit": unit_names,
        "channel": {k: v[0] for k, v in CHANNEL_LABELS.items()},
        "category": {k: v[0] for k, v in CATEGORY_LABELS.items()},
    }
    sheets: list[tuple[str, pd.DataFrame, dict[str, str]]] = []
    total_cur, total_prev = counts["total"]
    summary_rows = []
    cur_row = total_cur.iloc[0] if len(total_cur) else pd.Series(0, index=COUNT_COLUMNS)
    prev_row = total_prev.iloc[0] if len(total_prev) else pd.Series(0, index=COUNT_COLUMNS)
    for col, title in COUNTS:
        summary_rows.append((title, int(cur_row[col]), int(prev_row[col])))
    for num, den, title in RATES:
        summary_rows.append((f"{title}%", rate(int(cur_row[num]), int(cur_row[den])),
                             rate(int(prev_row[num]), int(prev_row[den]))))
    overview = pd.DataFrame(summary_rows, columns=["measure", "current", "previous"])
    period = f"{req.period_start:%Y-%m-%d}至{req.period_end:%Y-%m-%d}"
    previous = f"{req.previous_start:%Y-%m-%d}至{req.previous_end:%Y-%m-%d}"
    sheets.append(("概要", overview, {"measure": "指标", "current": f"本期 {period}", "previous": f"上期 {previous}"}))
    for grouping in GROUPINGS:
        cur, prev = counts[grouping]
        key_header = {"unit": "单位", "channel": "渠道", "category": "类别"}[grouping]
        frame, headers = measure_table(cur, prev, names[grouping], key_header,
                                       bureau_units if grouping == "unit" else ())
        sheets.append((GROUPING_TITLES[grouping], frame, headers))
        if grouping == "unit":
            chart = report_chart(frame, req)
    day_frame = intake.assign(channel=[_label(CHANNEL_LABELS, c) for c in intake["channel"]])
    sheets.append(("各渠道每日登记", day_frame, {"day": "日期", "channel": "渠道", "registered": "登记量"}))
    over_cur, over_prev = overdue
    over = over_cur.merge(over_prev, on=["unit_id", "stage"], how="outer", suffixes=("", "_prev")).fillna(0)
    over = over.sort_values(["unit_id", "stage"], kind="stable").reset_index(drop=True)
    over_frame = pd.DataFrame({
        "unit_id": over["unit_id"],
        "unit_name": [unit_names.get(u, u) for u in over["unit_id"]],
        "stage": [_label(STAGE_LABELS, s) for s in over["stage"]],
        "overdue": over["overdue"].astype(int),
        "overdue_prev": over["overdue_prev"].astype(int),
    })
    sheets.append(("超期（按单位和环节）", over_frame, {
        "unit_id": "单位代码", "unit_name": "单位", "stage": "环节",
        "overdue": "期末超期数（本期）", "overdue_prev": "期末超期数（上期）",
    }))
    summary = {
        "title": f"{KIND_TITLES[req.kind]} {req.jurisdiction} {req.published_on:%Y-%m-%d}",
        "period": period,
        "previous": previous,
        "measures": {m: {"current": c, "previous": p} for m, c, p in summary_rows},
    }
    return ReportTables(sheets, summary, chart)


def report_chart(units: pd.DataFrame, req: ReportRequest) -> alt.TopLevelMixin:
    """限时办结率 and 按时受理率 per unit, this period beside the previous one (units without clocks left out)."""
    rows = []
    for _, r in units.iterrows():
        for col, title in (("completed_on_time_pct", "限时办结率"), ("accepted_on_time_pct", "按时受理率")):
            for suffix, when in (("", "本期"), ("_prev", "上期")):
                value = r[col + suffix]
                if value is not None and not pd.isna(value):
                    rows.append({"单位": r["key"], "指标": title, "期间": when, "百分比": float(value)})
    data = pd.DataFrame(rows, columns=["单位", "指标", "期间", "百分比"])
    order = ["上期", "本期"]
    return (
        alt.Chart(data, title=f"{req.jurisdiction} {KIND_TITLES[req.kind]} {req.published_on:%Y-%m-%d}")
        .mark_bar()
        .encode(
            y=alt.Y("单位:N", title=None),
            yOffset=alt.YOffset("期间:N", sort=order),
            x=alt.X("百分比:Q", scale=alt.Scale(domain=[0, 100]), title="%"),
            color=alt.Color("期间:N", sort=order, legend=alt.Legend(title=None)),
            column=alt.Column("指标:N", title=None),
            tooltip=["单位", "指标", "期间", "百分比"],
        )
        .properties(width=240)
    )


def render_png(chart: alt.TopLevelMixin) -> bytes:
    """The chart as PNG, rendered in this process (vl-convert's bundled engine; no browser, no network)."""
    import vl_convert  # a large native module, needed only here

    return bytes(vl_convert.vegalite_to_png(chart.to_dict(), scale=1.5))


def workbook(tables: ReportTables) -> bytes:
    """The report's `.xlsx`: one sheet per table, Chinese headers, the header row frozen."""
    return to_xlsx_sheets(tables.sheets)


# ------------------------------------------------------------------------------------------ the activity


async def gather(conn: Any, req: ReportRequest) -> ReportTables:
    """Run the report's queries and shape them (`build_tables`)."""
    counts = {
        g: (await period_counts(conn, req.jurisdiction, req.period_start, req.period_end, g),
            await period_counts(conn, req.jurisdiction, req.previous_start, req.previous_end, g))
        for g in ("total", *GROUPINGS)
    }
    intake = await intake_per_channel_per_day(conn, req.jurisdiction, req.period_start, req.period_end)
    overdue = (await overdue_by_unit_and_stage(conn, req.jurisdiction, _bounds(req.period_start, req.period_end)[1]),
               await overdue_by_unit_and_stage(conn, req.jurisdiction,
                                               _bounds(req.previous_start, req.previous_end)[1]))
    units = await conn.fetch("SELECT unit_id, name, jurisdiction FROM org_units ORDER BY unit_id")
    names = {r["unit_id"]: r["name"] for r in units}
    return build_tables(req, counts, intake, overdue, names,
                        [r["unit_id"] for r in units if r["jurisdiction"] == req.jurisdiction])
