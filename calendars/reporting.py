"""Which reports a bureau publishes on a day, and which days each covers (日报 / 月报).

A bureau publishes on its working days only. The daily report of working day ``D`` covers every natural day
from the previous working day up to the day before ``D``: Monday's covers Friday, Saturday and Sunday, the first
working day after a holiday covers the holiday, so each day is in exactly one daily report. Its comparison
period is the previous daily report's. On the first working day of a month the monthly report of the month
before is published too, beside the month before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from calendars.core import WorkingCalendar

DAILY = "daily"
MONTHLY = "monthly"
REPORT_KINDS: tuple[str, ...] = (DAILY, MONTHLY)


@dataclass(frozen=True)
class ReportPeriod:
    """One report: its kind, the natural days it covers and the days it is compared with (both inclusive)."""

    kind: str
    start: date
    end: date
    previous_start: date
    previous_end: date


def _month_before(first_of_month: date) -> tuple[date, date]:
    end = first_of_month - timedelta(days=1)
    return end.replace(day=1), end


def report_periods(cal: WorkingCalendar, day: date) -> list[ReportPeriod]:
    """The reports due on ``day`` (none when it is not a working day). ``cal`` must cover the working days
    before ``day`` back to the second-to-last one (a few weeks is plenty, even across the Spring Festival)."""
    if not cal.is_working_day(day):
        return []
    since = cal.previous_working_day(day)
    before = cal.previous_working_day(since)
    out = [ReportPeriod(DAILY, since, day - timedelta(days=1), before, since - timedelta(days=1))]
    if since.month != day.month or since.year != day.year:
        start, end = _month_before(day.replace(day=1))
        previous_start, previous_end = _month_before(start)
        out.append(ReportPeriod(MONTHLY, start, end, previous_start, previous_end))
    return out


def report_id(jurisdiction: str, day: date, kind: str) -> str:
    """The one id of a bureau's report of a kind published on a day: a second run of that day writes nothing."""
    if kind not in REPORT_KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(REPORT_KINDS)}")
    return f"{kind}-{jurisdiction}-{day.isoformat()}"
