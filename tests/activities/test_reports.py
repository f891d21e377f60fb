"""The daily and monthly reports' activity (`activities.report_activities.publish_report`) on the hand-countable dashboard
seed (tests/helpers/dashboard_seed.py) in a real PostgreSQL: the workbook opens with openpyxl, its numbers equal
the monitor's own SQL (`dashboard.queries`) for every unit and the read model's rows for every channel and
category, the chart is a PNG, the report and its notices are written once, and a bad request writes nothing."""

from __future__ import annotations

import io
from datetime import date

import asyncpg
import openpyxl
import pytest
import pytest_asyncio
from helpers.dashboard_seed import NOW, PERIOD, PREVIOUS, seed_dashboard
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contracts import ReportRequest
from activities.report_activities import ReportActivities
from activities.report_book import RATES
from dashboard import queries as dq

JURISDICTION = "CN-SX"


@pytest_asyncio.fixture(scope="module")
async def seeded(pg_dsn: str, pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await seed_dashboard(pg_dsn)
    return pg_pool


def request(**changes: object) -> ReportRequest:
    fields: dict[str, object] = dict(
        jurisdiction=JURISDICTION, kind="monthly", published_on=date(2026, 3, 19), period_start=PERIOD[0],
        period_end=PERIOD[1], previous_start=PREVIOUS[0], previous_end=PREVIOUS[1], requested_at=NOW,
    )
    return ReportRequest.model_validate(fields | changes)


def sheet_rows(xlsx: bytes, name: str) -> list[dict[str, object]]:
    ws = openpyxl.load_workbook(io.BytesIO(xlsx))[name]
    assert ws.freeze_panes == "A2"
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def pct(metrics: dq.PeriodMetrics, num: str, den: str) -> float | None:
    d = getattr(metrics, den)
    return None if d == 0 else round(100.0 * getattr(metrics, num) / d, 1)


async def published(pool: asyncpg.Pool, req: ReportRequest) -> tuple[bytes, bytes]:
    outcome = await ActivityEnvironment().run(ReportActivities(pool).publish_report, req)
    assert outcome.stored
    row = await pool.fetchrow("SELECT xlsx, chart_png FROM reports WHERE report_id = $1", outcome.report_id)
    assert row is not None
    return bytes(row["xlsx"]), bytes(row["chart_png"])


async def test_unit_figures_equal_the_monitors_sql(seeded: asyncpg.Pool) -> None:
    xlsx, png = await published(seeded, request())
    units = sheet_rows(xlsx, "按单位")
    bureau_units = {r["unit_id"] for r in await seeded.fetch(
        "SELECT unit_id FROM org_units WHERE jurisdiction = $1", JURISDICTION)}
    assert {r["代码"] for r in units} == bureau_units  # every unit, with figures or not
    assert {"SX-TY-XD", "SX-DT-PC"} <= bureau_units
    async with seeded.acquire() as conn:
        for row in units:
            unit = str(row["代码"])
            cur = await dq.period_metrics(conn, dq.Period(*PERIOD), [unit])
            prev = await dq.period_metrics(conn, dq.Period(*PREVIOUS), [unit])
            for num, den, title in RATES:
                assert row[f"{title}%（本期）"] == pct(cur, num, den), (unit, title)
                assert row[f"{title}%（上期）"] == pct(prev, num, den), (unit, title)
            assert row["登记量（本期）"] == cur.registered and row["登记量（上期）"] == prev.registered
        whole = await dq.period_metrics(conn, dq.Period(*PERIOD), None)
    summary = {r["指标"]: r for r in sheet_rows(xlsx, "概要")}
    current = next(h for h in summary["登记量"] if str(h).startswith("本期"))
    assert summary["限时办结率%"][current] == pct(whole, "completed_on_time", "investigation_clocks")
    assert summary["按时受理率%"][current] == pct(whole, "accepted_on_time", "acceptance_clocks")
    assert summary["登记量"][current] == whole.registered
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


async def test_channel_category_intake_and_overdue_equal_the_read_model(seeded: asyncpg.Pool) -> None:
    xlsx, _ = await published(seeded, request(published_on=date(2026, 3, 20)))
    lo, hi = dq.Period(*PERIOD).bounds()
    async with seeded.acquire() as conn:
        by_channel = {r["channel"]: r["n"] for r in await conn.fetch(
            "SELECT channel, count(*) AS n FROM cases WHERE registered_at >= $1 AND registered_at < $2 GROUP BY 1",
            lo, hi)}
        by_category = {r["category"]: r["n"] for r in await conn.fetch(
            "SELECT category, count(*) AS n FROM cases WHERE registered_at >= $1 AND registered_at < $2 GROUP BY 1",
            lo, hi)}
        per_day = await conn.fetch(
            "SELECT (registered_at AT TIME ZONE 'Asia/Shanghai')::date AS day, channel, count(*) AS n FROM cases"
            " WHERE registered_at >= $1 AND registered_at < $2 GROUP BY 1, 2 ORDER BY 1, 2", lo, hi)
        overdue = await conn.fetch(
            "SELECT COALESCE(unit, 'SX') AS unit, clock, count(*) AS n FROM sla_clocks"
            " WHERE started_at < $1 AND due_at < $1 AND (stopped_at IS NULL OR stopped_at >= $1)"
            " GROUP BY 1, 2 ORDER BY 1, 2", hi)
    channels = sheet_rows(xlsx, "按渠道")
    assert {r["代码"]: r["登记量（本期）"] for r in channels if r["登记量（本期）"]} == by_channel
    categories = sheet_rows(xlsx, "按类别")
    assert {r["代码"]: r["登记量（本期）"] for r in categories if r["登记量（本期）"]} == by_category
    days = sheet_rows(xlsx, "各渠道每日登记")
    assert sum(int(r["登记量"]) for r in days) == sum(r["n"] for r in per_day) == sum(by_channel.values())
    assert [r["日期"].date() for r in days] == [r["day"] for r in per_day]  # dates are Excel dates
    late = sheet_rows(xlsx, "超期（按单位和环节）")
    assert sum(int(r["期末超期数（本期）"]) for r in late) == sum(r["n"] for r in overdue) > 0
    assert "unit_id" not in str(list(late[0])) and all(r["环节"] and r["单位"] for r in late)


async def test_a_report_is_stored_and_announced_once(seeded: asyncpg.Pool) -> None:
    req = request(kind="daily", published_on=date(2026, 3, 18), period_start=date(2026, 3, 17),
                  period_end=date(2026, 3, 17), previous_start=date(2026, 3, 16), previous_end=date(2026, 3, 16))
    acts = ReportActivities(seeded)
    first = await ActivityEnvironment().run(acts.publish_report, req)
    again = await ActivityEnvironment().run(acts.publish_report, req)
    supervisors = await seeded.fetch(
        "SELECT DISTINCT supervisor_id FROM org_units WHERE jurisdiction = $1", JURISDICTION)
    assert first.report_id == again.report_id == "daily-CN-SX-2026-03-18"
    assert first.stored and first.notices_queued == len(supervisors) > 0
    assert not again.stored and again.notices_queued == 0
    assert await seeded.fetchval("SELECT count(*) FROM reports WHERE report_id = $1", first.report_id) == 1
    notices = await seeded.fetch(
        "SELECT recipient_ref, audience, channel, template FROM notifications WHERE case_no = $1", first.report_id)
    assert sorted(n["recipient_ref"] for n in notices) == sorted(s["supervisor_id"] for s in supervisors)
    assert {(n["audience"], n["channel"], n["template"]) for n in notices} == {
        ("supervisor", "internal", "report_published")}


@pytest.mark.parametrize(("changes", "field"), [
    ({"period_end": date(2026, 2, 1)}, "period_end"),
    ({"kind": "weekly"}, "kind"),
    ({"jurisdiction": "CN-ZZ"}, "jurisdiction"),
])
async def test_a_bad_request_names_its_field_and_writes_nothing(
    seeded: asyncpg.Pool, changes: dict[str, object], field: str
) -> None:
    before = await seeded.fetchval("SELECT count(*) FROM reports")
    req = request(published_on=date(2026, 3, 27), **changes)
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(ReportActivities(seeded).publish_report, req)
    assert field in str(err.value) and err.value.non_retryable
    assert await seeded.fetchval("SELECT count(*) FROM reports") == before
