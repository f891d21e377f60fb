"""A bureau's own calendar: closures, special opening days and the end of its service day, kept in PostgreSQL.

The published national and regional data lives in `calendars/data`; what a bureau decides for itself (closed
on 2026-12-03 for a system cut-over, open on a Saturday service day, closing at 17:30 in summer) is recorded
here by an administrator, with who and why. Every case reads it through the calendar activity when it loads its
calendar (`activities.calendar_activities`). `CaseClient.reload_calendars` tells the open cases of a jurisdiction
(and every code below it) to reload their calendar now, so deadlines not yet passed move at once; a passed deadline
never moves. The same reload is what to run when new national data lands (a State Council notice).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from typing import TYPE_CHECKING

import calendars

if TYPE_CHECKING:
    import asyncpg

    from calendars import WorkingCalendar

CODE_RE = re.compile(r"^CN(-[A-Z0-9]+)*$")


class BureauCalendarError(ValueError):
    """Bad input for a bureau calendar change; the message names the field."""


@dataclass(frozen=True)
class BureauDayRow:
    jurisdiction: str
    day: date
    working: bool
    note: str
    recorded_by: str


@dataclass(frozen=True)
class ServiceHoursRow:
    jurisdiction: str
    close_time: time
    note: str
    recorded_by: str


@dataclass(frozen=True)
class BureauCalendar:
    """What the bureaus recorded that applies to one jurisdiction: per day the row of the most specific code,
    and the service close of the most specific code that set one."""

    days: list[BureauDayRow]  # sorted by day
    close: ServiceHoursRow | None

    @property
    def closures(self) -> list[date]:
        return [r.day for r in self.days if not r.working]

    @property
    def openings(self) -> list[date]:
        return [r.day for r in self.days if r.working]

    @property
    def close_time(self) -> time | None:
        return self.close.close_time if self.close else None

    def applied_to(self, code: str) -> WorkingCalendar:
        """The published calendar of `code` with these days and this service close."""
        return calendars.get_calendar(code, self.closures, close_time=self.close_time, extra_openings=self.openings)


def code_prefixes(code: str) -> list[str]:
    """The codes whose rows apply to `code`, least specific first: CN-SX-0100 -> CN, CN-SX, CN-SX-0100."""
    parts = code.strip().upper().replace("_", "-").split("-")
    return ["-".join(parts[: i + 1]) for i in range(len(parts))]


async def applicable(
    conn: asyncpg.Connection | asyncpg.Pool, code: str, start: date, end: date
) -> BureauCalendar:
    """The rows that apply to `code` within `[start, end]`: a city's row overrides its province's."""
    prefixes = code_prefixes(code)
    days = await conn.fetch(
        "SELECT DISTINCT ON (day) jurisdiction, day, working, note, recorded_by FROM bureau_calendar_days"
        " WHERE jurisdiction = ANY($1::text[]) AND day BETWEEN $2 AND $3 ORDER BY day, length(jurisdiction) DESC",
        prefixes, start, end,
    )
    close = await conn.fetchrow(
        "SELECT jurisdiction, close_time, note, recorded_by FROM bureau_service_hours"
        " WHERE jurisdiction = ANY($1::text[]) ORDER BY length(jurisdiction) DESC LIMIT 1",
        prefixes,
    )
    return BureauCalendar([BureauDayRow(**dict(r)) for r in days], ServiceHoursRow(**dict(close)) if close else None)


def normalise_code(jurisdiction: str) -> str:
    """`jurisdiction` upper-cased and checked against the calendar's known jurisdictions."""
    code = jurisdiction.strip().upper().replace("_", "-")
    if not CODE_RE.match(code):
        raise BureauCalendarError(f"jurisdiction: {jurisdiction!r} is not an ISO 3166-2:CN code such as CN-SX-0100")
    try:
        calendars.resolve_code(code)
    except calendars.UnknownJurisdictionError as exc:
        raise BureauCalendarError(f"jurisdiction: {exc}") from None
    return code


def _require(value: str, name: str) -> str:
    if not value or not value.strip():
        raise BureauCalendarError(f"{name}: must not be empty (say why / who)")
    return value.strip()


def parse_close_time(value: str) -> time:
    """`HH:MM` (or `HH:MM:SS`) as a time of day in Asia/Shanghai, within the range a service day can close."""
    try:
        close = time.fromisoformat(value.strip())
    except ValueError:
        raise BureauCalendarError(f"close_time: {value!r} is not a time of day like 17:30") from None
    return _checked_close(close)


def _checked_close(close: time) -> time:
    problem = calendars.close_time_problem(close)
    if problem:
        raise BureauCalendarError(f"close_time: {problem}; a service day cannot end then")
    return close


async def record_day(
    conn: asyncpg.Connection | asyncpg.Pool, jurisdiction: str, day: date, *, working: bool, note: str,
    recorded_by: str,
) -> BureauDayRow:
    """Record that the bureau of `jurisdiction` is closed (`working=False`) or open (`working=True`) on `day`;
    a second call for the same day replaces the first."""
    code = normalise_code(jurisdiction)
    note, recorded_by = _require(note, "note"), _require(recorded_by, "recorded_by")
    cal = calendars.get_calendar(code)
    if not cal.start <= day <= cal.end:
        raise BureauCalendarError(f"day: {day} is outside the calendar data ({cal.start}..{cal.end})")
    await conn.execute(
        "INSERT INTO bureau_calendar_days (jurisdiction, day, working, note, recorded_by) VALUES ($1,$2,$3,$4,$5)"
        " ON CONFLICT (jurisdiction, day) DO UPDATE SET working = EXCLUDED.working, note = EXCLUDED.note,"
        " recorded_by = EXCLUDED.recorded_by, recorded_at = now()",
        code, day, working, note, recorded_by,
    )
    return BureauDayRow(code, day, working, note, recorded_by)


async def clear_day(conn: asyncpg.Connection | asyncpg.Pool, jurisdiction: str, day: date) -> bool:
    """Remove the bureau's own entry for `day` (the published calendar applies again); True if there was one."""
    status = await conn.execute(
        "DELETE FROM bureau_calendar_days WHERE jurisdiction = $1 AND day = $2", normalise_code(jurisdiction), day
    )
    return status.endswith(" 1")


async def set_close_time(
    conn: asyncpg.Connection | asyncpg.Pool, jurisdiction: str, close_time: time | None, *, note: str = "",
    recorded_by: str = "",
) -> ServiceHoursRow | None:
    """Set the end of the service day of `jurisdiction` on every day, in place of the published hours (None: back
    to the published hours: the season's close, else 17:00)."""
    code = normalise_code(jurisdiction)
    if close_time is None:
        await conn.execute("DELETE FROM bureau_service_hours WHERE jurisdiction = $1", code)
        return None
    close_time = _checked_close(close_time.replace(microsecond=0, tzinfo=None))
    note, recorded_by = _require(note, "note"), _require(recorded_by, "recorded_by")
    await conn.execute(
        "INSERT INTO bureau_service_hours (jurisdiction, close_time, note, recorded_by) VALUES ($1,$2,$3,$4)"
        " ON CONFLICT (jurisdiction) DO UPDATE SET close_time = EXCLUDED.close_time, note = EXCLUDED.note,"
        " recorded_by = EXCLUDED.recorded_by, recorded_at = now()",
        code, close_time, note, recorded_by,
    )
    return ServiceHoursRow(code, close_time, note, recorded_by)


async def list_rows(
    conn: asyncpg.Connection | asyncpg.Pool, jurisdiction: str
) -> tuple[list[BureauDayRow], list[ServiceHoursRow]]:
    """The rows recorded for `jurisdiction` and every code below it."""
    code = normalise_code(jurisdiction)
    days = await conn.fetch(
        "SELECT jurisdiction, day, working, note, recorded_by FROM bureau_calendar_days"
        " WHERE jurisdiction = $1 OR jurisdiction LIKE $2 ORDER BY day, jurisdiction", code, f"{code}-%",
    )
    hours = await conn.fetch(
        "SELECT jurisdiction, close_time, note, recorded_by FROM bureau_service_hours"
        " WHERE jurisdiction = $1 OR jurisdiction LIKE $2 ORDER BY jurisdiction", code, f"{code}-%",
    )
    return [BureauDayRow(**dict(r)) for r in days], [ServiceHoursRow(**dict(r)) for r in hours]
