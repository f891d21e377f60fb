"""Working-day calendars for Chinese medical-insurance complaint deadlines (docs/spec.md §3).

Public API::

    from calendars import get_calendar, snapshot
    cal = get_calendar("CN-XJ")
    cal.add_working_days(date(2026, 9, 28), 15)

Importing this package reads no files and not the clock (Temporal-sandbox safe);
data is loaded lazily by :func:`get_calendar` / :func:`snapshot`.
"""

from calendars.core import (
    DEFAULT_CLOSE_TIME,
    DEFAULT_SERVICE_HOURS,
    SERVICE_CLOSE_RANGE,
    CalendarRangeError,
    ServiceHoursError,
    ServiceSeason,
    WorkingCalendar,
    close_time_problem,
    shanghai_tz,
)
from calendars.loader import (
    CalendarDataError,
    UnknownJurisdictionError,
    get_calendar,
    jurisdiction_chain,
    known_jurisdictions,
    reload,
    resolve_code,
)
from calendars.snapshot import CalendarSnapshot, snapshot

__all__ = [
    "DEFAULT_CLOSE_TIME",
    "DEFAULT_SERVICE_HOURS",
    "CalendarDataError",
    "CalendarRangeError",
    "CalendarSnapshot",
    "SERVICE_CLOSE_RANGE",
    "ServiceHoursError",
    "ServiceSeason",
    "UnknownJurisdictionError",
    "WorkingCalendar",
    "close_time_problem",
    "get_calendar",
    "jurisdiction_chain",
    "known_jurisdictions",
    "reload",
    "resolve_code",
    "shanghai_tz",
    "snapshot",
]
