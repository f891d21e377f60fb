"""The monitor's tables as downloadable reports: which columns, which Chinese headers, codes as Chinese labels.

One definition per table, used by the monitor's download buttons and by `complaints report`, both reading the
figures from `dashboard.queries` (the same SQL the pages show). The exports hold every row in scope, not the
first page of them. Shaping is pure (`*_table` functions); `load_*` run the queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from common.exports import render
from dashboard import queries as q
from dashboard.i18n import (
    CATEGORY_LABELS,
    CHANNEL_LABELS,
    CLOSE_REASON_LABELS,
    EXTENSION_LABELS,
    KIND_LABELS,
    LEVEL_LABELS,
    SATISFACTION_LABELS,
    STAGE_LABELS,
    t,
    vocab,
)

REPORTS: tuple[str, ...] = ("sla-board", "units", "stages", "cases")


def zh(key: str) -> str:
    """The Chinese label of an i18n key."""
    return t(key, "zh")


TITLES: dict[str, str] = {
    "sla-board": zh("board"),
    "units": zh("league"),
    "stages": "各环节用时",
    "cases": zh("cases"),
}


def file_name(report: str, fmt: str, as_of: datetime) -> str:
    """E.g. `时限督办_20260318_1000.xlsx`."""
    return f"{TITLES[report]}_{as_of:%Y%m%d_%H%M}.{fmt}"


def _labels(values: pd.Series, table: dict[str, tuple[str, str]]) -> list[str]:
    return [vocab(table, v if isinstance(v, str) else None, "zh") for v in values]


def _yes_no(values: pd.Series) -> list[str]:
    return [zh("yes") if bool(v) else zh("no") for v in values]


@dataclass(frozen=True)
class Report:
    """An export-ready table: translated values, one Chinese header per column."""

    name: str  # one of REPORTS
    frame: pd.DataFrame
    headers: dict[str, str]

    def render(self, fmt: str) -> bytes:
        return render(self.frame, self.headers, fmt, sheet=TITLES[self.name])


BOARD_HEADERS: dict[str, str] = {
    "case_no": zh("case_no"),
    "sla_level": zh("level"),
    "wd_left": zh("wd_left"),
    "days_overdue": zh("days_overdue"),
    "due_at": zh("due_at"),
    "due_clock": zh("due_clock"),
    "stage": zh("stage"),
    "handling_unit": zh("unit_code"),
    "unit_name": zh("unit"),
    "kind": zh("kind"),
    "channel": zh("channel"),
    "extension_status": zh("extension"),
    "provisional": zh("provisional_due"),
    "jurisdiction": zh("jurisdiction"),
}


def board_report(board: pd.DataFrame) -> Report:
    """`queries.sla_board` rows; an unassigned case names the provincial centre's queue as its unit."""
    unassigned = zh("unassigned")
    frame = board[list(BOARD_HEADERS)].assign(
        sla_level=_labels(board["sla_level"], LEVEL_LABELS),
        stage=_labels(board["stage"], STAGE_LABELS),
        due_clock=_labels(board["due_clock"], STAGE_LABELS),
        unit_name=[n if isinstance(n, str) and n else (unassigned if not isinstance(u, str) or not u else u)
                   for n, u in zip(board["unit_name"], board["handling_unit"], strict=True)],
        kind=_labels(board["kind"], KIND_LABELS),
        channel=_labels(board["channel"], CHANNEL_LABELS),
        extension_status=_labels(board["extension_status"], EXTENSION_LABELS),
        provisional=_yes_no(board["provisional"]),
    )
    return Report("sla-board", frame, BOARD_HEADERS)


LEAGUE_HEADERS: dict[str, str] = {
    "unit_id": zh("unit_id"),
    "unit_name": zh("unit"),
    "open": zh("open_cases"),
    "overdue": zh("overdue"),
    "on_time_pct": zh("on_time_pct"),
    "completed": zh("completed"),
    "completed_on_time": zh("completed_on_time"),
    "returns": zh("returns"),
    "extensions": zh("extensions"),
    "extensions_pending": zh("extensions_pending"),
}


def league_report(league: pd.DataFrame) -> Report:
    """`queries.unit_league` rows, as they are (every figure is a count or a rate)."""
    return Report("units", league[list(LEAGUE_HEADERS)], LEAGUE_HEADERS)


DURATION_HEADERS: dict[str, str] = {
    "unit_id": zh("unit_id"),
    "unit_name": zh("unit"),
    "clock": zh("stage"),
    "n": zh("clock_count"),
    "median_wd": zh("median_wd"),
    "p90_wd": zh("p90_wd"),
}


def durations_report(durations: pd.DataFrame) -> Report:
    """`queries.stage_durations` rows with the clock named as its stage; working days to one decimal, as the
    page shows them (a percentile is interpolated in binary floating point)."""
    frame = durations[list(DURATION_HEADERS)].assign(
        clock=_labels(durations["clock"], STAGE_LABELS),
        median_wd=durations["median_wd"].astype(float).round(1),
        p90_wd=durations["p90_wd"].astype(float).round(1),
    )
    return Report("stages", frame, DURATION_HEADERS)


CASE_LIST_HEADERS: dict[str, str] = {
    "case_no": zh("case_no"),
    "kind": zh("kind"),
    "channel": zh("channel"),
    "category": zh("category"),
    "jurisdiction": zh("jurisdiction"),
    "handling_unit": zh("unit_code"),
    "unit_name": zh("unit"),
    "stage": zh("stage"),
    "open": zh("status"),
    "sla_level": zh("level"),
    "due_at": zh("due_at"),
    "extension_status": zh("extension"),
    "returns": zh("returns"),
    "satisfaction": zh("return_visit_outcome"),
    "close_reason": zh("close_reason"),
    "registered_at": zh("registered_at"),
    "accepted_at": zh("accepted_at"),
    "closed_at": zh("closed_at"),
}


def case_list_report(cases: pd.DataFrame) -> Report:
    """`queries.case_list` rows (masked columns only)."""
    frame = cases[list(CASE_LIST_HEADERS)].assign(
        kind=_labels(cases["kind"], KIND_LABELS),
        channel=_labels(cases["channel"], CHANNEL_LABELS),
        category=_labels(cases["category"], CATEGORY_LABELS),
        stage=_labels(cases["stage"], STAGE_LABELS),
        open=[zh("status_open") if bool(v) else zh("status_closed") for v in cases["open"]],
        sla_level=_labels(cases["sla_level"], LEVEL_LABELS),
        extension_status=_labels(cases["extension_status"], EXTENSION_LABELS),
        satisfaction=_labels(cases["satisfaction"], SATISFACTION_LABELS),
        close_reason=_labels(cases["close_reason"], CLOSE_REASON_LABELS),
    )
    return Report("cases", frame, CASE_LIST_HEADERS)


# ------------------------------------------------------------------------------------------ loading


async def load_board(
    conn: q.Conn, scope_unit_ids: Sequence[str] | None, filters: q.BoardFilters, now: datetime
) -> Report:
    """Every row of the SLA board in scope (no page limit)."""
    return board_report(await q.sla_board(conn, scope_unit_ids, filters, now, limit=None))


async def load_league(conn: q.Conn, period: q.Period, scope_unit_ids: Sequence[str] | None) -> Report:
    return league_report(await q.unit_league(conn, period, scope_unit_ids))


async def load_durations(conn: q.Conn, period: q.Period, scope_unit_ids: Sequence[str] | None) -> Report:
    return durations_report(await q.stage_durations(conn, period, scope_unit_ids))


async def load_case_list(conn: q.Conn, scope_unit_ids: Sequence[str] | None, filters: q.CaseListFilters) -> Report:
    """Every case of the list in scope (no page limit)."""
    return case_list_report(await q.case_list(conn, scope_unit_ids, filters, limit=None))
