"""The open-cases-by-level chart (`open_by_level_per_day`) against a day-by-day recount in Python of the rule in
its docstring, on the hand-countable seed plus level histories that span days: a clock going blue, yellow, red
over a week, a clock falling back to on track, two clocks of one case at different levels, a second cycle, a
change recorded after its clock stopped, and cases that closed during the period."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import pytest_asyncio
from helpers.dashboard_seed import NOW, PERIOD, at, seed_dashboard

from activities.case_activities import CaseActivities
from activities.contracts import CaseEventRecord
from dashboard import queries as q

RANK = {level: i for i, level in enumerate(q.LEVELS)}


@pytest_asyncio.fixture(scope="module")
async def seeded(pg_dsn: str, pg_pool: asyncpg.Pool) -> asyncpg.Pool:
    """The seed plus level changes spread over the period, recorded through the read model's writer."""
    await seed_dashboard(pg_dsn)
    clocks = await pg_pool.fetch("SELECT case_no, clock, cycle, started_at, stopped_at FROM sla_clocks ORDER BY 1, 2, 3")
    acts = CaseActivities(pg_pool)
    seq = 2000
    for i, k in enumerate(clocks):
        start: datetime = k["started_at"]
        # a varied history per clock: every third clock climbs over a week, every fourth falls back, others
        # change once; some changes fall before the period or after the clock stopped
        if i % 3 == 0:
            history = [(start + timedelta(days=2), "blue"), (start + timedelta(days=5), "yellow"),
                       (start + timedelta(days=8, hours=3), "red")]
        elif i % 4 == 1:
            history = [(start + timedelta(days=1), "yellow"), (start + timedelta(days=4), "on_track")]
        else:
            history = [(start + timedelta(hours=30), ["blue", "red", "yellow"][i % 3])]
        for when, level in history:
            if when > NOW:
                continue
            seq += 1
            await acts.record_case_event(CaseEventRecord(
                case_no=k["case_no"], seq=seq, event_key=f"{k['case_no']}:{seq}:sla_level_changed",
                kind="sla_level_changed", stage="investigation", at=when, actor_id="system",
                details={"clock": k["clock"], "cycle": k["cycle"], "level": level},
            ))
    # a second cycle of one clock (a returned case): its own level, not the first cycle's
    first = clocks[0]
    await pg_pool.execute(
        "INSERT INTO sla_clocks (case_no, clock, cycle, unit, started_at, original_due_at, due_at, level) "
        "SELECT case_no, clock, 2, unit, $2, $3, $3, 'red' FROM sla_clocks WHERE case_no = $1 AND clock = $4 "
        "AND cycle = 1",
        first["case_no"], at(3, 9, 9), at(3, 20), first["clock"])
    seq += 1
    await acts.record_case_event(CaseEventRecord(
        case_no=first["case_no"], seq=seq, event_key=f"{first['case_no']}:{seq}:sla_level_changed",
        kind="sla_level_changed", stage="investigation", at=at(3, 12, 8), actor_id="system",
        details={"clock": first["clock"], "cycle": 2, "level": "red"},
    ))
    # instants exactly at a day's end (midnight): a level reached then counts for the day ending then, a clock
    # stopped or a case closed then still counts for it, a clock started or a case registered then does not
    midnight = at(3, 6, 0)
    boundary = await pg_pool.fetchrow(
        "SELECT case_no, clock, cycle FROM sla_clocks WHERE stopped_at IS NULL ORDER BY case_no, clock LIMIT 1")
    seq += 1
    await acts.record_case_event(CaseEventRecord(
        case_no=boundary["case_no"], seq=seq, event_key=f"{boundary['case_no']}:{seq}:sla_level_changed",
        kind="sla_level_changed", stage="investigation", at=midnight, actor_id="system",
        details={"clock": boundary["clock"], "cycle": boundary["cycle"], "level": "red"},
    ))
    closed = await pg_pool.fetchval("SELECT case_no FROM cases WHERE NOT open ORDER BY case_no LIMIT 1")
    await pg_pool.execute("UPDATE cases SET closed_at = $2 WHERE case_no = $1", closed, at(3, 8, 0))
    stopped = await pg_pool.execute(
        "UPDATE sla_clocks SET stopped_at = $1 WHERE (case_no, clock, cycle) = "
        "(SELECT case_no, clock, cycle FROM sla_clocks WHERE stopped_at IS NOT NULL AND started_at < $1 "
        "AND stopped_at > $1 ORDER BY case_no, clock LIMIT 1)", at(3, 4, 0))
    assert stopped == "UPDATE 1"
    return pg_pool


def _in_scope(case: dict[str, Any], scope: list[str] | None, centres: dict[str, str]) -> bool:
    if scope is None:
        return True
    unit = case["handling_unit"]
    return unit in scope if unit is not None else centres.get(case["jurisdiction"]) in scope


async def recount(conn: asyncpg.Connection, period: q.Period, scope: list[str] | None) -> dict[tuple[date, str], int]:
    """Every day's count per level, case by case and clock by clock, from the rows."""
    cases = [dict(r) for r in await conn.fetch(
        "SELECT case_no, handling_unit, jurisdiction, registered_at, closed_at FROM cases")]
    centres = {r["jurisdiction"]: r["provincial_centre"]
               for r in await conn.fetch("SELECT jurisdiction, provincial_centre FROM org_directories")}
    clocks = defaultdict(list)
    for r in await conn.fetch("SELECT case_no, clock, cycle, started_at, stopped_at FROM sla_clocks"):
        clocks[r["case_no"]].append(r)
    changes: dict[tuple[str, str, int], list[tuple[datetime, str]]] = defaultdict(list)
    for r in await conn.fetch(
            "SELECT case_no, at, details FROM case_events WHERE kind = 'sla_level_changed' ORDER BY seq"):
        d = json.loads(r["details"]) if isinstance(r["details"], str) else r["details"]
        changes[(r["case_no"], d["clock"], int(d.get("cycle", 1)))].append((r["at"], d["level"]))
    out: dict[tuple[date, str], int] = defaultdict(int)
    last = min(period.end, NOW.date())
    for i in range((last - period.start).days + 1):
        day = period.start + timedelta(days=i)
        t = min(q.Period(day, day).bounds()[1], NOW)
        for c in cases:
            if not _in_scope(c, scope, centres) or not c["registered_at"] < t:
                continue
            if c["closed_at"] is not None and c["closed_at"] < t:
                continue
            worst = 0
            for k in clocks[c["case_no"]]:
                if not (k["started_at"] < t and (k["stopped_at"] is None or k["stopped_at"] >= t)):
                    continue
                held = [level for when, level in changes[(c["case_no"], k["clock"], k["cycle"])] if when <= t]
                if held:
                    worst = max(worst, RANK[held[-1]])
            out[(day, q.LEVELS[worst])] += 1
    return out


async def test_every_day_and_level_equals_the_recount(seeded: asyncpg.Pool) -> None:
    period = q.Period(*PERIOD)
    async with seeded.acquire() as conn:
        city = await q.subtree_ids(conn, "SX-TY")
        for scope in (None, city, ["SX-TY-XD"], ["SX"]):
            series = await q.open_by_level_per_day(conn, period, scope, NOW)
            got = {(r.day, r.sla_level): r.cases for r in series.itertuples()}
            expected = await recount(conn, period, scope)
            assert got == {key: expected.get(key, 0) for key in got}, scope
            assert set(expected) <= set(got)
        # the histories do reach every level on some day, or the comparison would prove little
        whole = await recount(conn, period, None)
    assert {level for (_, level), n in whole.items() if n} == set(q.LEVELS)


async def test_a_period_ending_after_today_stops_at_today(seeded: asyncpg.Pool) -> None:
    period = q.Period(date(2026, 3, 10), date(2026, 3, 25))
    async with seeded.acquire() as conn:
        series = await q.open_by_level_per_day(conn, period, None, NOW)
        expected = await recount(conn, period, None)
    assert max(series["day"]) == NOW.date()
    assert {(r.day, r.sla_level): r.cases for r in series.itertuples()} == {
        key: expected.get(key, 0) for key in series[["day", "sla_level"]].itertuples(index=False, name=None)}
