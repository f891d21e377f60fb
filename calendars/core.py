"""Working-day arithmetic over a precomputed, sorted array of working-day ordinals.

Pure computation: this module does no I/O and never reads the clock, so a
:class:`WorkingCalendar` can be built and used inside Temporal's workflow sandbox.

Definitions (docs/spec.md §3.2, 民法典 Art. 201/203, hotline practice 次日起算):

* A *working day* is Monday-Friday unless the day is a holiday / closure, plus any
  weekend day that the State Council (or a regional notice) declares a makeup
  working day (调休上班).
* ``add_working_days(d, n)`` for ``n > 0`` is the n-th working day strictly **after**
  ``d`` — ``d`` itself never counts, whatever kind of day it is.
* ``working_days_between(a, b)`` is the number of working days in ``(a, b]``.

Every lookup is a :func:`bisect.bisect` over the ordinal array: O(log n) per call.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache

__all__ = [
    "CalendarRangeError",
    "ServiceHoursError",
    "ServiceSeason",
    "WorkingCalendar",
    "DEFAULT_CLOSE_TIME",
    "DEFAULT_SERVICE_HOURS",
    "SERVICE_CLOSE_RANGE",
    "close_time_problem",
    "shanghai_tz",
]

DEFAULT_CLOSE_TIME = time(17, 0)
DEFAULT_SERVICE_HOURS: tuple[tuple[time, time], ...] = ((time(9, 0), time(12, 0)), (time(13, 0), time(17, 0)))
# A deadline falls at the close of the service day. A close before noon or after 22:00 (Beijing time) is a
# typing slip (03:00 for 15:00), not a bureau's hours: even Xinjiang's summer day, the latest, closes at 20:00.
SERVICE_CLOSE_RANGE: tuple[time, time] = (time(12, 0), time(22, 0))

_FIXED_CST = timezone(timedelta(hours=8), "Asia/Shanghai")


@lru_cache(maxsize=1)
def shanghai_tz() -> tzinfo:
    """Return the Asia/Shanghai zone (``zoneinfo``), or a fixed UTC+8 fallback.

    China has had no DST since 1991, so the fallback is exact for every date this
    package supports; it is used when tz data is unavailable (or blocked, e.g. in a
    sandbox).
    """
    try:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo("Asia/Shanghai")
        # inside Temporal's sandbox ZoneInfo is a restricted proxy that datetime rejects
        if datetime(2020, 1, 1, tzinfo=tz).utcoffset() != timedelta(hours=8):
            return _FIXED_CST
        return tz
    except Exception:  # noqa: BLE001 - any failure: use the exact fixed offset
        return _FIXED_CST


class CalendarRangeError(ValueError):
    """A date (or a result) lies outside the range of loaded calendar data."""

    def __init__(self, what: date, start: date, end: date, detail: str = "") -> None:
        self.date = what
        self.start = start
        self.end = end
        msg = f"date {what.isoformat()} is outside the calendar data range {start.isoformat()}..{end.isoformat()}"
        if detail:
            msg = f"{msg} ({detail})"
        super().__init__(msg)


class ServiceHoursError(ValueError):
    """Service hours that cannot be a bureau's day (empty or overlapping windows, a close out of range)."""


def close_time_problem(close: time) -> str | None:
    """Why `close` cannot end a service day (None: it can)."""
    earliest, latest = SERVICE_CLOSE_RANGE
    if not earliest <= close.replace(tzinfo=None) <= latest:
        return (
            f"{close.isoformat('minutes')} is not between {earliest.isoformat('minutes')} and "
            f"{latest.isoformat('minutes')} (Beijing time)"
        )
    return None


def _check_windows(windows: tuple[tuple[time, time], ...], what: str) -> None:
    if not windows:
        raise ServiceHoursError(f"{what}: no service window")
    for a, b in windows:
        if not a < b:
            raise ServiceHoursError(f"{what}: service window {a.isoformat('minutes')}-{b.isoformat('minutes')} is empty")
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        if start < end:
            raise ServiceHoursError(f"{what}: service windows overlap or are out of order at {start.isoformat('minutes')}")
    problem = close_time_problem(windows[-1][1])
    if problem:
        raise ServiceHoursError(f"{what}: close time {problem}")


@dataclass(frozen=True)
class ServiceSeason:
    """Staffed hours over a date range (Xinjiang's summer and winter hours, from the regional notice): on every
    day of ``[start, end]`` the bureau works these windows and the service day closes at the last one's end."""

    start: date
    end: date
    windows: tuple[tuple[time, time], ...]
    name: str = ""

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ServiceHoursError(f"service season {self.name or ''} ends {self.end} before it starts {self.start}")
        _check_windows(self.windows, f"service season {self.name} {self.start}..{self.end}".replace("  ", " "))

    @property
    def close_time(self) -> time:
        return self.windows[-1][1]


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be a timezone-aware datetime (got naive {value.isoformat()})")


class WorkingCalendar:
    """Working days of one jurisdiction over a closed date range ``[start, end]``.

    Build it with :func:`calendars.get_calendar` (loads data lazily) or from a
    :class:`calendars.CalendarSnapshot` (no I/O). Instances are immutable; methods
    such as :meth:`with_closures` return new calendars.
    """

    __slots__ = (
        "code",
        "jurisdiction",
        "start",
        "end",
        "close_time",
        "service_hours",
        "service_seasons",
        "_season_starts",
        "provisional_years",
        "provisional_notes",
        "_off",
        "_work",
        "_names",
        "_closures",
        "_wd",
        "_start_ord",
        "_end_ord",
        "_version",
    )

    def __init__(
        self,
        code: str,
        start: date,
        end: date,
        *,
        off_weekdays: Iterable[date] = (),
        working_weekends: Iterable[date] = (),
        provisional_years: Iterable[int] = (),
        provisional_notes: Mapping[int, str] | None = None,
        close_time: time = DEFAULT_CLOSE_TIME,
        service_hours: Iterable[tuple[time, time]] = DEFAULT_SERVICE_HOURS,
        service_seasons: Iterable[ServiceSeason] = (),
        names: Mapping[date, str] | None = None,
        closures: Iterable[date] = (),
        jurisdiction: str | None = None,
    ) -> None:
        if end < start:
            raise ValueError(f"calendar range end {end} is before start {start}")
        self.code = code
        self.jurisdiction = jurisdiction or code
        self.start = start
        self.end = end
        problem = close_time_problem(close_time)
        if problem:
            raise ServiceHoursError(f"close_time: {problem}")
        self.close_time = close_time
        self.service_hours = tuple((a, b) for a, b in service_hours)
        for a, b in self.service_hours:
            if not a < b:
                raise ServiceHoursError(f"service window {a}-{b} is empty")
        seasons = sorted((s for s in service_seasons if s.end >= start and s.start <= end), key=lambda s: s.start)
        for before, after in zip(seasons, seasons[1:], strict=False):
            if after.start <= before.end:
                raise ServiceHoursError(
                    f"service seasons {before.name} {before.start}..{before.end} and {after.name} "
                    f"{after.start}..{after.end} overlap"
                )
        # clipped to the range, so a restricted calendar's version depends only on what it covers
        self.service_seasons = tuple(
            replace(s, start=max(s.start, start), end=min(s.end, end)) for s in seasons
        )
        self._season_starts = [s.start for s in self.service_seasons]
        off = {d for d in off_weekdays if start <= d <= end}
        work = {d for d in working_weekends if start <= d <= end}
        for d in off:
            if d.weekday() >= 5:
                raise ValueError(f"off_weekdays contains weekend day {d}")
        for d in work:
            if d.weekday() < 5:
                raise ValueError(f"working_weekends contains weekday {d}")
        closure_set = set()
        for d in closures:
            if not start <= d <= end:
                raise CalendarRangeError(d, start, end, "closure")
            closure_set.add(d)
            if d.weekday() < 5:
                off.add(d)
            else:
                work.discard(d)
        self._off = frozenset(off)
        self._work = frozenset(work)
        self._closures = frozenset(closure_set)
        self._names = dict(names or {})
        self.provisional_years = frozenset(y for y in provisional_years if start.year <= y <= end.year)
        self.provisional_notes = {
            y: n for y, n in (provisional_notes or {}).items() if y in self.provisional_years
        }
        self._start_ord = start.toordinal()
        self._end_ord = end.toordinal()
        wd: list[int] = []
        o = self._start_ord
        d = start
        one = timedelta(days=1)
        while o <= self._end_ord:
            if (d.weekday() < 5 and d not in self._off) or d in self._work:
                wd.append(o)
            o += 1
            d += one
        self._wd = wd
        self._version: str | None = None

    # ------------------------------------------------------------------ basics
    def __repr__(self) -> str:
        prov = f", provisional={sorted(self.provisional_years)}" if self.provisional_years else ""
        return f"WorkingCalendar({self.code!r}, {self.start}..{self.end}{prov})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkingCalendar):
            return NotImplemented
        return (self.code, self.jurisdiction, self.start, self.end, self.version) == (
            other.code,
            other.jurisdiction,
            other.start,
            other.end,
            other.version,
        )

    def __hash__(self) -> int:
        return hash((self.code, self.start, self.end, self.version))

    def _check(self, d: date, what: str = "date") -> int:
        if isinstance(d, datetime):
            raise TypeError(f"{what} must be a date, not a datetime ({d!r})")
        o = d.toordinal()
        if o < self._start_ord or o > self._end_ord:
            raise CalendarRangeError(d, self.start, self.end, what)
        return o

    @property
    def off_weekdays(self) -> frozenset[date]:
        """Monday-Friday dates that are not working days (holidays, closures)."""
        return self._off

    @property
    def working_weekends(self) -> frozenset[date]:
        """Saturday/Sunday dates that are working days (调休 makeup days)."""
        return self._work

    @property
    def closures(self) -> frozenset[date]:
        """Bureau-specific closures added with :meth:`with_closures`."""
        return self._closures

    @property
    def version(self) -> str:
        """Content hash of everything that affects results (16 hex chars)."""
        if self._version is None:
            payload = {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "off": sorted(d.isoformat() for d in self._off),
                "work": sorted(d.isoformat() for d in self._work),
                "provisional": sorted(self.provisional_years),
                "close": self.close_time.isoformat(),
                "service": [[a.isoformat(), b.isoformat()] for a, b in self.service_hours],
            }
            if self.service_seasons:
                # only when present: calendars without seasons keep the versions their cases recorded
                payload["seasons"] = [
                    [s.start.isoformat(), s.end.isoformat(), [[a.isoformat(), b.isoformat()] for a, b in s.windows]]
                    for s in self.service_seasons
                ]
            blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
            self._version = hashlib.sha256(blob).hexdigest()[:16]
        return self._version

    # ------------------------------------------------------------- day queries
    def is_working_day(self, d: date) -> bool:
        """True if ``d`` is a working day (makeup weekend days included)."""
        o = self._check(d)
        i = bisect_left(self._wd, o)
        return i < len(self._wd) and self._wd[i] == o

    def is_provisional(self, d: date) -> bool:
        """True if ``d`` falls in a year whose data is provisional for this jurisdiction."""
        self._check(d)
        return d.year in self.provisional_years

    def is_provisional_span(self, a: date, b: date) -> bool:
        """True if any year touched by the span between ``a`` and ``b`` is provisional."""
        lo, hi = (a, b) if a <= b else (b, a)
        self._check(lo)
        self._check(hi)
        return any(lo.year <= y <= hi.year for y in self.provisional_years)

    def holiday_name(self, d: date) -> str | None:
        """Name of the holiday, makeup day or closure on ``d`` (None for ordinary days)."""
        self._check(d)
        if d in self._closures:
            return self._names.get(d, "本单位闭馆 / bureau closure")
        return self._names.get(d)

    def day_kind(self, d: date) -> str:
        """One of ``workday``, ``weekend``, ``holiday``, ``makeup`` (weekend working day), ``closure``."""
        self._check(d)
        if d in self._closures:
            return "closure"
        if d in self._work:
            return "makeup"
        if d in self._off:
            return "holiday"
        if d.weekday() >= 5:
            return "holiday" if d in self._names else "weekend"
        return "workday"

    # -------------------------------------------------------------- arithmetic
    def add_working_days(self, d: date, n: int) -> date:
        """The n-th working day after ``d``.

        * ``n > 0``: the n-th working day strictly after ``d`` (``d`` never counts,
          even if it is a working day — 次日起算).
        * ``n == 0``: ``d`` unchanged (whatever kind of day it is).
        * ``n < 0``: the ``|n|``-th working day strictly before ``d``.

        ``working_days_between(d, add_working_days(d, n)) == n`` holds for every
        ``n >= 0``, and for ``n < 0`` when ``d`` is a working day.
        Raises :class:`CalendarRangeError` if ``d`` or the result is outside the data.
        """
        o = self._check(d)
        if n == 0:
            return d
        if n > 0:
            idx = bisect_right(self._wd, o) + n - 1
        else:
            idx = bisect_left(self._wd, o) + n
        if idx < 0 or idx >= len(self._wd):
            direction = "after" if n > 0 else "before"
            raise CalendarRangeError(
                d,
                self.start,
                self.end,
                f"the {abs(n)}th working day {direction} it is beyond the loaded data",
            )
        return date.fromordinal(self._wd[idx])

    def working_days_between(self, a: date, b: date) -> int:
        """Number of working days in ``(a, b]``; negative ``-(working days in (b, a])`` if ``b < a``."""
        oa = self._check(a, "a")
        ob = self._check(b, "b")
        return bisect_right(self._wd, ob) - bisect_right(self._wd, oa)

    def next_working_day(self, d: date) -> date:
        """First working day strictly after ``d``."""
        return self.add_working_days(d, 1)

    def previous_working_day(self, d: date) -> date:
        """Last working day strictly before ``d``."""
        return self.add_working_days(d, -1)

    def natural_deadline(self, d: date, days: int) -> date:
        """``d + days`` natural days, rolled forward to the next working day if it is not one."""
        self._check(d)
        t = d + timedelta(days=days)
        if self.is_working_day(t):
            return t
        return self.next_working_day(t)

    # ------------------------------------------------------------ datetimes
    def season_on(self, d: date) -> ServiceSeason | None:
        """The service season covering ``d``, if the data has one (else the default hours apply)."""
        i = bisect_right(self._season_starts, d) - 1
        if i >= 0 and self.service_seasons[i].end >= d:
            return self.service_seasons[i]
        return None

    def service_hours_on(self, d: date) -> tuple[tuple[time, time], ...]:
        """The staffed windows of ``d``: its season's, else ``service_hours``."""
        season = self.season_on(d)
        return season.windows if season else self.service_hours

    def close_time_on(self, d: date) -> time:
        """When the service day ``d`` ends: its season's close, else ``close_time``."""
        season = self.season_on(d)
        return season.close_time if season else self.close_time

    def end_of_day(self, d: date) -> datetime:
        """The service close on ``d`` in Asia/Shanghai (the season's close, else ``close_time``, 17:00 by default)."""
        self._check(d)
        return datetime.combine(d, self.close_time_on(d), tzinfo=shanghai_tz())

    def local_date(self, dt: datetime, name: str = "dt") -> date:
        """Calendar date of the aware datetime ``dt`` in Asia/Shanghai."""
        _require_aware(dt, name)
        return dt.astimezone(shanghai_tz()).date()

    def deadline_at(self, received: datetime, n: int) -> datetime:
        """End of an n-working-day period received at ``received`` (aware datetime).

        Counting starts on the first working day after the local (Asia/Shanghai)
        date of receipt, whatever the time of receipt; the period ends at the
        service close of its n-th working day. ``n == 0`` gives the close of the
        day of receipt.
        """
        day = self.local_date(received, "received")
        return self.end_of_day(self.add_working_days(day, n))

    def is_service_time(self, dt: datetime) -> bool:
        """True during staffed service hours (the day's season, else 9:00-12:00, 13:00-17:00) on a working day."""
        _require_aware(dt, "dt")
        local = dt.astimezone(shanghai_tz())
        if not self.is_working_day(local.date()):
            return False
        t = local.time().replace(tzinfo=None)
        return any(a <= t < b for a, b in self.service_hours_on(local.date()))

    def working_days_left(self, now: datetime, due: datetime) -> int:
        """Working days from ``now`` until the ``due`` moment (both aware).

        * Not yet due (``now <= due``): the number of working days strictly after
          today up to and including the due date, i.e. ``working_days_between(today,
          due_date)``. ``0`` means the due moment falls today (the last working day);
          a Saturday before a Monday deadline gives ``1``.
        * Overdue (``now > due``): negative, ``-max(1, working_days_between(due_date,
          today))``: ``-1`` from the moment the deadline passes through the end of the
          first working day after the due day, ``-2`` on the second, and so on.
        """
        _require_aware(now, "now")
        _require_aware(due, "due")
        nd = self.local_date(now, "now")
        dd = self.local_date(due, "due")
        if now <= due:
            return self.working_days_between(nd, dd)
        return -max(1, self.working_days_between(dd, nd))

    def working_days_overdue(self, now: datetime, due: datetime) -> int:
        """Working days overdue (``0`` if ``now <= due``); ``-working_days_left`` otherwise."""
        return max(0, -self.working_days_left(now, due))

    # ------------------------------------------------------------ derivation
    def _derive(self, **changes: object) -> WorkingCalendar:
        kw: dict[str, object] = {
            "off_weekdays": self._off,
            "working_weekends": self._work,
            "provisional_years": self.provisional_years,
            "provisional_notes": self.provisional_notes,
            "close_time": self.close_time,
            "service_hours": self.service_hours,
            "service_seasons": self.service_seasons,
            "names": self._names,
            "closures": self._closures,
            "jurisdiction": self.jurisdiction,
        }
        start = changes.pop("start", self.start)
        end = changes.pop("end", self.end)
        kw.update(changes)
        kw["closures"] = {d for d in kw["closures"] if start <= d <= end}  # type: ignore[attr-defined]
        return WorkingCalendar(self.code, start, end, **kw)  # type: ignore[arg-type]

    def with_closures(self, closures: Iterable[date], name: str | None = None) -> WorkingCalendar:
        """A new calendar with extra bureau closures (days off) on top of this one."""
        extra = set(closures)
        return self._derive(closures=self._closures | extra, names=self._named(extra, name, "closure"))

    def _named(self, days: set[date], name: str | None, what: str) -> dict[date, str]:
        """This calendar's day names with `days` (checked to lie in range) named `name`."""
        for d in days:
            self._check(d, what)
        names = dict(self._names)
        if name:
            names.update(dict.fromkeys(days, name))
        return names

    def with_close_time(
        self, close_time: time, service_hours: Iterable[tuple[time, time]] | None = None
    ) -> WorkingCalendar:
        """A new calendar whose end-of-day (and optionally service windows) differ on every day: a bureau's own
        close replaces the published seasons."""
        changes: dict[str, object] = {"close_time": close_time, "service_seasons": ()}
        if service_hours is not None:
            changes["service_hours"] = tuple(service_hours)
        return self._derive(**changes)

    def with_openings(self, openings: Iterable[date], name: str | None = None) -> WorkingCalendar:
        """A new calendar where a bureau opens on days that are otherwise off (a weekend service day, a
        holiday duty day): each becomes a working day (and stops being one of this calendar's closures)."""
        days = set(openings)
        names = self._named(days, name, "opening")
        return self._derive(
            off_weekdays=self._off - days,
            working_weekends=self._work | {d for d in days if d.weekday() >= 5},
            closures=self._closures - days,
            names=names,
        )

    def restricted(self, start: date, end: date) -> WorkingCalendar:
        """This calendar limited to ``[start, end]`` (must lie inside the current range)."""
        self._check(start, "start")
        self._check(end, "end")
        return self._derive(start=start, end=end)
