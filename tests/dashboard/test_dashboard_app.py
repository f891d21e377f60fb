"""Streamlit `AppTest` runs of dashboard/app.py on the seeded fixture database: each page shows the right numbers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from helpers.dashboard_seed import EXPECTED, NOW, RED_CASES, seed_dashboard
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest_asyncio.fixture(scope="module")
async def seeded_dsn(pg_dsn: str) -> str:
    await seed_dashboard(pg_dsn)
    return pg_dsn


@pytest.fixture
def app_env(seeded_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", seeded_dsn)
    monkeypatch.setenv("COMPLAINTS_MODE", "embedded")
    monkeypatch.setenv("COMPLAINTS_DASHBOARD_NOW", NOW.isoformat())
    monkeypatch.setenv("COMPLAINTS_DASHBOARD_REFRESH_SECONDS", "0")
    monkeypatch.setenv("COMPLAINTS_TEMPORAL_UI_URL", "http://ui.test:8233")
    yield seeded_dsn


def run_page(page: str, **widgets: object) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    at.sidebar.radio(key="page").set_value(page)
    at.run()
    for key, value in widgets.items():
        at.selectbox(key=key).set_value(value) if key != "board_levels" else at.multiselect(key=key).set_value(value)
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label_part: str) -> tuple[str, str | None]:
    hits = [m for m in at.metric if label_part in m.label]
    assert len(hits) == 1, [m.label for m in at.metric]
    return hits[0].value, hits[0].delta


def test_overview_numbers(app_env: str) -> None:
    at = run_page("overview")  # default period: this month to date (2026-03-01..18)
    assert metric(at, "超期")[0] == str(EXPECTED["open_by_level"]["red"])
    assert metric(at, "预警")[0] == str(EXPECTED["open_by_level"]["yellow"])
    assert metric(at, "临期")[0] == str(EXPECTED["open_by_level"]["blue"])
    assert metric(at, "正常")[0] == str(EXPECTED["open_by_level"]["on_track"])
    assert metric(at, "今日到期")[0] == "2"
    assert metric(at, "明日到期")[0] == "1"
    # On-time acceptance 80.0 % now vs 91.7 % (11/12) in 2026-02-11..28.
    assert metric(at, "按时受理率") == ("80.0%", "-11.7 pp")
    assert metric(at, "限时办结率") == ("60.0%", "+10.0 pp")
    assert metric(at, "回访落实率")[0] == "60.0%"
    assert metric(at, "满意率")[0] == "66.7%"
    assert metric(at, "复核率")[0] == "40.0%"
    assert metric(at, "复核纠错率") == ("50.0%", "")  # no review decided in the previous period
    assert any("2026-02-11" in c.value for c in at.caption)


def test_overview_scoped_to_a_city(app_env: str) -> None:
    at = run_page("overview", scope_root="SX-TY")
    assert metric(at, "超期")[0] == str(EXPECTED["ty_red"])
    assert sum(int(metric(at, k)[0]) for k in ("超期", "预警", "临期", "正常")) == EXPECTED["ty_open"]
    assert metric(at, "限时办结率")[0] == "66.7%"  # C1, C3 on time; C2 late


def test_board_lists_red_cases_first_with_links(app_env: str) -> None:
    at = run_page("board")
    df = at.dataframe[0].value
    assert list(df["case_no"][:3]) == RED_CASES
    assert len(df) == 7
    assert list(df["days_overdue"][:3]) == [6, 2, 1]
    assert df["temporal"][0] == (
        "http://ui.test:8233/namespaces/default/workflows/complaint-SX2026021200002"
    )
    at.multiselect(key="board_levels").set_value(["red"])
    at.selectbox(key="board_unit").set_value("SX-DT-PC")
    at.run()
    assert list(at.dataframe[0].value["case_no"]) == ["SX2026021200002"]


def downloads(at: AppTest) -> dict[str, str]:
    """The page's download buttons: key -> label."""
    return {str(b.key): b.label for b in at.get("download_button")}


def test_board_offers_the_downloads_and_says_how_many_rows(app_env: str) -> None:
    at = run_page("board")
    assert downloads(at) == {"sla-board_xlsx": "下载 Excel / Download Excel", "sla-board_csv": "下载 CSV / Download CSV"}
    assert any("显示 7 条，共 7 条" in c.value for c in at.caption)
    assert not at.warning  # nothing cut


def test_case_list_filters_and_downloads(app_env: str) -> None:
    at = run_page("cases")  # default: registered this month to date (2026-03-01..18), any status
    df = at.dataframe[0].value
    assert sorted(df["case_no"]) == ["SX2026030100021", "SX2026030100022", "SX2026030100023", "SX2026030100024",
                                     "SX2026030100025", "SX2026031300003"]
    assert set(downloads(at)) == {"cases_xlsx", "cases_csv"}
    at.checkbox(key="cases_in_period").uncheck()
    at.selectbox(key="cases_status").set_value("open")
    at.multiselect(key="cases_levels").set_value(["red"])
    at.run()
    assert list(at.dataframe[0].value["case_no"]) == ["SX2026031300003", "SX2026021200001", "SX2026021200002"]
    assert any("共 3 条" in c.value for c in at.caption)


def test_units_page_league_and_durations(app_env: str) -> None:
    at = run_page("units")
    league = at.dataframe[0].value.set_index("unit_id")
    assert league.loc["SX-TY-XD", "open"] == 5
    assert league.loc["SX-TY-XD", "overdue"] == 1
    assert league.loc["SX-TY-XD", "on_time_pct"] == 50.0
    dur = at.dataframe[1].value
    row = dur[(dur.unit_id == "SX-TY-XD") & (dur.stage.str.contains("调查"))].iloc[0]
    assert row["median_wd"] == 7.0
    assert len(at.get("vega_lite_chart")) == 2  # overdue by unit and stage, breaches per week
    assert set(downloads(at)) == {"units_xlsx", "units_csv", "stages_xlsx", "stages_csv"}


def test_case_detail_masked_and_deadlines(app_env: str) -> None:
    at = run_page("case")
    assert list(at.dataframe[0].value["case_no"]) == ["SX2026021200004"]  # the pending extension
    at.text_input(key="case_no").set_value("SX2026030100024").run()
    assert not at.exception
    people = at.dataframe[1].value
    assert people.iloc[0]["phone"] == "138****5678"
    clocks = at.dataframe[2].value
    inv = clocks[clocks.clock == "investigation"].iloc[0]
    assert bool(inv["extended"])
    events = at.dataframe[3].value
    assert "review_decided" in set(events["kind"])
    at.text_input(key="case_no").set_value("SX2026021200004").run()
    assert at.button(key="ext_approve") is not None  # a supervisor may decide the pending request
    at.text_input(key="case_no").set_value("SX' OR '1'='1").run()
    assert any("未找到" in w.value for w in at.warning)


def test_calendar_month_grid(app_env: str) -> None:
    at = run_page("calendar", cal_year=2026, cal_month=2)
    grid = at.dataframe[0].value
    cells = [c for c in grid.to_numpy().ravel() if c]
    assert any(c.startswith("14 🛠") for c in cells)  # Sat 2026-02-14 is a makeup working day
    assert any(c.startswith("16 🏮") for c in cells)  # Spring Festival
    special = at.dataframe[1].value
    assert "调休上班 / Makeup working day" in set(special["kind"])
    at.selectbox(key="cal_year").set_value(2027).run()
    assert any("暂定" in w.value or "provisional" in w.value for w in at.warning)


async def test_calendar_shows_the_bureau_days(app_env: str) -> None:
    """The bureau's own closure, opening day and service close (PostgreSQL rows) appear on the month grid with
    their notes and the service close."""
    import asyncio
    from datetime import date, time

    import asyncpg

    from activities import bureau_calendar as bc

    conn = await asyncpg.connect(app_env)
    try:
        await bc.record_day(conn, "CN-SX", date(2026, 12, 3), working=False, note="医保信息平台割接闭馆",
                            recorded_by="adm-sx")
        await bc.record_day(conn, "CN-SX", date(2026, 12, 5), working=True, note="周六服务日", recorded_by="adm-sx")
        await bc.set_close_time(conn, "CN-SX", time(17, 30), note="夏季作息", recorded_by="adm-sx")
        at = await asyncio.to_thread(run_page, "calendar", cal_year=2026, cal_month=12)
        cells = [c for c in at.dataframe[0].value.to_numpy().ravel() if c]
        assert "3 ⛔ 医保信息平台割接闭馆 (CN-SX)" in cells
        assert "5 🏢 周六服务日 (CN-SX)" in cells
        assert any(c.startswith("4") and "⛔" not in c for c in cells)  # the published working day next to it
        special = at.dataframe[1].value
        assert list(special["kind"]) == ["闭馆 / Closure", "开放日 / Bureau opening day"]
        assert any("17:30" in i.value and "夏季作息" in i.value for i in at.info)
    finally:
        await conn.execute("DELETE FROM bureau_calendar_days")
        await conn.execute("DELETE FROM bureau_service_hours")
        await conn.close()


def test_database_unavailable_message(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none?sslmode=disable")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("数据源不可用" in e.value for e in at.error)


def test_production_mode_requires_login(app_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_MODE", "production")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert at.button(key="login") is not None
    assert len(at.dataframe) == 0 and len(at.metric) == 0  # nothing shown before login
