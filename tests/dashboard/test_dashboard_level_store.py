"""The chart of open cases per level per day keeps the days that have ended (`open_level_days`, migration 0630)
and computes only the rest. A supervisor must never see a stored day that a later write has changed: each test
draws the chart, then writes what the system writes after it (a level change recorded late, a case moved to
another unit, a case registered late, a closing corrected, a write that was still uncommitted while the chart was
computing), and the chart must again equal the day-by-day recount of its rule, in every scope."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

import asyncpg
import pytest_asyncio
from helpers.dashboard_seed import (
    NOW,
    PERIOD,
    TZ,
    at,
    clock,
    projection,
    recount_open_by_level,
    seed_dashboard,
    seed_level_histories,
)

from activities.case_activities import CaseActivities
from activities.contracts import CaseEventRecord
from dashboard import queries as q

# a scope first: after a late write, the first view computes the days again for every scope at once
SCOPES: dict[str, list[str] | None] = {
    "city": ["SX-TY", "SX-TY-XD", "SX-TY-YZ"], "province": None, "XD": ["SX-TY-XD"], "PC": ["SX-DT-PC"],
    "centre": ["SX"],
}
Series = dict[tuple[date, str], int]


@pytest_asyncio.fixture(scope="module")
async def seeded(pg_dsn: str, pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    await seed_dashboard(pg_dsn)
    await seed_level_histories(pg_pool)
    return pg_pool


async def chart(conn: q.Conn, scope: list[str] | None, now: datetime = NOW, period: q.Period | None = None) -> Series:
    series = await q.open_by_level_per_day(conn, period or q.Period(*PERIOD), scope, now)
    return {(r.day, r.sla_level): r.cases for r in series.itertuples()}


async def charts_equal_the_recount(
    pool: asyncpg.Pool, now: datetime = NOW, period: q.Period | None = None
) -> dict[str, Series]:
    """The chart in every scope of `SCOPES`, each checked against the recount."""
    period = period or q.Period(*PERIOD)
    out = {}
    async with pool.acquire() as conn:
        for name, scope in SCOPES.items():
            got = await chart(conn, scope, now, period)
            expected = await recount_open_by_level(conn, period, scope, now)
            assert got == {key: expected.get(key, 0) for key in got}, name
            out[name] = got
    return out


def open_total(series: Series, day: date) -> int:
    return sum(n for (d, _), n in series.items() if d == day)


async def record_level(pool: asyncpg.Pool, case_no: str, clock_name: str, cycle: int, level: str, when: datetime) -> None:
    """A level change as the workflow's projection records it, however late after its instant."""
    seq = await pool.fetchval("SELECT coalesce(max(seq), 0) + 1 FROM case_events WHERE case_no = $1", case_no)
    await CaseActivities(pool).record_case_event(CaseEventRecord(
        case_no=case_no, seq=seq, event_key=f"{case_no}:{seq}:sla_level_changed", kind="sla_level_changed",
        stage="investigation", at=when, actor_id="system", details={"clock": clock_name, "cycle": cycle, "level": level},
    ))


async def a_lone_clock_below_red(pool: asyncpg.Pool, unit: str, since: datetime) -> asyncpg.Record:
    """An open case of `unit` with one running clock, changed last before `since` and not to red."""
    row = await pool.fetchrow(
        """
        SELECT k.case_no, k.clock, k.cycle FROM sla_clocks k JOIN cases c USING (case_no)
        WHERE c.open AND c.handling_unit = $1 AND k.stopped_at IS NULL AND k.started_at < $2
          AND (SELECT count(*) FROM sla_clocks o WHERE o.case_no = k.case_no AND o.stopped_at IS NULL) = 1
          AND NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_no = k.case_no AND e.kind = 'sla_level_changed'
                          AND e.at >= $2)
          AND coalesce((SELECT e.details->>'level' FROM case_events e WHERE e.case_no = k.case_no
                        AND e.kind = 'sla_level_changed' ORDER BY e.seq DESC LIMIT 1), 'on_track') <> 'red'
        ORDER BY k.case_no LIMIT 1
        """,
        unit, since,
    )
    assert row is not None, f"the seed has no open {unit} case with a lone clock below red before {since}"
    return row


async def register_late(pool: asyncpg.Pool, case_no: str, unit: str, registered: datetime) -> None:
    """A case registered at `registered`, accepted an hour later, red from 03-12 17:00, written only now (its
    projections retried after an outage)."""
    accepted = registered + timedelta(hours=1)
    await CaseActivities(pool).project_case(projection(
        dict(case_no=case_no, kind="complaint", channel="hotline_12393", handling_unit=unit, stage="investigation",
             open=True, sla_level="red", due_at=at(3, 12), registered_at=registered, accepted_at=accepted),
        [clock("investigation", unit, accepted, at(3, 12), level="red")], 1,
    ))
    await record_level(pool, case_no, "investigation", 1, "red", at(3, 12, 17))


async def test_a_level_change_recorded_late_counts_from_its_day(seeded: asyncpg.Pool) -> None:
    before = (await charts_equal_the_recount(seeded))["province"]
    when = at(3, 14, 14)
    target = await a_lone_clock_below_red(seeded, "SX-TY-XD", when)
    await record_level(seeded, target["case_no"], target["clock"], target["cycle"], "red", when)
    after = (await charts_equal_the_recount(seeded))["province"]
    assert after[(date(2026, 3, 13), "red")] == before[(date(2026, 3, 13), "red")]
    for day in (date(2026, 3, 14), date(2026, 3, 16)):
        assert after[(day, "red")] == before[(day, "red")] + 1, day


async def test_a_case_moved_to_another_unit_counts_there_on_every_day(seeded: asyncpg.Pool) -> None:
    charts = await charts_equal_the_recount(seeded)
    xd_before, pc_before = charts["XD"], charts["PC"]
    moved = await seeded.fetchrow(
        "SELECT case_no, registered_at FROM cases WHERE open AND handling_unit = 'SX-TY-XD' "
        "AND registered_at < $1 ORDER BY case_no LIMIT 1", at(3, 1, 0))
    # what the projection writes when the case is transferred: the same row with its new unit
    await seeded.execute("UPDATE cases SET handling_unit = 'SX-DT-PC', version = version + 1 WHERE case_no = $1",
                         moved["case_no"])
    charts = await charts_equal_the_recount(seeded)
    xd_after, pc_after = charts["XD"], charts["PC"]
    for day in (date(2026, 3, 1), date(2026, 3, 9), date(2026, 3, 17)):
        assert open_total(xd_after, day) == open_total(xd_before, day) - 1, day
        assert open_total(pc_after, day) == open_total(pc_before, day) + 1, day


async def test_a_case_registered_late_counts_from_its_registration(seeded: asyncpg.Pool) -> None:
    before = (await charts_equal_the_recount(seeded))["province"]
    await register_late(seeded, "SX2026030500099", "SX-TY-YZ", at(3, 5, 9))
    after = (await charts_equal_the_recount(seeded))["province"]
    assert open_total(after, date(2026, 3, 4)) == open_total(before, date(2026, 3, 4))
    assert open_total(after, date(2026, 3, 5)) == open_total(before, date(2026, 3, 5)) + 1
    assert after[(date(2026, 3, 11), "red")] == before[(date(2026, 3, 11), "red")]
    assert after[(date(2026, 3, 12), "red")] == before[(date(2026, 3, 12), "red")] + 1


async def test_a_closing_moved_earlier_leaves_the_days_after_it(seeded: asyncpg.Pool) -> None:
    before = (await charts_equal_the_recount(seeded))["province"]
    closed = await seeded.fetchrow(
        "SELECT case_no, closed_at FROM cases WHERE NOT open AND closed_at >= $1 AND registered_at < $2 "
        "ORDER BY closed_at DESC LIMIT 1", at(3, 12, 0), at(3, 8, 0))
    await seeded.execute("UPDATE cases SET closed_at = $2, version = version + 1 WHERE case_no = $1",
                         closed["case_no"], at(3, 9, 15))
    await seeded.execute("UPDATE sla_clocks SET stopped_at = $2 WHERE case_no = $1 AND stopped_at > $2",
                         closed["case_no"], at(3, 9, 15))
    after = (await charts_equal_the_recount(seeded))["province"]
    assert open_total(after, date(2026, 3, 8)) == open_total(before, date(2026, 3, 8))
    assert open_total(after, date(2026, 3, 10)) == open_total(before, date(2026, 3, 10)) - 1


async def test_a_write_still_uncommitted_while_the_chart_computed_is_counted_next_time(seeded: asyncpg.Pool) -> None:
    # a committed late write first, so that the next chart computes the stored days again
    first = await a_lone_clock_below_red(seeded, "SX-DT-PC", at(3, 11, 9))
    await record_level(seeded, first["case_no"], first["clock"], first["cycle"], "yellow", at(3, 11, 9))
    second = await a_lone_clock_below_red(seeded, "SX-TY-YZ", at(3, 10, 9))
    writer = await seeded.acquire()
    try:
        async with writer.transaction():
            seq = await writer.fetchval("SELECT max(seq) + 1 FROM case_events WHERE case_no = $1", second["case_no"])
            await writer.execute(
                "INSERT INTO case_events (event_key, case_no, seq, kind, stage, at, actor_id, details) "
                "VALUES ($1, $2, $3, 'sla_level_changed', 'investigation', $4, 'system', $5)",
                f"{second['case_no']}:{seq}:sla_level_changed", second["case_no"], seq, at(3, 10, 9),
                {"clock": second["clock"], "cycle": second["cycle"], "level": "red"})
            # the days from 03-11 are computed again and stored while the write is not yet committed
            meanwhile = (await charts_equal_the_recount(seeded))["province"]
    finally:
        await seeded.release(writer)
    after = (await charts_equal_the_recount(seeded))["province"]
    for day in (date(2026, 3, 10), date(2026, 3, 12)):
        assert after[(day, "red")] == meanwhile[(day, "red")] + 1, day


async def test_first_views_at_the_same_time_agree(seeded: asyncpg.Pool) -> None:
    await seeded.execute("TRUNCATE open_level_days, open_level_days_stored")  # as on a new installation

    async def view(scope: list[str] | None) -> tuple[Series, Series]:
        async with seeded.acquire() as conn:
            return await chart(conn, scope), await recount_open_by_level(conn, q.Period(*PERIOD), scope)

    for got, expected in await asyncio.gather(*(view(scope) for scope in [*SCOPES.values()] * 2)):
        assert got == {key: expected.get(key, 0) for key in got}


async def test_todays_bars_follow_the_writes_of_today(seeded: asyncpg.Pool) -> None:
    now = datetime.now(TZ)
    period = q.Period(now.date() - timedelta(days=3), now.date())
    when = now - min(timedelta(minutes=5), (now - datetime.combine(now.date(), datetime.min.time(), TZ)) / 2)
    before = (await charts_equal_the_recount(seeded, now, period))["province"]
    target = await a_lone_clock_below_red(seeded, "SX-TY-XD", when)
    await record_level(seeded, target["case_no"], target["clock"], target["cycle"], "red", when)
    after = (await charts_equal_the_recount(seeded, now, period))["province"]
    assert after[(now.date(), "red")] == before[(now.date(), "red")] + 1
    assert after[(now.date() - timedelta(days=1), "red")] == before[(now.date() - timedelta(days=1), "red")]


async def test_a_shorter_period_viewed_first_leaves_the_longer_one_whole(seeded: asyncpg.Pool) -> None:
    await charts_equal_the_recount(seeded)
    await register_late(seeded, "SX2026030500098", "SX-TY-XD", at(3, 5, 11))
    # a supervisor looking at the last five days takes the write's note and drops every stored day from 03-05
    await charts_equal_the_recount(seeded, period=q.Period(date(2026, 3, 14), date(2026, 3, 18)))
    await charts_equal_the_recount(seeded)  # 03-05..03-13 are computed again for the longer period
