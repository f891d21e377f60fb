"""The open-cases-by-level chart (`open_by_level_per_day`) against a day-by-day recount in Python of the rule in
its docstring, on the hand-countable seed plus level histories that span days: a clock going blue, yellow, red
over a week, a clock falling back to on track, two clocks of one case at different levels, a second cycle, a
change recorded after its clock stopped, and cases that closed during the period."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest_asyncio
from helpers.dashboard_seed import NOW, PERIOD, recount_open_by_level, seed_dashboard, seed_level_histories

from dashboard import queries as q


@pytest_asyncio.fixture(scope="module")
async def seeded(pg_dsn: str, pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    """The seed plus level changes spread over the period, recorded through the read model's writer."""
    await seed_dashboard(pg_dsn)
    await seed_level_histories(pg_pool)
    return pg_pool


async def test_every_day_and_level_equals_the_recount(seeded: asyncpg.Pool) -> None:
    period = q.Period(*PERIOD)
    async with seeded.acquire() as conn:
        city = await q.subtree_ids(conn, "SX-TY")
        for scope in (None, city, ["SX-TY-XD"], ["SX"]):
            series = await q.open_by_level_per_day(conn, period, scope, NOW)
            got = {(r.day, r.sla_level): r.cases for r in series.itertuples()}
            expected = await recount_open_by_level(conn, period, scope)
            assert got == {key: expected.get(key, 0) for key in got}, scope
            assert set(expected) <= set(got)
        # the histories do reach every level on some day, or the comparison would prove little
        whole = await recount_open_by_level(conn, period, None)
    assert {level for (_, level), n in whole.items() if n} == set(q.LEVELS)


async def test_a_period_ending_after_today_stops_at_today(seeded: asyncpg.Pool) -> None:
    period = q.Period(date(2026, 3, 10), date(2026, 3, 25))
    async with seeded.acquire() as conn:
        series = await q.open_by_level_per_day(conn, period, None, NOW)
        expected = await recount_open_by_level(conn, period, None)
    assert max(series["day"]) == NOW.date()
    assert {(r.day, r.sla_level): r.cases for r in series.itertuples()} == {
        key: expected.get(key, 0) for key in series[["day", "sla_level"]].itertuples(index=False, name=None)}
