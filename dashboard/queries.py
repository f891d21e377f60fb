"""Every SQL query of the supervisor dashboard: set-based aggregates over the PostgreSQL read model.

All functions are plain `async` functions over an asyncpg connection (or pool), testable without Streamlit.
Every function takes `scope_unit_ids`: the unit ids a user may see (a subtree of the org directory, see
`subtree_ids`); `None` means everything. A case belongs to its handling unit; a case with no handling unit yet
(acceptance / dispatch) belongs to the provincial centre of its jurisdiction. Clock-based figures belong to the
clock's unit (falling back to the provincial centre the same way).

All filter values travel as bind parameters: no value is ever formatted into SQL text. The dashboard never
reads `case_pii`; it shows the masked complainant columns of `cases` only.

Definitions (docs/spec.md §4), for a period [start, end] of local (Asia/Shanghai) dates:
* on time means never breached (`NOT breached`, set by the case rules, `cases.sla.is_late`): a clock finished at
  its due instant is on time, and a breach stays a breach when an extension approved later moves the deadline;
* on-time acceptance % - acceptance clocks stopped in the period and never breached;
* on-time completion % (限时办结率) - investigation clocks stopped in the period and never breached;
* return-visit coverage % - cases whose feedback went out in the period with a return visit that reached the
  complainant (satisfaction recorded and not `unreachable`);
* satisfaction % - (satisfied + basically satisfied) / reached return visits, same cases;
* review rate - the same cases with a review requested; overturn rate - review decisions made in the period
  that overturned the result.
Working days (stage durations, time to breach) use the jurisdiction's working-day calendar (`calendars`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg
import pandas as pd

from activities.bureau_calendar import BureauCalendar, BureauDayRow, ServiceHoursRow, applicable
from activities.outbox import DEFAULT_MAX_ATTEMPTS
from calendars import get_calendar, shanghai_tz

LEVELS: tuple[str, ...] = ("on_track", "blue", "yellow", "red")
ATTENTION_LEVELS: tuple[str, ...] = ("blue", "yellow", "red")
STAGE_CLOCKS: tuple[str, ...] = ("acceptance", "investigation", "feedback", "return_visit", "review")

Conn = asyncpg.Connection | asyncpg.Pool


def scope_predicate(unit_col: str, jur_col: str, param: str = "$1") -> str:
    """SQL predicate: the row's unit (or, with no unit, its jurisdiction's provincial centre) is in scope.

    Only column names chosen in this module are substituted here (never values): `param` is a bind
    parameter holding `text[]` or NULL (no restriction).
    """
    return (
        f"({param}::text[] IS NULL OR {unit_col} = ANY({param}::text[]) OR ({unit_col} IS NULL AND {jur_col} IN "
        f"(SELECT od.jurisdiction FROM org_directories od WHERE od.provincial_centre = ANY({param}::text[]))))"
    )


def _clock_in_scope(param: str = "$1") -> str:
    """SQL predicate for a row of `sla_clocks k`: the same rule as `scope_predicate("k.unit", <its case's
    jurisdiction>)`, without joining `cases` for every clock. The case is looked up only for a clock with no
    unit (an `EXISTS` on the primary key); every clock has its case (foreign key), so the result equals the
    join's. At 1M cases the join made PostgreSQL hash-join a full scan of `cases` just for this predicate.
    """
    return (
        f"({param}::text[] IS NULL OR k.unit = ANY({param}::text[]) OR (k.unit IS NULL AND EXISTS ("
        f"SELECT 1 FROM cases c JOIN org_directories od ON od.jurisdiction = c.jurisdiction "
        f"WHERE c.case_no = k.case_no AND od.provincial_centre = ANY({param}::text[]))))"
    )


def _scope_param(scope_unit_ids: Sequence[str] | None) -> list[str] | None:
    return None if scope_unit_ids is None else list(scope_unit_ids)


@asynccontextmanager
async def _connection(conn: Conn) -> AsyncIterator[asyncpg.Connection]:
    """One connection for a query that needs its own transaction: `conn` itself, or one from the pool."""
    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as acquired:
            yield acquired
    else:
        yield conn


# ------------------------------------------------------------------------------------------ periods


@dataclass(frozen=True)
class Period:
    """An inclusive range of local (Asia/Shanghai) dates."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period end {self.end} is before start {self.start}")

    @property
    def days(self) -> int:
        """Length in natural days."""
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def bounds(self) -> tuple[datetime, datetime]:
        """[from, to) as aware instants."""
        tz = shanghai_tz()
        return (
            datetime.combine(self.start, time(0), tzinfo=tz),
            datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=tz),
        )


# ------------------------------------------------------------------------------------------ org tree


async def unit_tree(conn: Conn) -> pd.DataFrame:
    """The org directory in depth-first order with `depth` (0 = national) and the path of unit ids."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE t AS (
            SELECT unit_id, name, level, parent_id, jurisdiction, supervisor_id, 0 AS depth,
                   ARRAY[unit_id] AS path
            FROM org_units WHERE parent_id IS NULL
            UNION ALL
            SELECT u.unit_id, u.name, u.level, u.parent_id, u.jurisdiction, u.supervisor_id, t.depth + 1,
                   t.path || u.unit_id
            FROM org_units u JOIN t ON u.parent_id = t.unit_id
        )
        SELECT unit_id, name, level, parent_id, jurisdiction, supervisor_id, depth, path FROM t ORDER BY path
        """
    )
    cols = ["unit_id", "name", "level", "parent_id", "jurisdiction", "supervisor_id", "depth", "path"]
    return pd.DataFrame([dict(r) for r in rows], columns=cols)


async def subtree_ids(conn: Conn, root_unit_id: str) -> list[str]:
    """`root_unit_id` and all units below it (empty list if the unit does not exist)."""
    rows = await conn.fetch(
        """
        WITH RECURSIVE t AS (
            SELECT unit_id FROM org_units WHERE unit_id = $1
            UNION ALL
            SELECT u.unit_id FROM org_units u JOIN t ON u.parent_id = t.unit_id
        )
        SELECT unit_id FROM t ORDER BY unit_id
        """,
        root_unit_id,
    )
    return [r["unit_id"] for r in rows]


def intersect_scope(allowed: Sequence[str] | None, chosen: Sequence[str] | None) -> list[str] | None:
    """The units both in the user's allowed scope and in the chosen subtree (None = no restriction)."""
    if allowed is None:
        return None if chosen is None else list(chosen)
    if chosen is None:
        return list(allowed)
    keep = set(allowed)
    return [u for u in chosen if u in keep]


# ------------------------------------------------------------------------------------------ overview


@dataclass
class PeriodMetrics:
    """Counts and rates of one period (rates are None when their denominator is 0)."""

    registered: int = 0
    acceptance_clocks: int = 0
    accepted_on_time: int = 0
    investigation_clocks: int = 0
    completed_on_time: int = 0
    feedback_cases: int = 0
    return_visits_reached: int = 0
    satisfied: int = 0
    reviewed: int = 0
    review_decisions: int = 0
    overturned: int = 0

    @staticmethod
    def _rate(num: int, den: int) -> float | None:
        return None if den == 0 else 100.0 * num / den

    @property
    def on_time_acceptance_pct(self) -> float | None:
        return self._rate(self.accepted_on_time, self.acceptance_clocks)

    @property
    def on_time_completion_pct(self) -> float | None:
        return self._rate(self.completed_on_time, self.investigation_clocks)

    @property
    def return_visit_coverage_pct(self) -> float | None:
        return self._rate(self.return_visits_reached, self.feedback_cases)

    @property
    def satisfaction_pct(self) -> float | None:
        return self._rate(self.satisfied, self.return_visits_reached)

    @property
    def review_rate_pct(self) -> float | None:
        return self._rate(self.reviewed, self.feedback_cases)

    @property
    def overturn_rate_pct(self) -> float | None:
        return self._rate(self.overturned, self.review_decisions)


@dataclass
class Overview:
    """Snapshot (open cases by level, due today/tomorrow) plus the period's metrics and the previous one's."""

    open_by_level: dict[str, int]
    due_today: int
    due_tomorrow: int
    current: PeriodMetrics
    previous: PeriodMetrics
    period: Period
    previous_period: Period = field(init=False)

    def __post_init__(self) -> None:
        self.previous_period = self.period.previous()

    @property
    def open_total(self) -> int:
        return sum(self.open_by_level.values())


async def open_by_level(conn: Conn, scope_unit_ids: Sequence[str] | None) -> dict[str, int]:
    """Open cases per SLA level (every level present, zeros included)."""
    rows = await conn.fetch(
        f"""
        SELECT c.sla_level, count(*) AS n FROM cases c
        WHERE c.open AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
        GROUP BY c.sla_level
        """,
        _scope_param(scope_unit_ids),
    )
    out = dict.fromkeys(LEVELS, 0)
    out.update({r["sla_level"]: r["n"] for r in rows})
    return out


async def due_today_tomorrow(conn: Conn, scope_unit_ids: Sequence[str] | None, now: datetime) -> tuple[int, int]:
    """Open cases whose next deadline falls on today's / tomorrow's local date (Asia/Shanghai)."""
    tz = shanghai_tz()
    today = now.astimezone(tz).date()
    t0 = datetime.combine(today, time(0), tzinfo=tz)
    t1, t2 = t0 + timedelta(days=1), t0 + timedelta(days=2)
    row = await conn.fetchrow(
        f"""
        SELECT count(*) FILTER (WHERE c.due_at < $3) AS today,
               count(*) FILTER (WHERE c.due_at >= $3) AS tomorrow
        FROM cases c
        WHERE c.open AND c.due_at >= $2 AND c.due_at < $4
          AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
        """,
        _scope_param(scope_unit_ids),
        t0,
        t1,
        t2,
    )
    assert row is not None
    return int(row["today"]), int(row["tomorrow"])


async def period_metrics(conn: Conn, period: Period, scope_unit_ids: Sequence[str] | None) -> PeriodMetrics:
    """The docs/spec.md §4 rates for one period (see the module docstring for the definitions)."""
    lo, hi = period.bounds()
    scope = _scope_param(scope_unit_ids)
    clocks = await conn.fetchrow(
        f"""
        SELECT count(*) FILTER (WHERE k.clock = 'acceptance') AS acc,
               count(*) FILTER (WHERE k.clock = 'acceptance' AND NOT k.breached) AS acc_ok,
               count(*) FILTER (WHERE k.clock = 'investigation') AS inv,
               count(*) FILTER (WHERE k.clock = 'investigation' AND NOT k.breached) AS inv_ok
        FROM sla_clocks k
        WHERE k.clock IN ('acceptance', 'investigation') AND k.stopped_at >= $2 AND k.stopped_at < $3
          AND {_clock_in_scope()}
        """,
        scope,
        lo,
        hi,
    )
    fb = await conn.fetchrow(
        f"""
        SELECT count(*) AS n,
               count(*) FILTER (WHERE c.satisfaction IS NOT NULL AND c.satisfaction <> 'unreachable') AS reached,
               count(*) FILTER (WHERE c.satisfaction IN ('satisfied', 'basically_satisfied')) AS satisfied,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM case_events e
                                              WHERE e.case_no = c.case_no AND e.kind = 'review_requested'))
                   AS reviewed
        FROM cases c
        WHERE c.feedback_sent_at >= $2 AND c.feedback_sent_at < $3
          AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
        """,
        scope,
        lo,
        hi,
    )
    rv = await conn.fetchrow(
        f"""
        SELECT count(*) AS n, count(*) FILTER (WHERE e.details->>'outcome' = 'overturn') AS overturned
        FROM case_events e JOIN cases c ON c.case_no = e.case_no
        WHERE e.kind = 'review_decided' AND e.at >= $2 AND e.at < $3
          AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
        """,
        scope,
        lo,
        hi,
    )
    reg = await conn.fetchval(
        f"""
        SELECT count(*) FROM cases c
        WHERE c.registered_at >= $2 AND c.registered_at < $3 AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
        """,
        scope,
        lo,
        hi,
    )
    assert clocks is not None and fb is not None and rv is not None
    return PeriodMetrics(
        registered=int(reg or 0),
        acceptance_clocks=clocks["acc"],
        accepted_on_time=clocks["acc_ok"],
        investigation_clocks=clocks["inv"],
        completed_on_time=clocks["inv_ok"],
        feedback_cases=fb["n"],
        return_visits_reached=fb["reached"],
        satisfied=fb["satisfied"],
        reviewed=fb["reviewed"],
        review_decisions=rv["n"],
        overturned=rv["overturned"],
    )


async def overview(
    conn: Conn, period: Period, scope_unit_ids: Sequence[str] | None, now: datetime
) -> Overview:
    """Everything the overview page shows."""
    levels = await open_by_level(conn, scope_unit_ids)
    today, tomorrow = await due_today_tomorrow(conn, scope_unit_ids, now)
    cur = await period_metrics(conn, period, scope_unit_ids)
    prev = await period_metrics(conn, period.previous(), scope_unit_ids)
    return Overview(levels, today, tomorrow, cur, prev, period)


# ------------------------------------------------------------------------------------------ SLA board


@dataclass(frozen=True)
class BoardFilters:
    """Optional filters of the SLA board (None = any)."""

    unit: str | None = None
    stage: str | None = None
    kind: str | None = None
    channel: str | None = None
    levels: tuple[str, ...] = ATTENTION_LEVELS


BOARD_COLUMNS = [
    "case_no",
    "sla_level",
    "wd_left",
    "days_overdue",
    "due_at",
    "due_clock",
    "stage",
    "handling_unit",
    "unit_name",
    "kind",
    "channel",
    "extension_status",
    "provisional",
    "jurisdiction",
]


def _calendar_or_none(code: str) -> Any:
    try:
        return get_calendar(code)
    except Exception:  # unknown jurisdiction: show the case without working-day figures
        return None


async def effective_calendar(conn: Conn, code: str) -> Any:
    """The calendar the cases of `code` count on: the published data with the bureau's own days and service
    close from PostgreSQL (None for an unknown jurisdiction)."""
    return (await _bureau_calendar(conn, code))[0]


async def _bureau_calendar(conn: Conn, code: str) -> tuple[Any, BureauCalendar | None]:
    cal = _calendar_or_none(code)
    if cal is None:
        return None, None
    own = await applicable(conn, code, cal.start, cal.end)
    if not (own.days or own.close):
        return cal, own
    return own.applied_to(code), own


@dataclass
class BureauMonth:
    """The calendar page's data: the effective calendar, the bureau rows of one month, the service close."""

    calendar: Any
    days: list[BureauDayRow]  # the row that applies per day (the most specific code's)
    close: ServiceHoursRow | None


async def bureau_month(conn: Conn, code: str, year: int, month: int) -> BureauMonth:
    """Effective calendar of `code` and the bureau rows (with their notes) that apply in `year`-`month`."""
    cal, own = await _bureau_calendar(conn, code)
    if own is None:
        return BureauMonth(cal, [], None)
    return BureauMonth(cal, [r for r in own.days if (r.day.year, r.day.month) == (year, month)], own.close)


BOARD_PAGE_ROWS = 500  # rows the page draws; the page says how many there are, the exports hold them all


def _board_where() -> str:
    """The SLA board's row filter ($1 scope, $2 levels, $3..$6 unit, stage, kind, channel)."""
    return f"""
        c.open AND c.sla_level = ANY($2::text[])
          AND ($3::text IS NULL OR c.handling_unit = $3)
          AND ($4::text IS NULL OR c.stage = $4)
          AND ($5::text IS NULL OR c.kind = $5)
          AND ($6::text IS NULL OR c.channel = $6)
          AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
    """


def _board_args(scope_unit_ids: Sequence[str] | None, filters: BoardFilters) -> list[Any]:
    return [_scope_param(scope_unit_ids), list(filters.levels), filters.unit, filters.stage, filters.kind,
            filters.channel]


async def sla_board_total(conn: Conn, scope_unit_ids: Sequence[str] | None, filters: BoardFilters) -> int:
    """How many rows `sla_board` has without a limit."""
    n = await conn.fetchval(f"SELECT count(*) FROM cases c WHERE {_board_where()}",
                            *_board_args(scope_unit_ids, filters))
    return int(n or 0)


async def sla_board(
    conn: Conn,
    scope_unit_ids: Sequence[str] | None,
    filters: BoardFilters,
    now: datetime,
    limit: int | None = BOARD_PAGE_ROWS,
) -> pd.DataFrame:
    """Open cases needing attention, soonest breach first (most overdue at the top); `limit=None` = all rows.

    Ordering by the due instant equals ordering by working days to breach (a monotone function of it); the
    working-day figures (`wd_left`, negative when overdue, and `days_overdue`) are computed with each case's
    calendar for the returned rows only.
    """
    rows = await conn.fetch(
        f"""
        SELECT c.case_no, c.sla_level, c.due_at, c.stage, c.handling_unit, u.name AS unit_name, c.kind,
               c.channel, c.extension_status, c.provisional, c.jurisdiction
        FROM cases c LEFT JOIN org_units u ON u.unit_id = c.handling_unit
        WHERE {_board_where()}
        ORDER BY c.due_at NULLS LAST, c.case_no
        LIMIT $7
        """,
        *_board_args(scope_unit_ids, filters),
        limit,
    )
    # which running clock sets each shown case's due instant: a stage's, or the institution's rectification that
    # runs beside the stages until the handling unit records it done (one lookup by case number for the rows
    # shown; a subquery per row let the planner scan the running-clock index once per row)
    due_clocks: dict[tuple[str, Any], str] = {}
    for k in await conn.fetch(
        "SELECT case_no, clock, due_at FROM sla_clocks WHERE case_no = ANY($1::text[]) AND stopped_at IS NULL "
        "ORDER BY clock DESC",
        [r["case_no"] for r in rows],
    ):
        due_clocks[(k["case_no"], k["due_at"])] = k["clock"]
    records: list[dict[str, Any]] = []
    cals: dict[str, Any] = {}
    for r in rows:
        rec = dict(r)
        rec["due_clock"] = due_clocks.get((rec["case_no"], rec["due_at"]))
        if rec["jurisdiction"] not in cals:
            cals[rec["jurisdiction"]] = await effective_calendar(conn, rec["jurisdiction"])
        cal = cals[rec["jurisdiction"]]
        due = rec["due_at"]
        wd_left = None
        if cal is not None and due is not None:
            try:
                wd_left = cal.working_days_left(now, due)
            except ValueError:
                wd_left = None
        rec["wd_left"] = wd_left
        rec["days_overdue"] = max(0, -wd_left) if wd_left is not None else None
        records.append(rec)
    df = pd.DataFrame(records, columns=BOARD_COLUMNS)
    return df.astype({"wd_left": "Int64", "days_overdue": "Int64"})


# ------------------------------------------------------------------------------------------ case list


CASE_STATUSES: tuple[str, ...] = ("all", "open", "closed")


@dataclass(frozen=True)
class CaseListFilters:
    """Filters of the case list (None = any). `registered` keeps the cases registered in that period."""

    unit: str | None = None
    stage: str | None = None
    kind: str | None = None
    channel: str | None = None
    levels: tuple[str, ...] | None = None
    status: str = "all"
    registered: Period | None = None

    def __post_init__(self) -> None:
        if self.status not in CASE_STATUSES:
            raise ValueError(f"status: {self.status!r} is not one of {', '.join(CASE_STATUSES)}")


CASE_LIST_COLUMNS = [
    "case_no", "kind", "channel", "category", "jurisdiction", "handling_unit", "unit_name", "stage", "open",
    "sla_level", "due_at", "extension_status", "returns", "satisfaction", "close_reason", "registered_at",
    "accepted_at", "closed_at",
]


def _case_list_where() -> str:
    """The case list's row filter ($1 scope, $2..$5 unit, stage, kind, channel, $6 levels, $7 open, $8..$9 the
    registration bounds)."""
    return f"""
        ($2::text IS NULL OR c.handling_unit = $2)
          AND ($3::text IS NULL OR c.stage = $3)
          AND ($4::text IS NULL OR c.kind = $4)
          AND ($5::text IS NULL OR c.channel = $5)
          AND ($6::text[] IS NULL OR c.sla_level = ANY($6::text[]))
          AND ($7::boolean IS NULL OR c.open = $7)
          AND ($8::timestamptz IS NULL OR c.registered_at >= $8)
          AND ($9::timestamptz IS NULL OR c.registered_at < $9)
          AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
    """


def _case_list_args(scope_unit_ids: Sequence[str] | None, filters: CaseListFilters) -> list[Any]:
    lo, hi = filters.registered.bounds() if filters.registered is not None else (None, None)
    is_open = {"all": None, "open": True, "closed": False}[filters.status]
    levels = None if filters.levels is None else list(filters.levels)
    return [_scope_param(scope_unit_ids), filters.unit, filters.stage, filters.kind, filters.channel, levels,
            is_open, lo, hi]


async def case_list_total(conn: Conn, scope_unit_ids: Sequence[str] | None, filters: CaseListFilters) -> int:
    """How many rows `case_list` has without a limit."""
    n = await conn.fetchval(f"SELECT count(*) FROM cases c WHERE {_case_list_where()}",
                            *_case_list_args(scope_unit_ids, filters))
    return int(n or 0)


async def case_list(
    conn: Conn, scope_unit_ids: Sequence[str] | None, filters: CaseListFilters, limit: int | None = BOARD_PAGE_ROWS
) -> pd.DataFrame:
    """Cases in scope matching the filters, newest registration first (masked columns only; `limit=None` = all)."""
    rows = await conn.fetch(
        f"""
        SELECT {", ".join("c." + col for col in CASE_LIST_COLUMNS if col != "unit_name")}, u.name AS unit_name
        FROM cases c LEFT JOIN org_units u ON u.unit_id = c.handling_unit
        WHERE {_case_list_where()}
        ORDER BY c.registered_at DESC, c.case_no
        LIMIT $10
        """,
        *_case_list_args(scope_unit_ids, filters),
        limit,
    )
    return pd.DataFrame([dict(r) for r in rows], columns=CASE_LIST_COLUMNS)


# ------------------------------------------------------------------------------------------ units


async def unit_league(conn: Conn, period: Period, scope_unit_ids: Sequence[str] | None) -> pd.DataFrame:
    """Per handling unit: open, overdue (open red), on-time % of investigation clocks stopped in the period,
    returns and extensions granted in the period. Units in scope with no cases are left out."""
    lo, hi = period.bounds()
    rows = await conn.fetch(
        f"""
        WITH open_cases AS (
            SELECT c.handling_unit AS unit_id, count(*) AS open,
                   count(*) FILTER (WHERE c.sla_level = 'red') AS overdue,
                   count(*) FILTER (WHERE c.extension_status = 'requested') AS extensions_pending
            FROM cases c
            WHERE c.open AND c.handling_unit IS NOT NULL AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
            GROUP BY c.handling_unit
        ), clocks AS (
            SELECT k.unit AS unit_id, count(*) AS completed,
                   count(*) FILTER (WHERE NOT k.breached) AS completed_on_time
            FROM sla_clocks k
            WHERE k.clock = 'investigation' AND k.stopped_at >= $2 AND k.stopped_at < $3
              AND k.unit IS NOT NULL AND {_clock_in_scope()}
            GROUP BY k.unit
        ), ev AS (
            SELECT e.details->>'unit' AS unit_id, count(*) AS returns
            FROM case_events e JOIN cases c ON c.case_no = e.case_no
            WHERE e.kind = 'returned' AND e.at >= $2 AND e.at < $3
              AND {scope_predicate("e.details->>'unit'", "c.jurisdiction")}
            GROUP BY 1
        ), ext AS (
            SELECT c.handling_unit AS unit_id, count(*) AS extensions
            FROM case_events e JOIN cases c ON c.case_no = e.case_no
            WHERE e.kind = 'extension_approved' AND e.at >= $2 AND e.at < $3
              AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
            GROUP BY 1
        ), units AS (
            SELECT unit_id FROM open_cases UNION SELECT unit_id FROM clocks
            UNION SELECT unit_id FROM ev UNION SELECT unit_id FROM ext
        )
        SELECT x.unit_id, u.name AS unit_name,
               COALESCE(o.open, 0) AS open, COALESCE(o.overdue, 0) AS overdue,
               COALESCE(k.completed, 0) AS completed, COALESCE(k.completed_on_time, 0) AS completed_on_time,
               COALESCE(ev.returns, 0) AS returns, COALESCE(ext.extensions, 0) AS extensions,
               COALESCE(o.extensions_pending, 0) AS extensions_pending
        FROM units x
        LEFT JOIN org_units u ON u.unit_id = x.unit_id
        LEFT JOIN open_cases o ON o.unit_id = x.unit_id
        LEFT JOIN clocks k ON k.unit_id = x.unit_id
        LEFT JOIN ev ON ev.unit_id = x.unit_id
        LEFT JOIN ext ON ext.unit_id = x.unit_id
        WHERE x.unit_id IS NOT NULL
        ORDER BY COALESCE(o.overdue, 0) DESC, COALESCE(o.open, 0) DESC, x.unit_id
        """,
        _scope_param(scope_unit_ids),
        lo,
        hi,
    )
    cols = ["unit_id", "unit_name", "open", "overdue", "completed", "completed_on_time", "returns",
            "extensions", "extensions_pending"]
    df = pd.DataFrame([dict(r) for r in rows], columns=cols)
    df["on_time_pct"] = [
        round(100.0 * ok / n, 1) if n else None
        for ok, n in zip(df["completed_on_time"], df["completed"], strict=True)
    ]
    return df


def _calendar_arrays(cals: dict[str, Any], start: date, end: date) -> tuple[list[str], list[date], list[int]]:
    """Per jurisdiction (code -> its calendar) and day in [start, end]: the number of working days from `start`
    up to the day (inclusive). The difference of two days' counts is `working_days_between` (days in (a, b])."""
    jurs: list[str] = []
    days: list[date] = []
    cums: list[int] = []
    for code, cal in cals.items():
        if cal is None:
            continue
        lo, hi = max(start, cal.start), min(end, cal.end)
        d, n = lo, 0
        while d <= hi:
            n += 1 if cal.is_working_day(d) else 0
            jurs.append(code)
            days.append(d)
            cums.append(n)
            d += timedelta(days=1)
    return jurs, days, cums


async def stage_durations(conn: Conn, period: Period, scope_unit_ids: Sequence[str] | None) -> pd.DataFrame:
    """Working days per stage clock stopped in the period, per unit: count, median and p90.

    The working-day arithmetic runs in SQL against a per-day cumulative count of working days passed as one
    flat array (one contiguous run of days per jurisdiction, located by its first day and offset): each
    clock reads its two counts by subscript, no per-row Python and no join whose plan depends on the
    arrays' (unknown) lengths (a generic plan of the former day-by-day join ran 100x slower)."""
    lo, hi = period.bounds()
    codes = [r["jurisdiction"] for r in await conn.fetch("SELECT jurisdiction FROM org_directories")]
    cals = {code: await effective_calendar(conn, code) for code in codes}
    jurs, days, cums = _calendar_arrays(cals, date.min, period.end)
    runs_jur: list[str] = []
    runs_first: list[date] = []
    runs_base: list[int] = []
    runs_len: list[int] = []
    for i, (jur, day) in enumerate(zip(jurs, days, strict=True)):  # each code's days are one contiguous run
        if not runs_jur or runs_jur[-1] != jur:
            runs_jur.append(jur)
            runs_first.append(day)
            runs_base.append(i + 1)  # SQL arrays are 1-based
            runs_len.append(0)
        runs_len[-1] += 1
    rows = await conn.fetch(
        f"""
        WITH cal AS MATERIALIZED (
            SELECT * FROM unnest($4::text[], $5::date[], $6::int[], $7::int[]) AS t(jur, first_day, base, n)
        ),
        k AS MATERIALIZED (
            -- the period's clocks (index-only), pre-filtered by unit (implied by the scope predicate below),
            -- each with its case's jurisdiction. The acceptance clock runs at the provincial centre of the
            -- case's directory and the later stage clocks at its handling unit, which the rules take only from
            -- the case's own jurisdiction (`cases.transitions._need_known_unit`): their unit names it. A review
            -- clock runs at the next-higher bureau, which may be the national one, so its case row is looked
            -- up (primary key), as is the case of a clock with no unit or a unit gone from the directory.
            SELECT k.unit, k.clock, (k.started_at AT TIME ZONE 'Asia/Shanghai')::date AS d0,
                   (k.stopped_at AT TIME ZONE 'Asia/Shanghai')::date AS d1,
                   COALESCE(CASE WHEN k.clock <> 'review' THEN ku.jurisdiction END,
                            (SELECT c.jurisdiction FROM cases c WHERE c.case_no = k.case_no)) AS jurisdiction
            FROM sla_clocks k LEFT JOIN org_units ku ON ku.unit_id = k.unit
            WHERE k.stopped_at >= $2 AND k.stopped_at < $3
              AND ($1::text[] IS NULL OR k.unit = ANY($1::text[]) OR k.unit IS NULL)
        ),
        d AS (
            SELECT COALESCE(k.unit, (SELECT od.provincial_centre FROM org_directories od
                                     WHERE od.jurisdiction = k.jurisdiction)) AS unit_id,
                   k.clock,
                   ($8::int[])[cal.base + (k.d1 - cal.first_day)]
                   - ($8::int[])[cal.base + (k.d0 - cal.first_day)] AS wd
            FROM k
            JOIN cal ON cal.jur = k.jurisdiction
            WHERE k.d0 >= cal.first_day AND k.d0 - cal.first_day < cal.n
              AND k.d1 >= cal.first_day AND k.d1 - cal.first_day < cal.n
              AND {scope_predicate("k.unit", "k.jurisdiction")}
        ),
        per_unit AS (
            -- aggregated before the unit names are joined: one name lookup per group, not per clock
            SELECT d.unit_id, d.clock, count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY d.wd) AS median_wd,
                   percentile_cont(0.9) WITHIN GROUP (ORDER BY d.wd) AS p90_wd
            FROM d GROUP BY d.unit_id, d.clock
        )
        SELECT p.unit_id, u.name AS unit_name, p.clock, p.n, p.median_wd, p.p90_wd
        FROM per_unit p LEFT JOIN org_units u ON u.unit_id = p.unit_id
        ORDER BY p.unit_id, p.clock
        """,
        _scope_param(scope_unit_ids),
        lo,
        hi,
        runs_jur,
        runs_first,
        runs_base,
        runs_len,
        cums,
    )
    return pd.DataFrame(
        [dict(r) for r in rows], columns=["unit_id", "unit_name", "clock", "n", "median_wd", "p90_wd"]
    )


async def breach_trend(
    conn: Conn, scope_unit_ids: Sequence[str] | None, now: datetime, weeks: int = 12
) -> pd.DataFrame:
    """Breached clocks per ISO week (Monday, local date) of their due instant over the last `weeks` weeks."""
    tz = shanghai_tz()
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    since = datetime.combine(monday - timedelta(weeks=weeks - 1), time(0), tzinfo=tz)
    rows = await conn.fetch(
        f"""
        SELECT date_trunc('week', k.due_at AT TIME ZONE 'Asia/Shanghai')::date AS week, k.clock, count(*) AS breaches
        FROM sla_clocks k
        WHERE k.breached AND k.due_at >= $2 AND k.due_at < $3 AND {_clock_in_scope()}
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        _scope_param(scope_unit_ids),
        since,
        now,
    )
    return pd.DataFrame([dict(r) for r in rows], columns=["week", "clock", "breaches"])


# ------------------------------------------------------------------------------------------ charts


async def intake_per_day(conn: Conn, period: Period, scope_unit_ids: Sequence[str] | None) -> pd.DataFrame:
    """Cases registered per local day and intake channel in the period (days and channels with none left out)."""
    lo, hi = period.bounds()
    rows = await conn.fetch(
        f"""
        SELECT (c.registered_at AT TIME ZONE 'Asia/Shanghai')::date AS day, c.channel, count(*) AS registered
        FROM cases c
        WHERE c.registered_at >= $2 AND c.registered_at < $3 AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        _scope_param(scope_unit_ids),
        lo,
        hi,
    )
    return pd.DataFrame([dict(r) for r in rows], columns=["day", "channel", "registered"])


# Open cases per level per day: days that have ended are kept in `open_level_days` (migration 0630), per
# handling unit and jurisdiction so that every scope reads them; today, and a day that ended less than
# `LEVEL_DAYS_STORED_AFTER` ago, are computed on every call.
LEVEL_DAYS_STORED_AFTER = timedelta(hours=1)
_LEVEL_DAYS_LOCK = 0x0C_A5_E0_D5  # one chart computation stores days at a time (advisory lock key)

Owner = tuple[str | None, str]  # (handling unit, jurisdiction): what the scope predicate reads of a case


def _day_end(day: date) -> datetime:
    return Period(day, day).bounds()[1]


async def _level_counts_by_owner(
    conn: Conn, days: list[date], scope_unit_ids: Sequence[str] | None, now: datetime
) -> dict[tuple[int, Owner], list[int]]:
    """Open cases per level ([on track, blue, yellow, red]) at the end of each of the consecutive `days` (at
    `now` for a day ending later), per owner; owners with no open case on a day are left out."""
    day_ends = [min(_day_end(d), now) for d in days]
    first_start = Period(days[0], days[0]).bounds()[0]
    # Day i's end is day_ends[i] ($2). An instant x lies before the ends of days i >= width_bucket(x, $2) (the
    # number of ends <= x, a binary search): each condition "x < end" or "end <= x" becomes a bound on the day
    # index, so no instant is converted to a local date and no span is compared with every day. "x <= end" is
    # "x - 1 microsecond < end" (timestamptz counts whole microseconds).
    rows = await conn.fetch(
        f"""
        WITH cand AS MATERIALIZED (
            -- the cases open at some day's end: open now, or closed since the first day began
            SELECT c.case_no, c.registered_at, c.closed_at, c.handling_unit, c.jurisdiction FROM cases c
            WHERE c.open AND c.registered_at < $4 AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
            UNION ALL
            SELECT c.case_no, c.registered_at, c.closed_at, c.handling_unit, c.jurisdiction FROM cases c
            WHERE NOT c.open AND c.closed_at >= $3 AND c.registered_at < $4
              AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
            -- in case-number order, the level changes are merged from their index instead of hashed
            ORDER BY case_no
        ), ev AS MATERIALIZED (
            -- each level change of a clock holds until the next one: [at, until)
            SELECT e.case_no, e.details->>'clock' AS clock, COALESCE((e.details->>'cycle')::int, 1) AS cycle,
                   e.at, lead(e.at, 1, 'infinity') OVER (PARTITION BY e.case_no, e.details->>'clock',
                                                        COALESCE((e.details->>'cycle')::int, 1) ORDER BY e.seq)
                       AS until,
                   e.details->>'level' AS level
            FROM case_events e JOIN cand USING (case_no)
            WHERE e.kind = 'sla_level_changed' AND e.at <= $4
        ), spans AS (
            -- the days a level worse than on track held at their end: the level had been reached
            -- (at <= end < until), the clock was running (started_at < end <= stopped_at) and the case open
            -- (registered_at < end <= closed_at); on track is the difference
            SELECT ev.case_no, c.handling_unit, c.jurisdiction,
                   CASE ev.level WHEN 'red' THEN 3 WHEN 'yellow' THEN 2 ELSE 1 END AS rank,
                   GREATEST(width_bucket(ev.at - interval '1 microsecond', $2::timestamptz[]),
                            width_bucket(k.started_at, $2::timestamptz[]),
                            width_bucket(c.registered_at, $2::timestamptz[])) AS first_day,
                   LEAST(width_bucket(ev.until - interval '1 microsecond', $2::timestamptz[]),
                         COALESCE(width_bucket(k.stopped_at, $2::timestamptz[]), $5),
                         COALESCE(width_bucket(c.closed_at, $2::timestamptz[]), $5))
                       AS end_day
            FROM ev JOIN sla_clocks k ON k.case_no = ev.case_no AND k.clock = ev.clock AND k.cycle = ev.cycle
            JOIN cand c ON c.case_no = ev.case_no
            WHERE ev.level IN ('blue', 'yellow', 'red') AND ev.until > $3
        ), worst AS (
            SELECT d AS day, s.case_no, s.handling_unit, s.jurisdiction, max(s.rank) AS rank
            FROM spans s, generate_series(s.first_day, s.end_day - 1) d
            GROUP BY 1, 2, 3, 4
        )
        SELECT 'level' AS what, day, rank, handling_unit, jurisdiction, count(*) AS cases FROM worst
        GROUP BY 2, 3, 4, 5
        UNION ALL  -- open at the days' ends after its registration up to its closing (registered_at < end <=
        -- closed_at; a closing before the registration is taken at the registration: never open)
        SELECT 'opened', width_bucket(c.registered_at, $2::timestamptz[]), 0, c.handling_unit, c.jurisdiction,
               count(*)
        FROM cand c GROUP BY 2, 4, 5
        UNION ALL
        SELECT 'closed', width_bucket(GREATEST(c.closed_at, c.registered_at), $2::timestamptz[]), 0,
               c.handling_unit, c.jurisdiction, count(*)
        FROM cand c WHERE c.closed_at IS NOT NULL GROUP BY 2, 4, 5
        """,
        _scope_param(scope_unit_ids),
        day_ends,
        first_start,
        day_ends[-1],
        len(days),
    )
    worse: dict[tuple[int, Owner], list[int]] = {}
    moves: dict[Owner, list[int]] = {}
    for r in rows:
        owner = (r["handling_unit"], r["jurisdiction"])
        if r["what"] == "level":
            worse.setdefault((r["day"], owner), [0, 0, 0, 0])[r["rank"]] = int(r["cases"])
        else:
            moves.setdefault(owner, [0] * (len(days) + 1))[r["day"]] += (
                int(r["cases"]) if r["what"] == "opened" else -int(r["cases"]))
    out: dict[tuple[int, Owner], list[int]] = {}
    for owner, owner_moves in moves.items():
        open_cases = 0
        for i in range(len(days)):
            open_cases += owner_moves[i]
            if open_cases:
                counts = worse.get((i, owner), [0, 0, 0, 0])
                counts[0] = open_cases - sum(counts)
                out[(i, owner)] = counts
    return out


async def _owners_in_scope(conn: Conn, owners: Sequence[Owner], scope_unit_ids: Sequence[str] | None) -> set[Owner]:
    """The owners a scope sees, by the same predicate as the cases themselves."""
    if scope_unit_ids is None:
        return set(owners)
    rows = await conn.fetch(
        f"""
        SELECT o.handling_unit, o.jurisdiction FROM unnest($2::text[], $3::text[]) AS o(handling_unit, jurisdiction)
        WHERE {scope_predicate("o.handling_unit", "o.jurisdiction")}
        """,
        _scope_param(scope_unit_ids),
        [unit for unit, _ in owners],
        [jurisdiction for _, jurisdiction in owners],
    )
    return {(r["handling_unit"], r["jurisdiction"]) for r in rows}


async def _stored_level_days(
    conn: asyncpg.Connection, days: list[date], scope_unit_ids: Sequence[str] | None, now: datetime
) -> tuple[list[date], dict[tuple[date, str], int], dict[tuple[int, Owner], list[int]] | None]:
    """Bring the stored counts of `days` up to date and read them for the scope. Returns the days the store
    answers (each of `days` that ended by `now` and `LEVEL_DAYS_STORED_AFTER` before the database's clock: a
    prefix of `days`), their counts per level and, when some had to be computed, the counts of every owner for
    the days after them, from the same computation (a case accepted today that was registered yesterday
    restates yesterday: one query then covers both). All under the lock: another view's notes may drop days
    of other periods, which it does not store again."""
    counts: dict[tuple[int, Owner], list[int]] | None = None
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LEVEL_DAYS_LOCK)
        # the notes of the writes committed so far go, and with them the days they touch; a write committing
        # later leaves its note for the next call, whether or not this call's computation saw it
        await conn.execute(
            """
            WITH noted AS (DELETE FROM open_level_days_stale RETURNING from_day),
                 first AS (SELECT min(from_day) AS day FROM noted),
                 counts AS (DELETE FROM open_level_days WHERE day >= (SELECT day FROM first))
            DELETE FROM open_level_days_stored WHERE day >= (SELECT day FROM first)
            """
        )
        horizon = min(now, await conn.fetchval("SELECT now()") - LEVEL_DAYS_STORED_AFTER)
        ended = [d for d in days if _day_end(d) <= horizon]
        if not ended:
            return [], {}, None
        stored = {
            r["day"]
            for r in await conn.fetch(
                "SELECT day FROM open_level_days_stored WHERE day >= $1 AND day <= $2", ended[0], ended[-1]
            )
        }
        missing = [d for d in ended if d not in stored]
        first_computed = days.index(missing[0]) if missing else len(days)
        if missing:
            counts = await _level_counts_by_owner(conn, days[first_computed:], None, now)
            wanted = set(missing)
            await conn.copy_records_to_table(
                "open_level_days",
                records=[
                    (days[first_computed + i], unit, jurisdiction, level, n)
                    for (i, (unit, jurisdiction)), per_level in counts.items()
                    if days[first_computed + i] in wanted
                    for level, n in zip(LEVELS, per_level, strict=True)
                    if n
                ],
                columns=["day", "handling_unit", "jurisdiction", "sla_level", "cases"],
            )
            await conn.executemany("INSERT INTO open_level_days_stored (day) VALUES ($1)", [(d,) for d in missing])
        rows = await conn.fetch(
            f"""
            SELECT s.day, s.sla_level, sum(s.cases)::int AS cases FROM open_level_days s
            WHERE s.day >= $2 AND s.day <= $3 AND {scope_predicate("s.handling_unit", "s.jurisdiction")}
            GROUP BY 1, 2
            """,
            _scope_param(scope_unit_ids),
            ended[0],
            ended[-1],
        )
    per_level = {(r["day"], r["sla_level"]): r["cases"] for r in rows}
    if counts is None:
        return ended, per_level, None
    first_live = len(ended) - first_computed
    return ended, per_level, {(i - first_live, owner): v for (i, owner), v in counts.items() if i >= first_live}


async def open_by_level_per_day(
    conn: Conn, period: Period, scope_unit_ids: Sequence[str] | None, now: datetime
) -> pd.DataFrame:
    """Open cases per SLA level at the end of each day of the period (at `now` for today; days after today are
    left out). A case open then takes the worst level of its clocks running then, each clock's level being the
    last `sla_level_changed` event of that clock and cycle up to that instant (on track before any); a case with
    no clock running is on track. A case counts for its current unit on every day. Every level of every day is
    present, zeros included."""
    last = min(period.end, now.astimezone(shanghai_tz()).date())
    if last < period.start:
        return pd.DataFrame(columns=["day", "sla_level", "cases"])
    days = [period.start + timedelta(days=i) for i in range((last - period.start).days + 1)]
    per_day: dict[date, dict[str, int]] = {d: dict.fromkeys(LEVELS, 0) for d in days}
    async with _connection(conn) as c:
        ended, stored, computed = await _stored_level_days(c, days, scope_unit_ids, now)
        for (day, level), n in stored.items():
            per_day[day][level] = n
        live = days[len(ended) :]
        if live:
            if computed is None:
                computed = await _level_counts_by_owner(c, live, scope_unit_ids, now)
            else:
                seen = await _owners_in_scope(c, list({owner for _, owner in computed}), scope_unit_ids)
                computed = {key: v for key, v in computed.items() if key[1] in seen}
            for (i, _), per_level in computed.items():
                for level, n in zip(LEVELS, per_level, strict=True):
                    per_day[live[i]][level] += n
    return pd.DataFrame(
        [(d, level, n) for d, counts in per_day.items() for level, n in counts.items()],
        columns=["day", "sla_level", "cases"],
    )


async def on_time_per_month(
    conn: Conn, scope_unit_ids: Sequence[str] | None, now: datetime, months: int = 12
) -> pd.DataFrame:
    """On-time acceptance % and on-time completion % (限时办结率) per local month of the clocks' stop, over the
    last `months` months up to `now` (the definitions of `period_metrics`); months without clocks left out."""
    today = now.astimezone(shanghai_tz()).date()
    starts = [today.replace(day=1)]
    for _ in range(months - 1):
        starts.insert(0, (starts[0] - timedelta(days=1)).replace(day=1))
    month_starts = [Period(m, m).bounds()[0] for m in starts]
    # each clock's month found by a binary search of the months' first instants (`width_bucket`), not by
    # converting a million stop instants to local time
    rows = await conn.fetch(
        f"""
        SELECT width_bucket(k.stopped_at, $4::timestamptz[]) AS month, k.clock,
               count(*) AS clocks, count(*) FILTER (WHERE NOT k.breached) AS on_time
        FROM sla_clocks k
        WHERE k.clock IN ('acceptance', 'investigation') AND k.stopped_at >= $2 AND k.stopped_at < $3
          AND {_clock_in_scope()}
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        _scope_param(scope_unit_ids),
        month_starts[0],
        now,
        month_starts,
    )
    df = pd.DataFrame([(starts[r["month"] - 1], r["clock"], r["clocks"], r["on_time"]) for r in rows],
                      columns=["month", "clock", "clocks", "on_time"])
    df["on_time_pct"] = [round(100.0 * ok / n, 1) for ok, n in zip(df["on_time"], df["clocks"], strict=True)]
    return df


async def overdue_by_unit_and_stage(conn: Conn, scope_unit_ids: Sequence[str] | None) -> pd.DataFrame:
    """Running clocks at red now, per unit (the clock's, else the provincial centre) and clock."""
    rows = await conn.fetch(
        f"""
        SELECT COALESCE(k.unit, od.provincial_centre) AS unit_id, u.name AS unit_name, k.clock, count(*) AS overdue
        FROM sla_clocks k JOIN cases c ON c.case_no = k.case_no
        LEFT JOIN org_directories od ON od.jurisdiction = c.jurisdiction
        LEFT JOIN org_units u ON u.unit_id = COALESCE(k.unit, od.provincial_centre)
        WHERE k.stopped_at IS NULL AND k.level = 'red' AND {_clock_in_scope()}
        GROUP BY 1, 2, 3 ORDER BY 1, 3
        """,
        _scope_param(scope_unit_ids),
    )
    return pd.DataFrame([dict(r) for r in rows], columns=["unit_id", "unit_name", "clock", "overdue"])


# ------------------------------------------------------------------------------------------ case detail


@dataclass
class CaseDetail:
    """One case: the masked row, its clocks (original and extended deadlines) and its timeline."""

    case: dict[str, Any]
    clocks: pd.DataFrame
    events: pd.DataFrame


CASE_DETAIL_COLUMNS: tuple[str, ...] = (
    "case_no", "kind", "channel", "category", "jurisdiction", "handling_unit", "stage", "open", "sla_level",
    "due_at", "provisional", "extension_status", "returns", "rehandlings", "satisfaction", "review_outcome",
    "close_reason", "registered_at", "accepted_at", "investigation_completed_at", "feedback_sent_at",
    "closed_at", "updated_at", "complainant_name", "complainant_id_number", "complainant_phone",
    "complainant_card_number", "confidential_reporter",
)


async def case_detail(conn: Conn, case_no: str, scope_unit_ids: Sequence[str] | None) -> CaseDetail | None:
    """The case if it exists and is in scope, else None. Masked personal data only (never `case_pii`)."""
    row = await conn.fetchrow(
        f"""
        SELECT {", ".join("c." + col for col in CASE_DETAIL_COLUMNS)}, u.name AS unit_name
        FROM cases c LEFT JOIN org_units u ON u.unit_id = c.handling_unit
        WHERE c.case_no = $2 AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
        """,
        _scope_param(scope_unit_ids),
        case_no,
    )
    if row is None:
        return None
    case = dict(row)
    if case["confidential_reporter"]:
        for k in ("complainant_name", "complainant_id_number", "complainant_phone", "complainant_card_number"):
            case[k] = ""
    clocks = await conn.fetch(
        """
        SELECT clock, cycle, unit, started_at, original_due_at, due_at, extended, stopped_at, level, breached,
               provisional
        FROM sla_clocks WHERE case_no = $1 ORDER BY started_at, clock, cycle
        """,
        case_no,
    )
    events = await conn.fetch(
        """
        SELECT seq, at, kind, stage, actor_id, actor_role, actor_unit, details::text AS details
        FROM case_events WHERE case_no = $1 ORDER BY seq
        """,
        case_no,
    )
    clock_cols = ["clock", "cycle", "unit", "started_at", "original_due_at", "due_at", "extended", "stopped_at",
                  "level", "breached", "provisional"]
    event_cols = ["seq", "at", "kind", "stage", "actor_id", "actor_role", "actor_unit", "details"]
    return CaseDetail(
        case=case,
        clocks=pd.DataFrame([dict(r) for r in clocks], columns=clock_cols),
        events=pd.DataFrame([dict(r) for r in events], columns=event_cols),
    )


async def pending_extensions(conn: Conn, scope_unit_ids: Sequence[str] | None, limit: int = 200) -> pd.DataFrame:
    """Open cases whose extension request waits for a supervisor, oldest deadline first."""
    rows = await conn.fetch(
        f"""
        SELECT c.case_no, c.handling_unit, u.name AS unit_name, c.due_at, c.sla_level
        FROM cases c LEFT JOIN org_units u ON u.unit_id = c.handling_unit
        WHERE c.open AND c.extension_status = 'requested' AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
        ORDER BY c.due_at NULLS LAST, c.case_no LIMIT $2
        """,
        _scope_param(scope_unit_ids),
        limit,
    )
    return pd.DataFrame(
        [dict(r) for r in rows], columns=["case_no", "handling_unit", "unit_name", "due_at", "sla_level"]
    )


UNDELIVERED_COLUMNS = [
    "case_no", "handling_unit", "audience", "channel", "recipient_masked", "template", "status", "attempts",
    "last_error", "requested_at",
]


async def undelivered_notifications(
    conn: Conn, scope_unit_ids: Sequence[str] | None, limit: int = 200, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> tuple[int, pd.DataFrame]:
    """Notifications the outbox has given up on, newest first, and how many there are in scope: attempts
    exhausted, refused for good by the gateway (never retried), or `undeliverable` (no contact to send to).
    Only a person can still get these messages out. Belongs to the case's scope (its handling unit)."""
    where = f"""
        FROM notifications n LEFT JOIN cases c ON c.case_no = n.case_no
        WHERE n.status IN ('failed', 'undeliverable')
          AND (n.status = 'undeliverable' OR n.attempts >= $2 OR n.next_attempt_at = 'infinity')
          AND {scope_predicate("c.handling_unit", "c.jurisdiction")}
    """
    scope = _scope_param(scope_unit_ids)
    total = await conn.fetchval(f"SELECT count(*) {where}", scope, max_attempts)
    rows = await conn.fetch(
        f"""
        SELECT n.case_no, c.handling_unit, n.audience, n.channel, n.recipient_masked, n.template, n.status,
               n.attempts, n.last_error, n.requested_at
        {where}
        ORDER BY n.created_at DESC, n.id DESC LIMIT $3
        """,
        scope,
        max_attempts,
        limit,
    )
    return int(total or 0), pd.DataFrame([dict(r) for r in rows], columns=UNDELIVERED_COLUMNS)


# ------------------------------------------------------------------------------------------ daily and monthly reports

REPORT_LIST_COLUMNS = ["report_id", "kind", "jurisdiction", "published_on", "period_start", "period_end",
                       "previous_start", "previous_end", "created_at"]
REPORT_FILES: dict[str, str] = {"xlsx": "xlsx", "png": "chart_png"}  # file kind -> column of `reports`


async def report_bureaus(conn: Conn, scope_unit_ids: Sequence[str] | None) -> list[str]:
    """The bureaus whose reports the scope may read: a report covers every unit of its bureau, so it is for
    whoever sees the whole bureau (the provincial centre is in scope, or no restriction)."""
    rows = await conn.fetch(
        "SELECT jurisdiction FROM org_directories WHERE $1::text[] IS NULL OR provincial_centre = ANY($1::text[])"
        " ORDER BY jurisdiction",
        _scope_param(scope_unit_ids),
    )
    return [r["jurisdiction"] for r in rows]


async def report_list(conn: Conn, scope_unit_ids: Sequence[str] | None, limit: int = 200) -> pd.DataFrame:
    """The published daily and monthly reports the scope may read, newest first (without their files)."""
    rows = await conn.fetch(
        f"""
        SELECT {", ".join(REPORT_LIST_COLUMNS)} FROM reports
        WHERE jurisdiction = ANY($1::text[])
        ORDER BY published_on DESC, jurisdiction, kind DESC
        LIMIT $2
        """,
        await report_bureaus(conn, scope_unit_ids),
        limit,
    )
    return pd.DataFrame([dict(r) for r in rows], columns=REPORT_LIST_COLUMNS)


async def report_file(conn: Conn, report_id: str, file: str, scope_unit_ids: Sequence[str] | None) -> bytes | None:
    """A report's workbook (`xlsx`) or chart (`png`), None when it does not exist or is out of scope."""
    if file not in REPORT_FILES:
        raise ValueError(f"file: {file!r} is not one of {', '.join(REPORT_FILES)}")
    data = await conn.fetchval(
        f"SELECT {REPORT_FILES[file]} FROM reports WHERE report_id = $1 AND jurisdiction = ANY($2::text[])",
        report_id,
        await report_bureaus(conn, scope_unit_ids),
    )
    return None if data is None else bytes(data)
