"""The monitor's tables as `.xlsx` and CSV (dashboard/reports.py, common/exports.py) on the hand-countable seed
(tests/helpers/dashboard_seed.py): the files open, headers are Chinese, instants are Excel datetimes in
Asia/Shanghai, and every number equals the SQL behind it. The page-limit test adds rows beyond the page's 500."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import openpyxl
import pandas as pd
import pytest
import pytest_asyncio
from helpers.dashboard_seed import (
    EXPECTED,
    NOW,
    PERIOD,
    RED_CASES,
    TZ,
    copy_red_case,
    remove_cases,
    seed_dashboard,
)
from openpyxl.worksheet.worksheet import Worksheet
from streamlit.testing.v1 import AppTest

from common.exports import ExportError, display_width, render, to_csv, to_xlsx
from dashboard import queries as q
from dashboard import reports

PERIOD_ = q.Period(*PERIOD)
CJK = re.compile(r"[\u4e00-\u9fff]")
BOM = b"\xef\xbb\xbf"
APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest_asyncio.fixture(scope="module")
async def seeded(pg_dsn: str) -> str:
    await seed_dashboard(pg_dsn)
    return pg_dsn


@pytest_asyncio.fixture
async def conn(seeded: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(seeded)
    try:
        yield c
    finally:
        await c.close()


def sheet(data: bytes) -> Worksheet:
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws is not None
    return ws


def table(ws: Worksheet) -> tuple[list[str], list[dict[str, object]]]:
    """Header row and the data rows keyed by header."""
    rows = list(ws.iter_rows(values_only=True))
    head = [str(h) for h in rows[0]]
    return head, [dict(zip(head, r, strict=True)) for r in rows[1:]]


def assert_chinese_frozen(ws: Worksheet, headers: dict[str, str]) -> None:
    head = [c.value for c in ws[1]]
    assert head == list(headers.values())
    assert all(CJK.search(str(h)) for h in head), head  # no raw `unit_id` / `n`
    assert ws.freeze_panes == "A2"
    for i, h in enumerate(head, start=1):  # each column at least as wide as its header
        assert ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width >= display_width(str(h))


async def test_board_xlsx_equals_the_board_sql(conn: asyncpg.Connection) -> None:
    filters = q.BoardFilters(levels=q.LEVELS)
    report = await reports.load_board(conn, None, filters, NOW)
    ws = sheet(report.render("xlsx"))
    assert_chinese_frozen(ws, reports.BOARD_HEADERS)
    head, rows = table(ws)
    h = reports.BOARD_HEADERS
    assert len(rows) == await conn.fetchval("SELECT count(*) FROM cases WHERE open") == sum(EXPECTED["open_by_level"].values())
    assert [r[h["case_no"]] for r in rows[:3]] == RED_CASES
    sql = {r["case_no"]: r for r in await conn.fetch("SELECT case_no, due_at, provisional FROM cases WHERE open")}
    board = (await q.sla_board(conn, None, filters, NOW)).set_index("case_no")
    for r in rows:
        no = str(r[h["case_no"]])
        due = r[h["due_at"]]
        assert isinstance(due, datetime) and due.tzinfo is None
        assert due == sql[no]["due_at"].astimezone(TZ).replace(tzinfo=None)  # Beijing wall-clock time
        assert r[h["wd_left"]] == board.loc[no, "wd_left"]
        assert r[h["days_overdue"]] == board.loc[no, "days_overdue"]
    by_no = {r[h["case_no"]]: r for r in rows}
    assert by_no["SX2026021200002"][h["days_overdue"]] == 6
    assert by_no["SX2026021200002"][h["due_at"]] == datetime(2026, 3, 10, 17, 0)
    assert by_no["SX2026031300003"][h["unit_name"]] == "待分派（省级中心）"
    assert by_no["SX2026021200004"][h["extension_status"]] == "待审批"
    assert by_no["SX2026021200004"][h["sla_level"]] == "预警"
    due_col = head.index(h["due_at"]) + 1
    assert ws.cell(row=2, column=due_col).number_format == "yyyy-mm-dd hh:mm"


async def test_league_and_durations_xlsx_equal_the_sql(conn: asyncpg.Connection) -> None:
    league = await q.unit_league(conn, PERIOD_, None)
    ws = sheet((await reports.load_league(conn, PERIOD_, None)).render("xlsx"))
    assert_chinese_frozen(ws, reports.LEAGUE_HEADERS)
    _, rows = table(ws)
    h = reports.LEAGUE_HEADERS
    got = pd.DataFrame(rows).rename(columns={v: k for k, v in h.items()})
    pd.testing.assert_frame_equal(got, league[list(h)].reset_index(drop=True), check_dtype=False)
    xd = got.set_index("unit_id").loc["SX-TY-XD"]
    assert (xd["open"], xd["overdue"], xd["completed"], xd["on_time_pct"]) == (5, 1, 2, 50.0)
    # the open cases of the league are the open cases of the read model, unit by unit
    per_unit = dict(await conn.fetch(
        "SELECT handling_unit, count(*) FROM cases WHERE open AND handling_unit IS NOT NULL GROUP BY 1"))
    assert dict(zip(got["unit_id"], got["open"], strict=True)) == {u: per_unit.get(u, 0) for u in got["unit_id"]}

    ws = sheet((await reports.load_durations(conn, PERIOD_, None)).render("xlsx"))
    assert_chinese_frozen(ws, reports.DURATION_HEADERS)
    _, rows = table(ws)
    h = reports.DURATION_HEADERS
    xd_inv = [r for r in rows if r[h["unit_id"]] == "SX-TY-XD" and r[h["clock"]] == "调查核实"]
    assert len(xd_inv) == 1
    assert (xd_inv[0][h["n"]], xd_inv[0][h["median_wd"]]) == (2, 7.0)
    assert xd_inv[0][h["p90_wd"]] == 7.8
    durations = await q.stage_durations(conn, PERIOD_, None)
    assert sum(int(r[h["n"]]) for r in rows) == int(durations["n"].sum())


async def test_case_list_filters_and_dates(conn: asyncpg.Connection) -> None:
    everything = await reports.load_case_list(conn, None, q.CaseListFilters())
    assert len(everything.frame) == await conn.fetchval("SELECT count(*) FROM cases") == 18
    closed_march = q.CaseListFilters(status="closed", registered=PERIOD_)
    ws = sheet((await reports.load_case_list(conn, None, closed_march)).render("xlsx"))
    assert_chinese_frozen(ws, reports.CASE_LIST_HEADERS)
    _, rows = table(ws)
    h = reports.CASE_LIST_HEADERS
    assert sorted(r[h["case_no"]] for r in rows) == [f"SX20260301000{n}" for n in range(21, 26)]  # C1..C5
    sql = dict(await conn.fetch("SELECT case_no, registered_at FROM cases"))
    for r in rows:
        assert r[h["open"]] == "已办结"
        assert isinstance(r[h["registered_at"]], datetime) and isinstance(r[h["closed_at"]], datetime)
        assert r[h["registered_at"]] == sql[r[h["case_no"]]].astimezone(TZ).replace(tzinfo=None)
    c3 = next(r for r in rows if r[h["case_no"]] == "SX2026030100023")
    assert (c3[h["satisfaction"]], c3[h["close_reason"]], c3[h["unit_name"]]) == ("基本满意", "复核期满办结", "太原市迎泽区医疗保障局")
    assert c3[h["due_at"]] is None  # closed: no deadline, an empty cell
    red_ty = q.CaseListFilters(levels=("red",), status="open")
    ty = await q.subtree_ids(conn, "SX-TY")
    assert list((await reports.load_case_list(conn, ty, red_ty)).frame["case_no"]) == ["SX2026021200001"]
    assert await q.case_list_total(conn, None, red_ty) == len(RED_CASES)


async def test_csv_has_a_bom_and_round_trips(conn: asyncpg.Connection) -> None:
    report = await reports.load_board(conn, None, q.BoardFilters(), NOW)
    data = report.render("csv")
    assert data.startswith(BOM)
    back = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(back.columns) == list(reports.BOARD_HEADERS.values())
    h = reports.BOARD_HEADERS
    assert list(back[h["case_no"]]) == list(report.frame["case_no"])
    assert list(back[h["stage"]]) == list(report.frame["stage"])  # Chinese labels survive
    assert list(back[h["days_overdue"]][:3]) == ["6", "2", "1"]
    assert back[h["due_at"]][0] == "2026-03-10 17:00"  # local time, no offset
    assert data.count(b"\r\n") == len(report.frame) + 1


def test_export_functions_refuse_untranslated_columns_and_unknown_formats() -> None:
    df = pd.DataFrame({"unit_id": ["SX"], "n": [3], "at": [datetime(2026, 3, 18, 2, 0, tzinfo=TZ)]})
    with pytest.raises(ExportError, match="headers: no header for column.*n"):
        to_xlsx(df, {"unit_id": "单位代码", "at": "时间"})
    with pytest.raises(ExportError, match="format"):
        render(df, {"unit_id": "单位代码", "n": "件数", "at": "时间"}, "pdf")
    headers = {"unit_id": "单位代码", "n": "件数", "at": "时间"}
    ws = sheet(to_xlsx(df, headers))
    assert ws.cell(row=2, column=3).value == datetime(2026, 3, 18, 2, 0)
    assert to_csv(df, headers).decode("utf-8-sig").splitlines()[1] == "SX,3,2026-03-18 02:00"


async def test_board_page_says_how_many_rows_and_exports_all(seeded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 600 more red cases the board has 607 rows: the page draws 500 and says so; the export holds 607."""
    copies = await copy_red_case(seeded, 600)
    try:
        for k, v in {"COMPLAINTS_DATABASE_URL": seeded, "COMPLAINTS_MODE": "embedded",
                     "COMPLAINTS_DASHBOARD_NOW": NOW.isoformat(), "COMPLAINTS_DASHBOARD_REFRESH_SECONDS": "0"}.items():
            monkeypatch.setenv(k, v)

        def page() -> AppTest:
            at = AppTest.from_file(APP, default_timeout=60)
            at.query_params["page"] = "board"
            at.run()
            assert not at.exception, at.exception
            return at

        at = await asyncio.to_thread(page)
        assert len(at.dataframe[0].value) == q.BOARD_PAGE_ROWS
        assert any("显示 500 条，共 607 条" in c.value for c in at.caption)
        assert any("全部 607 条" in w.value for w in at.warning)
        c = await asyncpg.connect(seeded)
        try:
            report = await reports.load_board(c, None, q.BoardFilters(), NOW)
        finally:
            await c.close()
        _, rows = table(sheet(report.render("xlsx")))
        assert len(rows) == 607
        assert [r[reports.BOARD_HEADERS["case_no"]] for r in rows[:1]] == [RED_CASES[0]]  # still most overdue first
    finally:
        await remove_cases(seeded, copies)
