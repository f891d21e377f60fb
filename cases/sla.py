"""SLA clocks: deadlines computed on a working-day calendar, the level of each clock at an instant, and the
next instant at which some level changes (the one timer the workflow arms).

Levels (docs/spec.md §2.10): `on_track`; `blue` 临期 from the start of the day on which at most 20% of the stage's
working days remain (at least 1 WD; when that window is a single day it coincides with yellow, so blue is
skipped); `yellow` 预警 from the start of the last working day; `red` 超期 once the deadline (17:00 of the
last working day) has passed: work finished at the due instant is on time. Independently, `escalated`
becomes true `escalation_wd` working days past due (17:00), when the higher bureau's supervisor is alerted 通报. Pure functions; the calendar is a parameter.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol

from cases.models import SLA_ORDER, SlaClock, SlaLevel

CST = timezone(timedelta(hours=8), "Asia/Shanghai")


class CalendarLike(Protocol):
    """What the case rules need from `calendars.WorkingCalendar`."""

    version: str

    def add_working_days(self, d: date, n: int) -> date: ...

    def deadline_at(self, received: datetime, n: int) -> datetime: ...

    def natural_deadline(self, d: date, days: int) -> date: ...

    def end_of_day(self, d: date) -> datetime: ...

    def is_provisional(self, d: date) -> bool: ...


def local_date(dt: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware datetime."""
    return dt.astimezone(CST).date()


def start_of_day(d: date) -> datetime:
    """00:00 Asia/Shanghai on `d`."""
    return datetime.combine(d, time(0), tzinfo=CST)


def end_of_natural_day(d: date) -> datetime:
    """24:00 of `d` (the first instant of the next day): where a period of natural days ends (民法典 Art. 203)."""
    return start_of_day(d + timedelta(days=1))


def blue_window(working_days: int, fraction: float) -> int:
    """How many working days before the end blue starts: at most `fraction` of the stage, at least 1."""
    return max(1, math.floor(working_days * fraction + 1e-9))


def thresholds(
    cal: CalendarLike, due_at: datetime, working_days: int, blue_fraction: float, escalation_wd: int
) -> tuple[datetime | None, datetime, datetime]:
    """(blue_at, yellow_at, escalate_at) for a clock due at `due_at` after `working_days` WD."""
    due_day = local_date(due_at)
    k = blue_window(working_days, blue_fraction)
    blue_at = start_of_day(cal.add_working_days(due_day, -(k - 1))) if k > 1 else None
    yellow_at = start_of_day(due_day)
    escalate_at = cal.end_of_day(cal.add_working_days(due_day, escalation_wd))
    return blue_at, yellow_at, escalate_at


def make_clock(
    name: str,
    cal: CalendarLike,
    started_at: datetime,
    working_days: int,
    *,
    blue_fraction: float,
    escalation_wd: int,
    unit: str | None = None,
    cycle: int = 1,
    red_after_due: bool = True,
) -> SlaClock:
    """A running clock of `working_days` WD counted from the day after `started_at`."""
    due = cal.deadline_at(started_at, working_days)
    blue_at, yellow_at, escalate_at = thresholds(cal, due, working_days, blue_fraction, escalation_wd)
    return SlaClock(
        clock=name,
        cycle=cycle,
        unit=unit,
        working_days=working_days,
        started_at=started_at,
        original_due_at=due,
        due_at=due,
        blue_at=blue_at,
        yellow_at=yellow_at,
        escalate_at=escalate_at,
        provisional=cal.is_provisional(local_date(due)),
        red_after_due=red_after_due,
    )


def retarget(
    clock: SlaClock,
    cal: CalendarLike,
    working_days: int,
    *,
    blue_fraction: float,
    escalation_wd: int,
    extended: bool | None = None,
) -> SlaClock:
    """The same clock counted to `working_days` WD from its start (extension, or a new calendar)."""
    due = cal.deadline_at(clock.started_at, working_days)
    blue_at, yellow_at, escalate_at = thresholds(cal, due, working_days, blue_fraction, escalation_wd)
    return clock.model_copy(
        update={
            "working_days": working_days,
            "due_at": due,
            "blue_at": blue_at,
            "yellow_at": yellow_at,
            "escalate_at": escalate_at,
            "extended": clock.extended if extended is None else extended,
            "provisional": cal.is_provisional(local_date(due)),
        }
    )


# the first instant after the due instant: Temporal timers and `datetime` both resolve it
AFTER = timedelta(microseconds=1)


def red_from(clock: SlaClock) -> datetime:
    """The first instant at which the clock is red 超期: just after the due instant (a stage finished at the due
    instant is on time), or the due instant itself on clocks of the earlier rule."""
    return clock.due_at + AFTER if clock.red_after_due else clock.due_at


def is_late(clock: SlaClock, at: datetime) -> bool:
    """Whether work finished (or still open) at `at` is past the deadline: the one definition of late that the
    levels, the `breached` flag and every dashboard count use."""
    return at >= red_from(clock)


def level_at(clock: SlaClock, now: datetime) -> SlaLevel:
    """The SLA level of a clock at `now` (a stopped clock keeps the level it had when it stopped)."""
    if clock.stopped_at is not None:
        return clock.level
    if is_late(clock, now):
        return "red"
    if clock.yellow_at is not None and now >= clock.yellow_at:
        return "yellow"
    if clock.blue_at is not None and now >= clock.blue_at:
        return "blue"
    return "on_track"


def next_threshold(clock: SlaClock, now: datetime) -> datetime | None:
    """The first level change (or escalation) of a running clock strictly after `now`."""
    if clock.stopped_at is not None:
        return None
    points = [clock.blue_at, clock.yellow_at, red_from(clock)]
    if not clock.escalated:
        points.append(clock.escalate_at)
    later = [p for p in points if p is not None and p > now]
    return min(later) if later else None


def worst_level(levels: list[str]) -> SlaLevel:
    """The most severe of several levels (`on_track` if none)."""
    worst: SlaLevel = "on_track"
    for lv in levels:
        if SLA_ORDER[lv] > SLA_ORDER[worst]:
            worst = lv  # type: ignore[assignment]
    return worst


def overall_level(clocks: list[SlaClock]) -> SlaLevel:
    """Worst level among running clocks."""
    return worst_level([c.level for c in clocks if c.running])


def next_due(clocks: list[SlaClock]) -> datetime | None:
    """Earliest due instant among running clocks."""
    dues = [c.due_at for c in clocks if c.running]
    return min(dues) if dues else None
