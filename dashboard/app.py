"""The supervisor dashboard (Streamlit entry point): overview, SLA board, case list, units, case detail, calendar,
the daily and monthly reports.

Run: `streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port 8501` with
`COMPLAINTS_DATABASE_URL` set. Read-only over the PostgreSQL read model (masked data only; `case_pii` is never
read), except the supervisor's extension decision, which goes to the workflow as an Update.

Environment: the `COMPLAINTS_*` settings; plus `COMPLAINTS_DASHBOARD_NOW` (ISO instant, pins "now" for tests
and demos) and `COMPLAINTS_DASHBOARD_REFRESH_SECONDS` (auto-refresh interval, default 60, 0 = off).
"""

from __future__ import annotations

import calendar as pycal
import logging
import os
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from calendars import get_calendar, known_jurisdictions, shanghai_tz
from cases.models import CASE_NO_RE, CaseKind, Channel, Stage
from clients.case_client import CaseClientError
from common.exports import MIME
from common.logs import configure_logging
from common.settings import Settings
from dashboard import queries as q
from dashboard import reports
from dashboard.access import Access, embedded_access, resolve_access
from dashboard.actions import decide_extension, extension_decision
from dashboard.db import DataSourceUnavailable, run_queries
from dashboard.i18n import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    DAY_KIND_LABELS,
    KIND_LABELS,
    LANGS,
    LEVEL_COLOURS,
    LEVEL_LABELS,
    STAGE_LABELS,
    level_label,
    t,
    vocab,
)

log = logging.getLogger("complaints.dashboard")

PAGES = ("overview", "board", "cases", "units", "case", "calendar", "reports")
PERIODS = ("this_month", "last_7", "last_30", "last_month", "this_quarter", "custom")


def now() -> datetime:
    """The current instant (Asia/Shanghai), or the pinned `COMPLAINTS_DASHBOARD_NOW`."""
    pinned = os.environ.get("COMPLAINTS_DASHBOARD_NOW")
    if pinned:
        return datetime.fromisoformat(pinned).astimezone(shanghai_tz())
    return datetime.now(shanghai_tz())


def period_for(preset: str, today: date, custom: tuple[date, date] | None = None) -> q.Period:
    """The period a preset names, relative to `today`."""
    if preset == "last_7":
        return q.Period(today - timedelta(days=6), today)
    if preset == "last_30":
        return q.Period(today - timedelta(days=29), today)
    if preset == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        return q.Period(end.replace(day=1), end)
    if preset == "this_quarter":
        return q.Period(date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today)
    if preset == "custom" and custom:
        return q.Period(*custom)
    return q.Period(today.replace(day=1), today)


def pct(value: float | None) -> str:
    """A rate for display ("—" when there is nothing to divide)."""
    return "—" if value is None else f"{value:.1f}%"


def local_minute(instant: datetime | None) -> str:
    """An instant as Beijing time to the minute ("" when there is none: None or pandas' NaT)."""
    return "" if instant is None or pd.isna(instant) else instant.astimezone(shanghai_tz()).strftime("%Y-%m-%d %H:%M")


def pct_delta(cur: float | None, prev: float | None) -> str | None:
    """Change in percentage points, or None when either side is missing."""
    if cur is None or prev is None:
        return None
    return f"{cur - prev:+.1f} pp"


def unavailable(lang: str, exc: Exception) -> None:
    """The page shown when the database cannot be reached."""
    log.warning("read model unavailable: %s", exc)
    st.error(f"⚠️ {t('unavailable', lang)}")
    st.caption(str(exc)[:300])


class Ctx:
    """What every page needs: settings, language, access, the chosen scope and period, "now"."""

    def __init__(self, settings: Settings, lang: str, access: Access) -> None:
        self.settings = settings
        self.lang = lang
        self.access = access
        self.now = now()
        self.tree: pd.DataFrame = pd.DataFrame()
        self.scope: list[str] | None = None
        self.scope_root: str | None = None
        self.period = q.Period(self.now.date().replace(day=1), self.now.date())

    def run(self, fn: Callable[[Any], Any]) -> Any:
        """Run the page's queries on one connection."""
        return run_queries(self.settings.database_url, fn)

    def temporal_link(self, case_no: str) -> str:
        """The case in the Temporal Web UI."""
        base = self.settings.temporal_ui_url.rstrip("/")
        return f"{base}/namespaces/{self.settings.temporal_namespace}/workflows/complaint-{case_no}"

    def unit_name(self, unit_id: str | None) -> str:
        """Name of a unit (the id if unknown)."""
        if not unit_id or self.tree.empty:
            return unit_id or ""
        hit = self.tree[self.tree.unit_id == unit_id]
        return str(hit.iloc[0]["name"]) if len(hit) else unit_id


# ---------------------------------------------------------------------------------------------- charts


def labelled(df: pd.DataFrame, keys: dict[str, str], lang: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """`df`'s columns renamed to their labels (column -> i18n key), so that axes, legends and tooltips show
    translated names; returns the frame and column -> label."""
    names = {col: t(key, lang) for col, key in keys.items()}
    return df[list(keys)].rename(columns=names), names


def chart_or_dash(df: pd.DataFrame, build: Callable[[], alt.Chart]) -> None:
    if df.empty:
        st.info("—")
    else:
        st.altair_chart(build(), width="stretch")


def bars_over_time(df: pd.DataFrame, n: dict[str, str], when: str, count: str, group: str) -> None:
    """`count` summed per date of column `when`, stacked by `group` (columns as given to `labelled`, `n` its
    labels)."""
    chart_or_dash(df, lambda: alt.Chart(df).mark_bar().encode(
        x=alt.X(field=n[when], type="temporal", timeUnit="yearmonthdate", title=n[when]),
        y=alt.Y(field=n[count], type="quantitative", aggregate="sum", title=n[count]),
        color=alt.Color(field=n[group], type="nominal", title=n[group]),
        tooltip=[alt.Tooltip(field=n[k], type=ty) for k, ty in
                 ((when, "temporal"), (group, "nominal"), (count, "quantitative"))],
    ))


CHART_MINUTES = 5  # the overview's charts are recomputed at most this often (open cases by level per day is heavy)


@st.cache_data(ttl=CHART_MINUTES * 60, show_spinner=False, max_entries=64)
def overview_chart_data(
    database_url: str, start: date, end: date, scope: tuple[str, ...] | None, as_of: datetime
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The overview charts' series as of `as_of` (a multiple of `CHART_MINUTES`, so that the page's refreshes
    and every supervisor looking at the same scope share one computation)."""
    period, units = q.Period(start, end), None if scope is None else list(scope)

    async def load(c: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return (
            await q.intake_per_day(c, period, units),
            await q.open_by_level_per_day(c, period, units, as_of),
            await q.on_time_per_month(c, units, as_of),
        )

    result: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] = run_queries(database_url, load)
    return result


def overview_charts(ctx: Ctx) -> None:
    """Intake per day by channel, open cases by level over time (the period), on-time rates per month."""
    lang = ctx.lang
    as_of = ctx.now.replace(minute=ctx.now.minute - ctx.now.minute % CHART_MINUTES, second=0, microsecond=0)
    intake, levels, monthly = overview_chart_data(
        ctx.settings.database_url, ctx.period.start, ctx.period.end,
        None if ctx.scope is None else tuple(ctx.scope), as_of,
    )
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{t('intake_per_day', lang)}**")
        df, n = labelled(intake.assign(channel=[vocab(CHANNEL_LABELS, v, lang) for v in intake["channel"]]),
                         {"day": "day", "channel": "channel", "registered": "registered"}, lang)
        bars_over_time(df, n, "day", "registered", "channel")
    with right:
        st.markdown(f"**{t('open_by_level_trend', lang)}**")
        order = ["red", "yellow", "blue", "on_track"]
        df, n = labelled(levels.assign(sla_level=[vocab(LEVEL_LABELS, v, lang) for v in levels["sla_level"]]),
                         {"day": "day", "sla_level": "level", "cases": "open_cases"}, lang)
        chart_or_dash(df, lambda: alt.Chart(df).mark_area().encode(
            x=alt.X(field=n["day"], type="temporal", timeUnit="yearmonthdate", title=n["day"]),
            y=alt.Y(field=n["cases"], type="quantitative", stack="zero", title=n["cases"]),
            color=alt.Color(field=n["sla_level"], type="nominal", title=n["sla_level"],
                            sort=[vocab(LEVEL_LABELS, v, lang) for v in order],
                            scale=alt.Scale(domain=[vocab(LEVEL_LABELS, v, lang) for v in order],
                                            range=["#e03131", "#f08c00", "#1c7ed6", "#94d82d"])),
            tooltip=[alt.Tooltip(field=n[k], type=ty) for k, ty in
                     (("day", "temporal"), ("sla_level", "nominal"), ("cases", "quantitative"))],
        ))
    st.markdown(f"**{t('on_time_per_month', lang)}**")
    rate_names = {"acceptance": t("on_time_acceptance", lang), "investigation": t("on_time_completion", lang)}
    df, n = labelled(monthly.assign(clock=[rate_names.get(v, v) for v in monthly["clock"]]),
                     {"month": "month", "clock": "rate_kind", "on_time_pct": "on_time_rate", "clocks": "clock_count"},
                     lang)
    chart_or_dash(df, lambda: alt.Chart(df).mark_line(point=True).encode(
        x=alt.X(field=n["month"], type="temporal", timeUnit="yearmonth", title=n["month"]),
        y=alt.Y(field=n["on_time_pct"], type="quantitative", scale=alt.Scale(domain=[0, 100]),
                title=n["on_time_pct"]),
        color=alt.Color(field=n["clock"], type="nominal", title=n["clock"]),
        tooltip=[alt.Tooltip(field=n[k], type=ty) for k, ty in
                 (("month", "temporal"), ("clock", "nominal"), ("on_time_pct", "quantitative"),
                  ("clocks", "quantitative"))],
    ))


# ---------------------------------------------------------------------------------------------- pages


def page_overview(ctx: Ctx) -> None:
    """Open cases by level, due today/tomorrow, and the period's rates beside the previous period's."""
    lang = ctx.lang
    ov: q.Overview = ctx.run(lambda c: q.overview(c, ctx.period, ctx.scope, ctx.now))
    st.subheader(t("open_cases", lang) + f": {ov.open_total}")
    cols = st.columns(6)
    for col, level in zip(cols, ("red", "yellow", "blue", "on_track"), strict=False):
        col.metric(level_label(level, lang), ov.open_by_level[level])
    cols[4].metric(t("due_today", lang), ov.due_today)
    cols[5].metric(t("due_tomorrow", lang), ov.due_tomorrow)

    prev = ov.previous_period
    st.subheader(f"{t('period', lang)}: {ov.period.start} – {ov.period.end}")
    st.caption(f"{t('previous', lang)}: {prev.start} – {prev.end}")
    cur, old = ov.current, ov.previous
    rates = [
        ("on_time_acceptance", cur.on_time_acceptance_pct, old.on_time_acceptance_pct,
         f"{cur.accepted_on_time}/{cur.acceptance_clocks}"),
        ("on_time_completion", cur.on_time_completion_pct, old.on_time_completion_pct,
         f"{cur.completed_on_time}/{cur.investigation_clocks}"),
        ("return_visit_coverage", cur.return_visit_coverage_pct, old.return_visit_coverage_pct,
         f"{cur.return_visits_reached}/{cur.feedback_cases}"),
        ("satisfaction", cur.satisfaction_pct, old.satisfaction_pct, f"{cur.satisfied}/{cur.return_visits_reached}"),
        ("review_rate", cur.review_rate_pct, old.review_rate_pct, f"{cur.reviewed}/{cur.feedback_cases}"),
        ("overturn_rate", cur.overturn_rate_pct, old.overturn_rate_pct, f"{cur.overturned}/{cur.review_decisions}"),
    ]
    cols = st.columns(len(rates))
    for col, (key, c, p, basis) in zip(cols, rates, strict=True):
        inverse = key in ("review_rate", "overturn_rate")
        col.metric(t(key, lang), pct(c), pct_delta(c, p), delta_color="inverse" if inverse else "normal",
                   help=f"{t('basis', lang)}: {basis}; {t('previous', lang)}: {pct(p)}")
    table = pd.DataFrame(
        {
            t("metric", lang): [t(k, lang) for k, *_ in rates] + [t("registered", lang)],
            t("current", lang): [pct(c) for _, c, _, _ in rates] + [str(cur.registered)],
            t("previous", lang): [pct(p) for _, _, p, _ in rates] + [str(old.registered)],
            t("delta", lang): [pct_delta(c, p) or "—" for _, c, p, _ in rates]
            + [f"{cur.registered - old.registered:+d}"],
            t("basis", lang): [b for *_, b in rates] + [""],
        }
    )
    st.dataframe(table, hide_index=True, width="stretch")
    overview_charts(ctx)
    undelivered_notifications(ctx)


def undelivered_notifications(ctx: Ctx) -> None:
    """Messages the outbox gave up on: without a person they never reach the complainant or the unit."""
    lang = ctx.lang
    total, rows = ctx.run(lambda c: q.undelivered_notifications(c, ctx.scope))
    st.subheader(f"{t('undelivered', lang)}: {total}", help=t("undelivered_help", lang))
    if total:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption(t("undelivered_none", lang))


def _choice(label: str, options: list[str], table: dict[str, tuple[str, str]] | None, lang: str, key: str,
            container: Any) -> str | None:
    opts = [""] + options
    picked = container.selectbox(
        label, opts, key=key,
        format_func=lambda v: t("any", lang) if v == "" else (vocab(table, v, lang) if table else v),
    )
    return picked or None


def downloads(ctx: Ctx, report: str, build: Callable[[], reports.Report]) -> None:
    """The table as `.xlsx` and CSV. The file is built when the button is pressed (`build` re-runs the table's
    query without the page limit where there is one), not on every render or auto-refresh."""
    cols = st.columns(2)
    for col, fmt in zip(cols, ("xlsx", "csv"), strict=True):
        col.download_button(
            t(f"download_{fmt}", ctx.lang),
            data=lambda fmt=fmt: build().render(fmt),
            file_name=reports.file_name(report, fmt, ctx.now),
            mime=MIME[fmt],
            key=f"{report}_{fmt}",
            on_click="ignore",
        )


def rows_caption(ctx: Ctx, shown: int, total: int) -> None:
    """How many rows the page draws of how many there are; a warning when the page is cut."""
    lang = ctx.lang
    st.caption(f"{t('rows_shown', lang).format(shown=shown, total=total)} · {t('as_of', lang)} "
               f"{ctx.now:%Y-%m-%d %H:%M}")
    if shown < total:
        st.warning(t("rows_cut", lang).format(shown=shown, total=total))


def page_board(ctx: Ctx) -> None:
    """Cases needing attention, soonest breach first, coloured by level, with filters and Temporal links."""
    lang = ctx.lang
    units_in_scope = [u for u in ctx.tree.unit_id if ctx.scope is None or u in set(ctx.scope)]
    c1, c2, c3, c4, c5 = st.columns(5)
    unit = c1.selectbox(t("unit", lang), [""] + units_in_scope, key="board_unit",
                        format_func=lambda v: t("any", lang) if v == "" else f"{ctx.unit_name(v)} ({v})")
    stage = _choice(t("stage", lang), [s.value for s in Stage if s is not Stage.archived], STAGE_LABELS, lang,
                    "board_stage", c2)
    kind = _choice(t("kind", lang), [k.value for k in CaseKind], KIND_LABELS, lang, "board_kind", c3)
    channel = _choice(t("channel", lang), [ch.value for ch in Channel], CHANNEL_LABELS, lang, "board_channel", c4)
    levels = c5.multiselect(t("level", lang), list(q.LEVELS), default=list(q.ATTENTION_LEVELS), key="board_levels",
                            format_func=lambda v: level_label(v, lang))
    filters = q.BoardFilters(unit=unit or None, stage=stage, kind=kind, channel=channel,
                             levels=tuple(levels) or q.ATTENTION_LEVELS)

    async def load(c: Any) -> tuple[pd.DataFrame, int]:
        return await q.sla_board(c, ctx.scope, filters, ctx.now), await q.sla_board_total(c, ctx.scope, filters)

    board, total = ctx.run(load)
    rows_caption(ctx, len(board), total)
    if board.empty:
        st.info(t("no_cases", lang))
        return
    view = pd.DataFrame(
        {
            "case_no": board["case_no"],
            "level": [level_label(v, lang) for v in board["sla_level"]],
            "wd_left": board["wd_left"],
            "days_overdue": board["days_overdue"],
            "due_at": [local_minute(d) for d in board["due_at"]],
            "due_clock": [vocab(STAGE_LABELS, v, lang) if isinstance(v, str) else "" for v in board["due_clock"]],
            "stage": [vocab(STAGE_LABELS, v, lang) for v in board["stage"]],
            "unit": [
                f"{n} ({u})" if isinstance(u, str) and u else t("unassigned", lang)
                for n, u in zip(board["unit_name"].fillna(""), board["handling_unit"], strict=True)
            ],
            "kind": [vocab(KIND_LABELS, v, lang) for v in board["kind"]],
            "channel": [vocab(CHANNEL_LABELS, v, lang) for v in board["channel"]],
            "extension": board["extension_status"].fillna(""),
            "temporal": [ctx.temporal_link(n) for n in board["case_no"]],
        }
    )
    colours = {level_label(level, lang): colour for level, colour in LEVEL_COLOURS.items()}
    styled = view.style.map(lambda v: f"background-color: {colours[v]}" if v in colours else "", subset=["level"])
    st.dataframe(
        styled,
        hide_index=True,
        width="stretch",
        column_config={
            "case_no": t("case_no", lang),
            "level": t("level", lang),
            "wd_left": st.column_config.NumberColumn(t("wd_left", lang)),
            "days_overdue": st.column_config.NumberColumn(t("days_overdue", lang)),
            "due_at": t("due_at", lang),
            "due_clock": t("due_clock", lang),
            "stage": t("stage", lang),
            "unit": t("unit", lang),
            "kind": t("kind", lang),
            "channel": t("channel", lang),
            "extension": t("extension", lang),
            "temporal": st.column_config.LinkColumn(t("temporal", lang), display_text=t("open_link", lang)),
        },
    )
    scope, as_of = ctx.scope, ctx.now
    downloads(ctx, "sla-board", lambda: ctx.run(lambda c: reports.load_board(c, scope, filters, as_of)))


def page_cases(ctx: Ctx) -> None:
    """Every case in scope (open or closed) with filters; by default those registered in the period."""
    lang = ctx.lang
    units_in_scope = [u for u in ctx.tree.unit_id if ctx.scope is None or u in set(ctx.scope)]
    c1, c2, c3, c4 = st.columns(4)
    unit = c1.selectbox(t("unit", lang), [""] + units_in_scope, key="cases_unit",
                        format_func=lambda v: t("any", lang) if v == "" else f"{ctx.unit_name(v)} ({v})")
    stage = _choice(t("stage", lang), [s.value for s in Stage], STAGE_LABELS, lang, "cases_stage", c2)
    kind = _choice(t("kind", lang), [k.value for k in CaseKind], KIND_LABELS, lang, "cases_kind", c3)
    channel = _choice(t("channel", lang), [ch.value for ch in Channel], CHANNEL_LABELS, lang, "cases_channel", c4)
    c5, c6, c7 = st.columns(3)
    levels = c5.multiselect(t("level", lang), list(q.LEVELS), default=[], key="cases_levels",
                            format_func=lambda v: level_label(v, lang))
    status = c6.selectbox(t("status", lang), list(q.CASE_STATUSES), key="cases_status",
                          format_func=lambda v: t(f"status_{v}", lang))
    in_period = c7.checkbox(t("registered_in_period", lang), value=True, key="cases_in_period")
    filters = q.CaseListFilters(unit=unit or None, stage=stage, kind=kind, channel=channel,
                                levels=tuple(levels) or None, status=status,
                                registered=ctx.period if in_period else None)

    async def load(c: Any) -> tuple[pd.DataFrame, int]:
        return await q.case_list(c, ctx.scope, filters), await q.case_list_total(c, ctx.scope, filters)

    cases, total = ctx.run(load)
    rows_caption(ctx, len(cases), total)
    if cases.empty:
        st.info("—")
        return
    view = pd.DataFrame(
        {
            "case_no": cases["case_no"],
            "status": [t("status_open" if o else "status_closed", lang) for o in cases["open"]],
            "level": [level_label(v, lang) for v in cases["sla_level"]],
            "stage": [vocab(STAGE_LABELS, v, lang) for v in cases["stage"]],
            "unit": [f"{n} ({u})" if isinstance(u, str) and u else t("unassigned", lang)
                     for n, u in zip(cases["unit_name"].fillna(""), cases["handling_unit"], strict=True)],
            "kind": [vocab(KIND_LABELS, v, lang) for v in cases["kind"]],
            "channel": [vocab(CHANNEL_LABELS, v, lang) for v in cases["channel"]],
            "category": [vocab(CATEGORY_LABELS, v, lang) for v in cases["category"]],
            "registered_at": [local_minute(d) for d in cases["registered_at"]],
            "due_at": [local_minute(d) for d in cases["due_at"]],
        }
    )
    st.dataframe(view, hide_index=True, width="stretch",
                 column_config={col: t(col, lang) for col in view.columns})
    scope = ctx.scope
    downloads(ctx, "cases", lambda: ctx.run(lambda c: reports.load_case_list(c, scope, filters)))


def page_units(ctx: Ctx) -> None:
    """League table per handling unit, stage durations (median / p90 working days), what is overdue now by unit
    and stage, and weekly breaches."""
    lang = ctx.lang

    async def load(c: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return (
            await q.unit_league(c, ctx.period, ctx.scope),
            await q.stage_durations(c, ctx.period, ctx.scope),
            await q.breach_trend(c, ctx.scope, ctx.now),
            await q.overdue_by_unit_and_stage(c, ctx.scope),
        )

    league, durations, trend, overdue = ctx.run(load)
    st.subheader(t("league", lang))
    st.dataframe(
        league[["unit_id", "unit_name", "open", "overdue", "on_time_pct", "completed", "returns", "extensions",
                "extensions_pending"]],
        hide_index=True,
        width="stretch",
        column_config={
            "unit_id": t("unit_id", lang),
            "unit_name": t("unit", lang),
            "open": t("open_cases", lang),
            "overdue": t("overdue", lang),
            "on_time_pct": st.column_config.NumberColumn(t("on_time_pct", lang), format="%.1f"),
            "completed": t("completed", lang),
            "returns": t("returns", lang),
            "extensions": t("extensions", lang),
            "extensions_pending": t("extensions_pending", lang),
        },
    )
    downloads(ctx, "units", lambda: reports.league_report(league))
    st.subheader(t("durations", lang))
    if durations.empty:
        st.info("—")
    else:
        d = durations.assign(stage=[vocab(STAGE_LABELS, v, lang) for v in durations["clock"]])
        st.dataframe(d[["unit_id", "unit_name", "stage", "n", "median_wd", "p90_wd"]], hide_index=True,
                     width="stretch",
                     column_config={
                         "unit_id": t("unit_id", lang),
                         "unit_name": t("unit", lang),
                         "stage": t("stage", lang),
                         "n": t("clock_count", lang),
                         "median_wd": st.column_config.NumberColumn(t("median_wd", lang), format="%.1f"),
                         "p90_wd": st.column_config.NumberColumn(t("p90_wd", lang), format="%.1f"),
                     })
        downloads(ctx, "stages", lambda: reports.durations_report(durations))
    st.subheader(t("overdue_by_unit_stage", lang))
    df, n = labelled(overdue.assign(clock=[vocab(STAGE_LABELS, v, lang) for v in overdue["clock"]],
                                    unit_name=[name or unit for name, unit in
                                               zip(overdue["unit_name"], overdue["unit_id"], strict=True)]),
                     {"unit_name": "unit", "clock": "stage", "overdue": "overdue"}, lang)
    chart_or_dash(df, lambda: alt.Chart(df).mark_bar().encode(
        y=alt.Y(field=n["unit_name"], type="nominal", title=n["unit_name"], sort="-x"),
        x=alt.X(field=n["overdue"], type="quantitative", aggregate="sum", title=n["overdue"]),
        color=alt.Color(field=n["clock"], type="nominal", title=n["clock"]),
        tooltip=[alt.Tooltip(field=n[k], type=ty) for k, ty in
                 (("unit_name", "nominal"), ("clock", "nominal"), ("overdue", "quantitative"))],
    ))
    st.subheader(t("trend", lang))
    df, n = labelled(trend.assign(week=pd.to_datetime(trend["week"]),
                                  clock=[vocab(STAGE_LABELS, v, lang) for v in trend["clock"]]),
                     {"week": "week", "clock": "stage", "breaches": "breaches"}, lang)
    bars_over_time(df, n, "week", "breaches", "clock")


def page_case(ctx: Ctx) -> None:
    """Timeline, every deadline (original and extended), masked personal data; the extension decision."""
    lang = ctx.lang
    case_no = st.text_input(t("case_no", lang), key="case_no").strip()
    if not case_no:
        pending: pd.DataFrame = ctx.run(lambda c: q.pending_extensions(c, ctx.scope))
        st.subheader(t("pending_ext", lang))
        st.dataframe(pending, hide_index=True, width="stretch")
        return
    if not CASE_NO_RE.match(case_no.upper()):
        # only well-formed numbers reach the database (a NUL or other junk would be a driver error)
        st.warning(t("not_found", lang))
        return
    case_no = case_no.upper()
    detail: q.CaseDetail | None = ctx.run(lambda c: q.case_detail(c, case_no, ctx.scope))
    if detail is None:
        st.warning(t("not_found", lang))
        return
    case = detail.case
    st.subheader(f"{case['case_no']} · {level_label(case['sla_level'], lang)} · {vocab(STAGE_LABELS, case['stage'], lang)}")
    st.markdown(f"[{t('temporal', lang)}: {t('open_link', lang)}]({ctx.temporal_link(case['case_no'])})")
    facts = {
        t("kind", lang): vocab(KIND_LABELS, case["kind"], lang),
        t("channel", lang): vocab(CHANNEL_LABELS, case["channel"], lang),
        t("unit", lang): f"{case.get('unit_name') or ''} ({case['handling_unit'] or '—'})",
        t("due_at", lang): str(case["due_at"] or "—"),
        t("extension", lang): case["extension_status"] or "—",
        t("returns", lang): str(case["returns"]),
        t("satisfaction", lang): case["satisfaction"] or "—",
    }
    st.dataframe(pd.DataFrame({"": list(facts), " ": list(facts.values())}), hide_index=True)
    st.markdown(f"**{t('complainant', lang)}**")
    if case["confidential_reporter"]:
        st.info(t("confidential", lang))
    else:
        st.dataframe(
            pd.DataFrame([{k: case[f"complainant_{k}"] for k in ("name", "id_number", "phone", "card_number")}]),
            hide_index=True,
        )
    st.markdown(f"**{t('deadlines', lang)}**")
    st.dataframe(detail.clocks, hide_index=True, width="stretch")
    st.markdown(f"**{t('timeline', lang)}**")
    st.dataframe(detail.events, hide_index=True, width="stretch")
    if case["extension_status"] == "requested" and case["open"] and ctx.access.may_decide:
        extension_form(ctx, case)


def extension_form(ctx: Ctx, case: dict[str, Any]) -> None:
    """Approve or refuse a pending extension (a Workflow Update with the supervisor's identity)."""
    lang = ctx.lang
    st.markdown(f"**{t('pending_ext', lang)}**")
    unit_default = ctx.access.root_unit or case["handling_unit"] or ""
    if ctx.access.embedded:
        sup_row = ctx.tree[ctx.tree.unit_id == case["handling_unit"]]
        default_id = str(sup_row.iloc[0]["supervisor_id"]) if len(sup_row) else ctx.access.user_id
        actor_id = st.text_input(t("supervisor_id", lang), value=default_id, key="ext_actor")
        unit_id = st.text_input(t("supervisor_unit", lang), value=unit_default, key="ext_unit")
    else:
        actor_id, unit_id = ctx.access.user_id, unit_default
        st.caption(f"{t('supervisor_id', lang)}: {actor_id} · {t('supervisor_unit', lang)}: {unit_id}")
    note = st.text_input(t("note", lang), key="ext_note")
    a, r = st.columns(2)
    approve = a.button(t("approve", lang), key="ext_approve", type="primary")
    refuse = r.button(t("refuse", lang), key="ext_refuse")
    if approve or refuse:
        try:
            status = decide_extension(ctx.settings, case["case_no"],
                                      extension_decision(actor_id, unit_id, bool(approve), note))
            st.success(f"{t('decided', lang)}: {status}")
        except CaseClientError as exc:
            st.error(f"{t('decision_failed', lang)}: {exc}")
        except Exception as exc:  # Temporal unreachable and the like: say so, no traceback
            st.error(f"{t('decision_failed', lang)}: {type(exc).__name__}: {exc}")


def page_calendar(ctx: Ctx) -> None:
    """Month grid of a jurisdiction's working days with holidays, makeup days, provisional years and the bureau's
    own closures, opening days and service close (from PostgreSQL) marked."""
    lang = ctx.lang
    codes = sorted(known_jurisdictions())
    default = codes.index("CN-SX") if "CN-SX" in codes else 0
    c1, c2, c3 = st.columns(3)
    code = c1.selectbox(t("jurisdiction", lang), codes, index=default, key="cal_code",
                        format_func=lambda c: f"{c} {known_jurisdictions().get(c, '')}")
    published = get_calendar(code)
    years = list(range(published.start.year, published.end.year + 1))
    year = c2.selectbox(t("year", lang), years, index=years.index(ctx.now.year) if ctx.now.year in years else 0,
                        key="cal_year")
    month = c3.selectbox(t("month", lang), list(range(1, 13)), index=ctx.now.month - 1, key="cal_month")
    try:
        bureau: q.BureauMonth | None = ctx.run(lambda c: q.bureau_month(c, code, year, month))
    except DataSourceUnavailable:
        bureau = None
        st.warning(t("bureau_days_unavailable", lang))
    cal = bureau.calendar if bureau is not None else published
    own = {r.day: r for r in bureau.days} if bureau is not None else {}
    if bureau is not None and bureau.close is not None:
        st.info(f"{t('service_close', lang)}: {bureau.close.close_time.isoformat('minutes')} ({bureau.close.note})")
    first = date(year, month, 1)
    if cal.is_provisional(first):
        st.warning(f"⚠️ {t('provisional', lang)} ({year})")

    def kind_of(d: date) -> str:
        row = own.get(d)
        return "opening" if row is not None and row.working else cal.day_kind(d)

    def name_of(d: date) -> str:
        row = own.get(d)
        return f"{row.note} ({row.jurisdiction})" if row is not None else cal.holiday_name(d) or ""

    weeks = pycal.Calendar(firstweekday=0).monthdatescalendar(year, month)
    marks = {"holiday": "🏮", "makeup": "🛠", "closure": "⛔", "opening": "🏢", "weekend": "", "workday": ""}
    grid, kinds = [], []
    for week in weeks:
        row, krow = [], []
        for d in week:
            if d.month != month:
                row.append("")
                krow.append("")
                continue
            kind = kind_of(d)
            row.append(f"{d.day} {marks[kind]} {name_of(d)}".strip())
            krow.append(kind)
        grid.append(row)
        kinds.append(krow)
    heads = ["一 Mon", "二 Tue", "三 Wed", "四 Thu", "五 Fri", "六 Sat", "日 Sun"]
    df = pd.DataFrame(grid, columns=heads)
    colours = {"holiday": "#ffc9c9", "makeup": "#cfe2ff", "closure": "#dee2e6", "opening": "#d3f9d8",
               "weekend": "#f1f3f5", "workday": "", "": ""}
    styles = pd.DataFrame([[f"background-color: {colours[k]}" if colours[k] else "" for k in r] for r in kinds],
                          columns=heads)
    st.dataframe(df.style.apply(lambda _: styles, axis=None), hide_index=True, width="stretch")
    special = [
        {"date": d, "kind": vocab(DAY_KIND_LABELS, kind_of(d), lang), "name": name_of(d)}
        for week in weeks for d in week
        if d.month == month and kind_of(d) in ("holiday", "makeup", "closure", "opening")
    ]
    st.markdown(f"**{t('special_days', lang)}**")
    st.dataframe(pd.DataFrame(special, columns=["date", "kind", "name"]), hide_index=True, width="stretch")


def page_reports(ctx: Ctx) -> None:
    """The daily and monthly reports the worker published (newest first), each as Excel and chart downloads; the
    newest chart shown. The files are read from PostgreSQL when a button is pressed."""
    lang = ctx.lang
    listing: pd.DataFrame = ctx.run(lambda c: q.report_list(c, ctx.scope))
    st.subheader(t("reports", lang))
    st.caption(t("reports_scope", lang))
    if listing.empty:
        st.info(t("no_reports", lang))
        return

    def fetch(report_id: str, file: str) -> bytes:
        return ctx.run(lambda c: q.report_file(c, report_id, file, ctx.scope)) or b""

    newest = listing.iloc[0]
    chart = fetch(str(newest["report_id"]), "png")
    if chart:
        st.image(chart, caption=f"{t('report_' + str(newest['kind']), lang)} {newest['jurisdiction']} "
                                f"{newest['published_on']:%Y-%m-%d}")
    heads = st.columns([2, 2, 2, 3, 3, 2, 2])
    for col, key in zip(heads, ("published_on", "kind", "jurisdiction", "report_period", "report_previous"),
                        strict=False):
        col.markdown(f"**{t(key, lang)}**")
    for r in listing.itertuples(index=False):
        cols = st.columns([2, 2, 2, 3, 3, 2, 2])
        cols[0].write(f"{r.published_on:%Y-%m-%d}")
        cols[1].write(t(f"report_{r.kind}", lang))
        cols[2].write(str(r.jurisdiction))
        cols[3].write(f"{r.period_start:%Y-%m-%d} ~ {r.period_end:%Y-%m-%d}")
        cols[4].write(f"{r.previous_start:%Y-%m-%d} ~ {r.previous_end:%Y-%m-%d}")
        title = f"{t('report_' + str(r.kind), 'zh')}_{r.jurisdiction}_{r.published_on:%Y%m%d}"
        cols[5].download_button(
            t("download_xlsx", lang), data=lambda rid=r.report_id: fetch(rid, "xlsx"), file_name=f"{title}.xlsx",
            mime=MIME["xlsx"], key=f"report_xlsx_{r.report_id}", on_click="ignore",
        )
        cols[6].download_button(
            t("download_chart", lang), data=lambda rid=r.report_id: fetch(rid, "png"), file_name=f"{title}.png",
            mime="image/png", key=f"report_png_{r.report_id}", on_click="ignore",
        )


RENDERERS: dict[str, Callable[[Ctx], None]] = {
    "overview": page_overview,
    "board": page_board,
    "cases": page_cases,
    "units": page_units,
    "case": page_case,
    "calendar": page_calendar,
    "reports": page_reports,
}


# ---------------------------------------------------------------------------------------------- main


def authenticate(settings: Settings, lang: str) -> Access:
    """Embedded: no login. Otherwise OIDC via `st.login` and the unit mapping (stops the script if denied)."""
    if settings.mode == "embedded":
        return embedded_access()
    user = st.user
    if not user.get("is_logged_in", False):
        st.title(t("title", lang))
        st.info(t("login_needed", lang))
        st.button(t("login", lang), on_click=st.login, key="login")
        st.stop()
    try:
        config = dict(st.secrets.get("dashboard", {}))
    except Exception:  # no secrets file: claims only
        config = {}
    access = resolve_access(dict(user.to_dict()), config)
    if access is None:
        st.error(t("no_unit", lang))
        st.button(t("logout", lang), on_click=st.logout, key="logout")
        st.stop()
    assert access is not None
    return access


def sidebar(ctx: Ctx) -> str:
    """Page, scope and period pickers; fills `ctx.scope` and `ctx.period`; returns the page key."""
    lang = ctx.lang
    wanted = st.query_params.get("page", "overview")
    page = st.sidebar.radio(t("page", lang), PAGES, key="page", index=PAGES.index(wanted) if wanted in PAGES else 0,
                            format_func=lambda p: t(p, lang))
    tree = ctx.tree
    if ctx.access.root_unit is not None:
        tree = tree[[ctx.access.root_unit in path for path in tree["path"]]]
    if tree.empty:
        st.sidebar.warning(t("no_unit", lang))
        ctx.scope = []
    else:
        depth0 = int(tree["depth"].min())
        options = list(tree["unit_id"])
        root = st.sidebar.selectbox(
            t("scope", lang), options, key="scope_root",
            format_func=lambda u: "\u3000" * (int(tree.set_index("unit_id").loc[u, "depth"]) - depth0)
            + f"{ctx.unit_name(u)} ({u})",
        )
        ctx.scope_root = root
        chosen = [u for u, path in zip(tree["unit_id"], tree["path"], strict=True) if root in path]
        allowed = None if ctx.access.root_unit is None else list(tree["unit_id"])
        if allowed is None and root == options[0]:
            ctx.scope = None  # the whole directory: no restriction (unassigned cases of any jurisdiction too)
        else:
            ctx.scope = q.intersect_scope(allowed, chosen)
    preset = st.sidebar.selectbox(t("period", lang), PERIODS, key="period", format_func=lambda p: t(p, lang))
    custom = None
    if preset == "custom":
        picked = st.sidebar.date_input(t("dates", lang), value=(ctx.now.date() - timedelta(days=29), ctx.now.date()),
                                       key="dates")
        if isinstance(picked, tuple | list) and len(picked) == 2:
            custom = (picked[0], picked[1])
    ctx.period = period_for(preset, ctx.now.date(), custom)
    if ctx.access.embedded:
        st.sidebar.caption("embedded · localhost")
    else:
        st.sidebar.caption(ctx.access.user_id)
        st.sidebar.button(t("logout", lang), on_click=st.logout, key="logout")
    return str(page)


def main() -> None:
    """Render the dashboard."""
    st.set_page_config(page_title="医保投诉督办 / Complaint SLA", page_icon="🏥", layout="wide")
    settings = Settings()
    configure_logging("dashboard", settings)
    lang = st.sidebar.selectbox("语言 / Language", list(LANGS), key="lang", format_func=lambda k: LANGS[k])
    access = authenticate(settings, lang)
    ctx = Ctx(settings, lang, access)
    st.title(t("title", lang))
    try:
        ctx.tree = ctx.run(q.unit_tree)
    except DataSourceUnavailable as exc:
        unavailable(lang, exc)
        return
    page = sidebar(ctx)
    refresh = float(os.environ.get("COMPLAINTS_DASHBOARD_REFRESH_SECONDS", "60") or 0)

    def body() -> None:
        ctx.now = now()
        try:
            RENDERERS[page](ctx)
        except DataSourceUnavailable as exc:
            unavailable(lang, exc)

    if refresh > 0 and page != "case":  # the case page holds a form: no refresh under the user's hands
        st.fragment(body, run_every=refresh)()
    else:
        body()


main()
