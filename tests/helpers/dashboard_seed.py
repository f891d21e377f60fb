"""A small, hand-countable data set for the dashboard tests, written through the real read-model activities
(`CaseActivities.project_case` / `record_case_event`) into the fixture database.

The reference instant is `NOW` = Wednesday 2026-03-18 10:00 Asia/Shanghai (no holiday in March 2026). The
"current" period of the tests is 2026-03-01..2026-03-18; its previous period is 2026-02-11..2026-02-28.

Open cases (11): red R1 (SX-TY-XD, investigation, due 03-16), R2 (SX-DT-PC, investigation, due 03-10),
R3 (unassigned -> province SX, acceptance, due 03-17); yellow Y1 (SX-TY-YZ, due today, extension requested),
Y2 (SX-TY-XD, feedback, due today); blue B1 (SX-TY-XD, due 03-20), B2 (SX-DT-PC, due tomorrow); on track
O1..O4. Closed cases C1..C5 finish in March, P1/P2 in February. See `EXPECTED` for the hand-computed figures.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from activities.case_activities import CaseActivities
from activities.contracts import CaseEventRecord, CaseProjection, MaskedPerson, SlaClockRecord
from activities.db import create_pool
from calendars import shanghai_tz
from dashboard.queries import LEVELS, Period

TZ = shanghai_tz()
NOW = datetime(2026, 3, 18, 10, 0, tzinfo=TZ)
PERIOD = (date(2026, 3, 1), date(2026, 3, 18))
PREVIOUS = (date(2026, 2, 11), date(2026, 2, 28))


def at(m: int, d: int, hh: int = 17, mm: int = 0) -> datetime:
    """An instant of 2026 in Asia/Shanghai (17:00 = the service close, the usual due instant)."""
    return datetime.combine(date(2026, m, d), time(hh, mm), tzinfo=TZ)


def clock(
    name: str,
    unit: str | None,
    start: datetime,
    due: datetime,
    stop: datetime | None = None,
    level: str = "on_track",
    original_due: datetime | None = None,
) -> SlaClockRecord:
    """One clock; `breached` follows from the stop (or NOW) being past the due instant."""
    end = stop or NOW
    return SlaClockRecord(
        clock=name,
        unit=unit,
        started_at=start,
        original_due_at=original_due or due,
        due_at=due,
        extended=original_due is not None,
        stopped_at=stop,
        level=level,
        breached=end > due,
    )


PERSON = MaskedPerson(name="张*", id_number="1401**********1234", phone="138****5678", card_number="****9876")

# case_no -> (projection fields, clocks, extra events [(kind, at, details)])
_CASES: list[tuple[dict[str, Any], list[SlaClockRecord], list[tuple[str, datetime, dict[str, Any]]]]] = []


def _open(no: str, unit: str | None, stage: str, level: str, due: datetime, *, ext: str | None = None,
          kind: str = "complaint", channel: str = "hotline_12393", acc_late: bool = False) -> None:
    reg = at(2, 12, 9)
    acc_due = at(2, 25) if not acc_late else at(2, 13)
    acc_stop = at(2, 24, 10) if not acc_late else at(2, 16, 10)
    clocks = []
    if stage == "acceptance":
        clocks.append(clock("acceptance", "SX", at(3, 13, 9), due, level=level))
        reg = at(3, 13, 9)
    else:
        clocks.append(clock("acceptance", "SX", reg, acc_due, acc_stop))
        clocks.append(clock(stage, unit, at(2, 24, 10), due, level=level))
    events: list[tuple[str, datetime, dict[str, Any]]] = []
    if ext == "requested":
        events.append(("extension_requested", at(3, 16, 11), {"reason": "complex case"}))
    _CASES.append((
        dict(case_no=no, kind=kind, channel=channel, handling_unit=unit, stage=stage, open=True, sla_level=level,
             due_at=due, extension_status=ext, registered_at=reg,
             accepted_at=None if stage == "acceptance" else acc_stop),
        clocks,
        events,
    ))


def _closed(no: str, unit: str, reg: datetime, acc: tuple[datetime, datetime], inv: tuple[datetime, datetime],
            feedback: datetime, satisfaction: str | None, *, inv_original_due: datetime | None = None,
            review: tuple[datetime, datetime, str] | None = None) -> None:
    acc_due, acc_stop = acc
    inv_due, inv_stop = inv
    clocks = [
        clock("acceptance", "SX", reg, acc_due, acc_stop),
        clock("investigation", unit, acc_stop, inv_due, inv_stop, original_due=inv_original_due),
        clock("feedback", unit, inv_stop, at(4, 30), feedback),
    ]
    events: list[tuple[str, datetime, dict[str, Any]]] = [
        ("investigation_completed", inv_stop, {"unit": unit}),
        ("feedback_sent", feedback, {}),
    ]
    if inv_original_due is not None:
        events.append(("extension_approved", inv_original_due.replace(hour=9),
                       {"previous_due_at": inv_original_due.isoformat(), "due_at": inv_due.isoformat()}))
    if satisfaction:
        events.append(("return_visit_recorded", feedback.replace(hour=16), {"outcome": satisfaction}))
    outcome = None
    if review:
        asked, decided, outcome = review
        events.append(("review_requested", asked, {"review_unit": "SX-TY", "review_no": 1}))
        events.append(("review_decided", decided, {"outcome": outcome, "review_no": 1}))
    _CASES.append((
        dict(case_no=no, kind="complaint", channel="national_app", handling_unit=unit, stage="archived",
             open=False, sla_level="on_track", due_at=None, registered_at=reg, accepted_at=acc_stop,
             investigation_completed_at=inv_stop, feedback_sent_at=feedback, satisfaction=satisfaction,
             review_outcome=outcome, closed_at=feedback, close_reason="review_window_lapsed"),
        clocks,
        events,
    ))


_open("SX2026021200001", "SX-TY-XD", "investigation", "red", at(3, 16))  # R1: 2 WD overdue
_open("SX2026021200002", "SX-DT-PC", "investigation", "red", at(3, 10), acc_late=True)  # R2: 6 WD overdue
_open("SX2026031300003", None, "acceptance", "red", at(3, 17), channel="wechat")  # R3: 1 WD overdue
_open("SX2026021200004", "SX-TY-YZ", "investigation", "yellow", at(3, 18), ext="requested")  # Y1
_open("SX2026021200005", "SX-TY-XD", "feedback", "yellow", at(3, 18), channel="mail")  # Y2
_open("SX2026021200006", "SX-TY-XD", "investigation", "blue", at(3, 20), kind="fraud_report")  # B1
_open("SX2026021200007", "SX-DT-PC", "investigation", "blue", at(3, 19))  # B2
_open("SX2026021200008", "SX-TY-XD", "investigation", "on_track", at(3, 30))  # O1
_open("SX2026021200009", "SX-TY-YZ", "investigation", "on_track", at(4, 3))  # O2
_open("SX2026021200010", "SX-DT-PC", "investigation", "on_track", at(3, 27))  # O3
_open("SX2026021200011", "SX-TY-XD", "investigation", "on_track", at(3, 25))  # O4

# C1: all on time, satisfied.
_closed("SX2026030100021", "SX-TY-XD", at(3, 1, 9), (at(3, 3), at(3, 2, 9)), (at(3, 23), at(3, 10)),
        at(3, 11), "satisfied")
# C2: investigation late (due 03-09), unsatisfied, review overturned.
_closed("SX2026030100022", "SX-TY-XD", at(3, 1, 9), (at(3, 3), at(3, 2, 9)), (at(3, 9), at(3, 12)),
        at(3, 13), "unsatisfied", review=(at(3, 14, 10), at(3, 17, 10), "overturn"))
# C3 (Yingze): acceptance late, basically satisfied.
_closed("SX2026030100023", "SX-TY-YZ", at(3, 2, 9), (at(3, 4), at(3, 5, 9)), (at(3, 26), at(3, 16)),
        at(3, 17), "basically_satisfied")
# C4 (Datong): extended investigation on time, unreachable, review upheld.
_closed("SX2026030100024", "SX-DT-PC", at(3, 2, 9), (at(3, 4), at(3, 3, 9)), (at(3, 20), at(3, 6)),
        at(3, 9), "unreachable", inv_original_due=at(3, 5), review=(at(3, 10, 10), at(3, 13, 10), "uphold"))
# C5 (Datong): investigation late, return visit pending.
_closed("SX2026030100025", "SX-DT-PC", at(3, 2, 9), (at(3, 4), at(3, 3, 9)), (at(3, 12), at(3, 13)),
        at(3, 16), None)
# P1 / P2: the previous period.
_closed("SX2026021100031", "SX-TY-XD", at(2, 11, 9), (at(2, 13), at(2, 12, 9)), (at(3, 6), at(2, 25)),
        at(2, 26), "satisfied")
_closed("SX2026021100032", "SX-DT-PC", at(2, 11, 9), (at(2, 13), at(2, 12, 9)), (at(2, 26), at(2, 27, 9)),
        at(2, 27, 15), "unsatisfied")

RED_CASES = ["SX2026021200002", "SX2026021200001", "SX2026031300003"]  # board order: earliest due first
EXPECTED: dict[str, Any] = {
    "open_by_level": {"on_track": 4, "blue": 2, "yellow": 2, "red": 3},
    "due_today": 2,
    "due_tomorrow": 1,
    # current period 2026-03-01..18
    "on_time_acceptance_pct": 80.0,  # C1 C2 C4 C5 on time, C3 late
    "on_time_completion_pct": 60.0,  # C1 C3 C4 on time, C2 C5 late
    "return_visit_coverage_pct": 60.0,  # C1 C2 C3 reached of C1..C5
    "satisfaction_pct": 200 / 3,  # C1 C3 of C1 C2 C3
    "review_rate_pct": 40.0,  # C2 C4 of C1..C5
    "overturn_rate_pct": 50.0,  # C2 of C2 C4
    # previous period 2026-02-11..28: 12 acceptance clocks (R2's late), P1 on time, P2 late
    "prev_on_time_acceptance_pct": 1100 / 12,
    "prev_on_time_completion_pct": 50.0,
    # Taiyuan subtree (SX-TY): open cases R1 Y1 Y2 B1 O1 O2 O4
    "ty_open": 7,
    "ty_red": 1,
}


def projection(fields: dict[str, Any], clocks: list[SlaClockRecord], version: int) -> CaseProjection:
    """A full projection from the compact spec."""
    base: dict[str, Any] = dict(
        version=version, category="reimbursement", jurisdiction="CN-SX", updated_at=NOW, complainant=PERSON
    )
    base.update(fields)
    return CaseProjection(**base, clocks=clocks)


async def seed_dashboard(dsn: str) -> int:
    """Write the data set (idempotent); returns the number of cases."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    acts = CaseActivities(pool)
    try:
        for fields, clocks, extra in _CASES:
            no = fields["case_no"]
            events = [("registered", fields["registered_at"], {"channel": fields["channel"]})]
            if fields.get("accepted_at"):
                events.append(("accepted", fields["accepted_at"], {}))
                events.append(("assigned", fields["accepted_at"], {"unit": fields["handling_unit"]}))
            if no == "SX2026021200004":
                events.append(("returned", at(3, 2, 11), {"unit": "SX-TY-XD", "reason": "misrouted"}))
            events += sorted(extra, key=lambda e: e[1])
            for seq, (kind, when, details) in enumerate(events, start=1):
                await acts.record_case_event(
                    CaseEventRecord(
                        case_no=no, seq=seq, event_key=f"{no}:{seq}:{kind}", kind=kind,
                        stage=fields["stage"], at=when, actor_id="seed", actor_role="caseworker",
                        actor_unit=fields["handling_unit"], details=details,
                    )
                )
            await acts.project_case(projection(fields, clocks, len(events)))
    finally:
        await pool.close()
    return len(_CASES)


async def seed_level_histories(pool: asyncpg.Pool) -> None:
    """Level changes spread over the period for every clock of the seed, recorded through the read model's
    writer: a clock going blue, yellow, red over a week, a clock falling back to on track, two clocks of one case
    at different levels, a second cycle, a change recorded after its clock stopped, a change at midnight, a
    case closed and a clock stopped at a day's end."""
    clocks = await pool.fetch("SELECT case_no, clock, cycle, started_at, stopped_at FROM sla_clocks ORDER BY 1, 2, 3")
    acts = CaseActivities(pool)
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
    await pool.execute(
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
    boundary = await pool.fetchrow(
        "SELECT case_no, clock, cycle FROM sla_clocks WHERE stopped_at IS NULL ORDER BY case_no, clock LIMIT 1")
    seq += 1
    await acts.record_case_event(CaseEventRecord(
        case_no=boundary["case_no"], seq=seq, event_key=f"{boundary['case_no']}:{seq}:sla_level_changed",
        kind="sla_level_changed", stage="investigation", at=midnight, actor_id="system",
        details={"clock": boundary["clock"], "cycle": boundary["cycle"], "level": "red"},
    ))
    closed = await pool.fetchval("SELECT case_no FROM cases WHERE NOT open ORDER BY case_no LIMIT 1")
    await pool.execute("UPDATE cases SET closed_at = $2 WHERE case_no = $1", closed, at(3, 8, 0))
    stopped = await pool.execute(
        "UPDATE sla_clocks SET stopped_at = $1 WHERE (case_no, clock, cycle) = "
        "(SELECT case_no, clock, cycle FROM sla_clocks WHERE stopped_at IS NOT NULL AND started_at < $1 "
        "AND stopped_at > $1 ORDER BY case_no, clock LIMIT 1)", at(3, 4, 0))
    assert stopped == "UPDATE 1"


_RANK = {level: i for i, level in enumerate(LEVELS)}


def _in_scope(case: dict[str, Any], scope: list[str] | None, centres: dict[str, str]) -> bool:
    if scope is None:
        return True
    unit = case["handling_unit"]
    return unit in scope if unit is not None else centres.get(case["jurisdiction"]) in scope


async def recount_open_by_level(
    conn: asyncpg.Connection, period: Period, scope: list[str] | None, now: datetime = NOW
) -> dict[tuple[date, str], int]:
    """The rule of the open-cases-by-level chart counted again in Python: every day's count per level, case by
    case and clock by clock, from the rows."""
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
    last = min(period.end, now.astimezone(TZ).date())
    for i in range((last - period.start).days + 1):
        day = period.start + timedelta(days=i)
        t = min(Period(day, day).bounds()[1], now)
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
                    worst = max(worst, _RANK[held[-1]])
            out[(day, LEVELS[worst])] += 1
    return out


async def copy_red_case(dsn: str, copies: int) -> list[str]:
    """`copies` more red cases like R1 (same unit, stage and deadline), numbered SX20260101xxxxx; only the
    `cases` row (no clocks or events), enough for tables that list open cases. Remove with `remove_cases`."""
    numbers = [f"SX20260101{i:05d}" for i in range(1, copies + 1)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            INSERT INTO cases
            SELECT (jsonb_populate_record(c, jsonb_build_object('case_no', n))).*
            FROM cases c, unnest($1::text[]) AS n WHERE c.case_no = 'SX2026021200001'
            """,
            numbers,
        )
    finally:
        await conn.close()
    return numbers


async def remove_cases(dsn: str, case_nos: list[str]) -> None:
    """Delete `cases` rows made by `copy_red_case`."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM cases WHERE case_no = ANY($1::text[])", case_nos)
    finally:
        await conn.close()
