"""Direct tests of the dashboard's SQL (dashboard/queries.py) on the hand-countable seed (tests/helpers/dashboard_seed.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import asyncpg
import pytest
import pytest_asyncio
from helpers.dashboard_seed import EXPECTED, NOW, PERIOD, PREVIOUS, RED_CASES, at, seed_dashboard

from dashboard import queries as q


@pytest_asyncio.fixture(scope="module")
async def conn(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    await seed_dashboard(pg_dsn)
    await seed_dashboard(pg_dsn)  # idempotent: nothing doubles
    c = await asyncpg.connect(pg_dsn)
    try:
        yield c
    finally:
        await c.close()


PERIOD_ = q.Period(*PERIOD)


async def test_open_by_level_and_due_counts(conn: asyncpg.Connection) -> None:
    assert await q.open_by_level(conn, None) == EXPECTED["open_by_level"]
    assert await q.due_today_tomorrow(conn, None, NOW) == (EXPECTED["due_today"], EXPECTED["due_tomorrow"])


async def test_period_metrics_match_hand_computed_values(conn: asyncpg.Connection) -> None:
    m = await q.period_metrics(conn, PERIOD_, None)
    assert m.on_time_acceptance_pct == pytest.approx(EXPECTED["on_time_acceptance_pct"])
    assert m.on_time_completion_pct == pytest.approx(EXPECTED["on_time_completion_pct"])
    assert m.return_visit_coverage_pct == pytest.approx(EXPECTED["return_visit_coverage_pct"])
    assert m.satisfaction_pct == pytest.approx(EXPECTED["satisfaction_pct"])
    assert m.review_rate_pct == pytest.approx(EXPECTED["review_rate_pct"])
    assert m.overturn_rate_pct == pytest.approx(EXPECTED["overturn_rate_pct"])
    prev = await q.period_metrics(conn, PERIOD_.previous(), None)
    assert PERIOD_.previous() == q.Period(*PREVIOUS)
    assert prev.acceptance_clocks == 12
    assert prev.on_time_acceptance_pct == pytest.approx(EXPECTED["prev_on_time_acceptance_pct"])
    assert prev.on_time_completion_pct == pytest.approx(EXPECTED["prev_on_time_completion_pct"])
    assert prev.overturn_rate_pct is None  # no review decided: no rate, not 0 %


async def test_subtree_scoping(conn: asyncpg.Connection) -> None:
    ty = await q.subtree_ids(conn, "SX-TY")
    assert set(ty) == {"SX-TY", "SX-TY-XD", "SX-TY-YZ", "SX-TY-QX"}
    levels = await q.open_by_level(conn, ty)
    assert sum(levels.values()) == EXPECTED["ty_open"]
    assert levels["red"] == EXPECTED["ty_red"]
    # The province sees the unassigned case (it belongs to the provincial centre); Taiyuan does not.
    board_ty = await q.sla_board(conn, ty, q.BoardFilters(levels=("red",)), NOW)
    assert list(board_ty["case_no"]) == ["SX2026021200001"]
    sx = await q.subtree_ids(conn, "SX")
    board_sx = await q.sla_board(conn, sx, q.BoardFilters(levels=("red",)), NOW)
    assert list(board_sx["case_no"]) == RED_CASES
    # A case outside the scope is invisible, even by its number.
    assert await q.case_detail(conn, "SX2026021200002", ty) is None
    assert await q.case_detail(conn, "SX2026021200002", sx) is not None
    # Scoped period metrics: Taiyuan's investigations in March are C1 (on time), C2 (late), C3 (on time).
    m = await q.period_metrics(conn, PERIOD_, ty)
    assert (m.investigation_clocks, m.completed_on_time) == (3, 2)
    assert m.acceptance_clocks == 0  # acceptance is the provincial centre's clock
    assert await q.open_by_level(conn, []) == dict.fromkeys(q.LEVELS, 0)  # empty scope: nothing
    assert q.intersect_scope(ty, ["SX", "SX-TY-XD"]) == ["SX-TY-XD"]
    assert q.intersect_scope(None, None) is None


async def test_board_order_working_days_and_filters(conn: asyncpg.Connection) -> None:
    board = await q.sla_board(conn, None, q.BoardFilters(), NOW)
    assert len(board) == 7  # blue + yellow + red
    assert list(board["case_no"][:3]) == RED_CASES
    by_no = board.set_index("case_no")
    assert by_no.loc["SX2026021200002", "days_overdue"] == 6  # due Tue 03-10, now Wed 03-18
    assert by_no.loc["SX2026021200001", "days_overdue"] == 2
    assert by_no.loc["SX2026031300003", "days_overdue"] == 1
    assert by_no.loc["SX2026021200004", "wd_left"] == 0  # due today
    assert by_no.loc["SX2026021200006", "wd_left"] == 2  # due Fri 03-20
    assert by_no.loc["SX2026021200004", "extension_status"] == "requested"
    assert list(board["wd_left"]) == sorted(board["wd_left"])  # sorted by time to breach
    f = await q.sla_board(conn, None, q.BoardFilters(stage="feedback", channel="mail"), NOW)
    assert list(f["case_no"]) == ["SX2026021200005"]
    f = await q.sla_board(conn, None, q.BoardFilters(kind="fraud_report"), NOW)
    assert list(f["case_no"]) == ["SX2026021200006"]
    f = await q.sla_board(conn, None, q.BoardFilters(unit="SX-DT-PC", levels=q.LEVELS), NOW)
    assert set(f["case_no"]) == {"SX2026021200002", "SX2026021200007", "SX2026021200010"}


async def test_board_counts_working_days_on_the_bureau_calendar(conn: asyncpg.Connection) -> None:
    """A closure the bureau recorded on Thu 03-19 takes a working day off the time to breach of a case due
    Fri 03-20 (2 WD left -> 1), as it does in the case's own deadline arithmetic."""
    from activities import bureau_calendar as bc

    await bc.record_day(conn, "CN-SX", date(2026, 3, 19), working=False, note="停电闭馆", recorded_by="adm-sx")
    try:
        by_no = (await q.sla_board(conn, None, q.BoardFilters(), NOW)).set_index("case_no")
        assert by_no.loc["SX2026021200006", "wd_left"] == 1
        cal = await q.effective_calendar(conn, "CN-SX")
        assert not cal.is_working_day(date(2026, 3, 19))
    finally:
        await bc.clear_day(conn, "CN-SX", date(2026, 3, 19))
    by_no = (await q.sla_board(conn, None, q.BoardFilters(), NOW)).set_index("case_no")
    assert by_no.loc["SX2026021200006", "wd_left"] == 2


async def test_sql_injection_through_filters_changes_nothing(conn: asyncpg.Connection) -> None:
    evil = "x' OR '1'='1"
    assert len(await q.sla_board(conn, None, q.BoardFilters(stage=evil), NOW)) == 0
    assert len(await q.sla_board(conn, None, q.BoardFilters(unit="SX-TY-XD' OR 1=1 --"), NOW)) == 0
    assert await q.open_by_level(conn, [evil, "'); DROP TABLE cases; --"]) == dict.fromkeys(q.LEVELS, 0)
    assert await q.case_detail(conn, "' OR ''='", None) is None
    assert await q.subtree_ids(conn, "SX' OR '1'='1") == []
    assert await conn.fetchval("SELECT count(*) FROM cases") == 18  # table still there, nothing changed


async def test_unit_league_durations_and_trend(conn: asyncpg.Connection) -> None:
    league = (await q.unit_league(conn, PERIOD_, None)).set_index("unit_id")
    xd = league.loc["SX-TY-XD"]
    assert (xd["open"], xd["overdue"], xd["completed"], xd["completed_on_time"]) == (5, 1, 2, 1)
    assert xd["on_time_pct"] == 50.0
    assert xd["returns"] == 1  # Y1 was returned by Xiaodian in March
    dt = league.loc["SX-DT-PC"]
    assert (dt["open"], dt["overdue"], dt["extensions"], dt["on_time_pct"]) == (3, 1, 1, 50.0)
    assert league.loc["SX-TY-YZ", "extensions_pending"] == 1
    dur = await q.stage_durations(conn, PERIOD_, None)
    row = dur[(dur.unit_id == "SX-TY-XD") & (dur.clock == "investigation")].iloc[0]
    # C1: (03-02, 03-10] = 6 WD; C2: (03-02, 03-12] = 8 WD
    assert (row["n"], row["median_wd"], row["p90_wd"]) == (2, 7.0, pytest.approx(7.8))
    trend = await q.breach_trend(conn, None, NOW, weeks=12)
    per_week = trend.groupby("week")["breaches"].sum()
    assert per_week[date(2026, 3, 9)] == 3  # R2, C2, C5 investigations
    assert per_week[date(2026, 3, 16)] == 2  # R1 investigation, R3 acceptance
    assert (await q.breach_trend(conn, ["SX-TY-YZ"], NOW))["breaches"].sum() == 0


async def test_case_detail_masked_only(conn: asyncpg.Connection) -> None:
    d = await q.case_detail(conn, "SX2026030100024", None)
    assert d is not None
    assert d.case["complainant_phone"] == "138****5678"
    assert "ciphertext" not in d.case
    inv = d.clocks[d.clocks.clock == "investigation"].iloc[0]
    assert inv["extended"] and inv["original_due_at"] < inv["due_at"]
    assert list(d.events["kind"])[:3] == ["registered", "accepted", "assigned"]
    assert "review_decided" in set(d.events["kind"])


async def test_a_breach_stays_late_when_a_later_extension_moves_the_deadline(conn: asyncpg.Connection) -> None:
    """C1's investigation finished by its deadline; had it turned red before an extension was approved (the
    deadline moved past the stop), it counts late everywhere: on time means never breached."""
    ty = await q.subtree_ids(conn, "SX-TY")
    tx = conn.transaction()
    await tx.start()
    try:
        before = await q.period_metrics(conn, PERIOD_, ty)
        league_before = (await q.unit_league(conn, PERIOD_, ty)).set_index("unit_id")
        changed = await conn.execute(
            "UPDATE sla_clocks SET breached = true, extended = true, due_at = stopped_at + interval '5 days'"
            " WHERE clock = 'investigation' AND case_no = (SELECT case_no FROM sla_clocks"
            "  WHERE clock = 'investigation' AND unit = 'SX-TY-XD' AND NOT breached AND stopped_at >= $1"
            "  ORDER BY case_no LIMIT 1)",
            PERIOD_.bounds()[0],
        )
        after = await q.period_metrics(conn, PERIOD_, ty)
        league_after = (await q.unit_league(conn, PERIOD_, ty)).set_index("unit_id")
    finally:
        await tx.rollback()
    assert changed == "UPDATE 1"
    assert (before.investigation_clocks, before.completed_on_time) == (3, 2)
    assert (after.investigation_clocks, after.completed_on_time) == (3, 1)
    assert league_before.loc["SX-TY-XD", "completed_on_time"] == 1
    assert league_after.loc["SX-TY-XD", "completed_on_time"] == 0


async def test_stage_durations_count_a_review_at_the_national_bureau_on_the_case_calendar(
    conn: asyncpg.Connection,
) -> None:
    """A review clock runs at the next-higher bureau, which for a case the province handles is the national
    one (jurisdiction CN, not the case's CN-SX): its working days still come from the case's calendar."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(
            "INSERT INTO sla_clocks (case_no, clock, cycle, unit, started_at, original_due_at, due_at, stopped_at)"
            " VALUES ('SX2026030100021', 'review', 1, 'NHSA', $1, $2, $2, $2)",
            at(3, 2, 9),
            at(3, 10),
        )
        dur = await q.stage_durations(conn, PERIOD_, None)
        nhsa = await q.stage_durations(conn, PERIOD_, ["NHSA"])
    finally:
        await tx.rollback()
    row = dur[(dur.unit_id == "NHSA") & (dur.clock == "review")]
    assert len(row) == 1
    # (03-02, 03-10] on CN-SX's calendar = 6 working days, as C1's investigation over the same days
    assert (row.iloc[0]["n"], row.iloc[0]["median_wd"]) == (1, 6.0)
    assert list(nhsa["unit_id"]) == ["NHSA"]
