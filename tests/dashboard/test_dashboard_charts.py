"""The monitor's charts (issue 17, point 4) on the hand-countable seed: the series equal the figures the pages
already show (`period_metrics`, `open_by_level`, the read model's rows), and every chart's fields carry
translated names (no raw `unit_id`, `n`, `clock`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from helpers.dashboard_seed import NOW, PERIOD, seed_dashboard
from streamlit.testing.v1 import AppTest

from activities.case_activities import CaseActivities
from activities.contracts import CaseEventRecord
from dashboard import queries as q
from dashboard.i18n import t

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest_asyncio.fixture(scope="module")
async def seeded(pg_dsn: str, pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    """The seed, plus the level changes the workflow would have recorded: each running clock reached its
    current level an hour before NOW (the seed writes the levels into the projection only)."""
    await seed_dashboard(pg_dsn)
    clocks = await pg_pool.fetch(
        "SELECT case_no, clock, cycle, unit, level FROM sla_clocks WHERE stopped_at IS NULL AND level <> 'on_track'")
    acts = CaseActivities(pg_pool)
    for i, k in enumerate(clocks):
        seq = 1000 + i
        await acts.record_case_event(CaseEventRecord(
            case_no=k["case_no"], seq=seq, event_key=f"{k['case_no']}:{seq}:sla_level_changed",
            kind="sla_level_changed", stage="investigation", at=NOW - timedelta(hours=1), actor_id="system",
            details={"clock": k["clock"], "cycle": k["cycle"], "unit": k["unit"], "level": k["level"]},
        ))
    return pg_pool


async def test_intake_per_day_adds_up_to_the_registrations(seeded: asyncpg.Pool) -> None:
    period = q.Period(*PERIOD)
    async with seeded.acquire() as conn:
        intake = await q.intake_per_day(conn, period, None)
        metrics = await q.period_metrics(conn, period, None)
        scoped = await q.intake_per_day(conn, period, ["SX-TY-XD"])
        scoped_metrics = await q.period_metrics(conn, period, ["SX-TY-XD"])
    assert int(intake["registered"].sum()) == metrics.registered > 0
    assert int(scoped["registered"].sum()) == scoped_metrics.registered
    assert set(intake["channel"]) <= {"hotline_12393", "national_app", "wechat", "mail", "service_hall",
                                      "national_web", "provincial_web"}


async def test_open_cases_by_level_end_today_at_the_overviews_figures(seeded: asyncpg.Pool) -> None:
    period = q.Period(*PERIOD)
    async with seeded.acquire() as conn:
        series = await q.open_by_level_per_day(conn, period, None, NOW)
        now_levels = await q.open_by_level(conn, None)
        day = date(2026, 3, 5)
        end_of_day = q.Period(day, day).bounds()[1]
        open_then = await conn.fetchval(
            "SELECT count(*) FROM cases WHERE registered_at < $1 AND (closed_at IS NULL OR closed_at >= $1)",
            end_of_day)
    assert sorted(set(series["day"])) == [PERIOD[0] + timedelta(days=i) for i in range(18)]
    today = series[series["day"] == PERIOD[1]].set_index("sla_level")["cases"].to_dict()
    assert today == now_levels
    on_day = series[series["day"] == day]
    assert int(on_day["cases"].sum()) == open_then
    # before the level changes were recorded every open case was on track
    assert set(on_day[on_day["cases"] > 0]["sla_level"]) == {"on_track"}


async def test_on_time_per_month_equals_the_period_rates(seeded: asyncpg.Pool) -> None:
    async with seeded.acquire() as conn:
        monthly = await q.on_time_per_month(conn, None, NOW)
        march = await q.period_metrics(conn, q.Period(date(2026, 3, 1), PERIOD[1]), None)
        february = await q.period_metrics(conn, q.Period(date(2026, 2, 1), date(2026, 2, 28)), None)
    rows = {(r.month, r.clock): r.on_time_pct for r in monthly.itertuples()}
    assert rows[(date(2026, 3, 1), "acceptance")] == round(march.on_time_acceptance_pct or 0, 1)
    assert rows[(date(2026, 3, 1), "investigation")] == round(march.on_time_completion_pct or 0, 1)
    if february.acceptance_clocks:
        assert rows[(date(2026, 2, 1), "acceptance")] == round(february.on_time_acceptance_pct or 0, 1)


async def test_overdue_by_unit_and_stage_counts_the_red_clocks(seeded: asyncpg.Pool) -> None:
    async with seeded.acquire() as conn:
        overdue = await q.overdue_by_unit_and_stage(conn, None)
        red = await conn.fetchval("SELECT count(*) FROM sla_clocks WHERE stopped_at IS NULL AND level = 'red'")
        city = await q.overdue_by_unit_and_stage(conn, await q.subtree_ids(conn, "SX-TY"))
    assert int(overdue["overdue"].sum()) == red > 0
    assert set(overdue["unit_id"]) >= {"SX-TY-XD", "SX-DT-PC", "SX"}  # the unassigned case counts for SX
    assert set(city["unit_id"]) <= {"SX-TY", "SX-TY-XD", "SX-TY-YZ"}


@pytest.fixture
def app_env(seeded: asyncpg.Pool, pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", pg_dsn)
    monkeypatch.setenv("COMPLAINTS_MODE", "embedded")
    monkeypatch.setenv("COMPLAINTS_DASHBOARD_NOW", NOW.isoformat())
    monkeypatch.setenv("COMPLAINTS_DASHBOARD_REFRESH_SECONDS", "0")
    yield


def chart_fields(page: str, lang: str) -> list[set[str]]:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.sidebar.selectbox(key="lang").set_value(lang)
    at.sidebar.radio(key="page").set_value(page)
    at.run()
    assert not at.exception, at.exception
    out = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        enc = spec.get("encoding", {})
        fields = {v["field"] for v in enc.values() if isinstance(v, dict) and "field" in v}
        fields |= {tip["field"] for tip in enc.get("tooltip", []) if isinstance(tip, dict)}
        out.append(fields)
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_chart_field_is_translated(app_env: None, lang: str) -> None:
    overview = chart_fields("overview", lang)
    units = chart_fields("units", lang)
    assert len(overview) == 3 and len(units) == 2
    raw = {"unit_id", "unit_name", "n", "clock", "channel", "registered", "day", "sla_level", "cases", "month",
           "on_time_pct", "overdue", "week", "breaches", "median_wd"}
    for fields in overview + units:
        assert fields and not fields & raw, fields
    assert {t("day", lang), t("channel", lang), t("registered", lang)} <= overview[0]
    assert {t("unit", lang), t("stage", lang), t("overdue", lang)} <= units[0]
