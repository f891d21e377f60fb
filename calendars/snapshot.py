"""Serialisable calendar snapshots that travel with a case through Temporal payloads.

A :class:`CalendarSnapshot` carries only what differs from the Monday-Friday rule
over one date range: off weekdays and working weekend days, plus provisional years,
service hours and a content-hash ``version``. :meth:`CalendarSnapshot.calendar`
rebuilds a :class:`~calendars.core.WorkingCalendar` with no I/O, so it is safe in
workflow code; compare ``snap.version`` with a fresh ``snapshot(...)`` (in an
activity) to detect newer calendar data.
"""

from __future__ import annotations

from datetime import date, time

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from calendars.core import DEFAULT_CLOSE_TIME, DEFAULT_SERVICE_HOURS, ServiceSeason, WorkingCalendar
from calendars.loader import get_calendar

__all__ = ["CalendarSnapshot", "SeasonHours", "snapshot"]


class SeasonHours(BaseModel):
    """Service hours over a date range (a `calendars.ServiceSeason` as data)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: date
    end: date
    windows: list[tuple[time, time]]
    name: str = ""

    def season(self) -> ServiceSeason:
        return ServiceSeason(self.start, self.end, tuple(self.windows), self.name)


class CalendarSnapshot(BaseModel):
    """The working-day data of one jurisdiction restricted to ``[start, end]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(description="requested jurisdiction code, e.g. CN-SX-0100")
    jurisdiction: str = Field(description="jurisdiction whose data applies, e.g. CN-SX")
    start: date
    end: date
    off_weekdays: list[date] = Field(
        default_factory=list, description="Mon-Fri dates that are not working days"
    )
    working_weekends: list[date] = Field(
        default_factory=list, description="Sat/Sun dates that are working days (调休)"
    )
    closures: list[date] = Field(default_factory=list, description="bureau closures (subset of the off days)")
    provisional_years: list[int] = Field(default_factory=list)
    provisional_notes: dict[int, str] = Field(default_factory=dict)
    close_time: time = DEFAULT_CLOSE_TIME
    service_hours: list[tuple[time, time]] = Field(default_factory=lambda: list(DEFAULT_SERVICE_HOURS))
    service_seasons: list[SeasonHours] = Field(
        default_factory=list, description="service hours by date range; service_hours on days outside them"
    )
    version: str = Field(description="content hash of the data in this snapshot")

    _cal: WorkingCalendar | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_version(self) -> CalendarSnapshot:
        if self.end < self.start:
            raise ValueError(f"snapshot end {self.end} is before start {self.start}")
        cal = self._build()
        if cal.version != self.version:
            raise ValueError(f"snapshot version {self.version} does not match its content ({cal.version})")
        self._cal = cal
        return self

    def _build(self) -> WorkingCalendar:
        closures = set(self.closures)
        return WorkingCalendar(
            self.code,
            self.start,
            self.end,
            off_weekdays=[d for d in self.off_weekdays if d not in closures],
            working_weekends=self.working_weekends,
            provisional_years=self.provisional_years,
            provisional_notes=self.provisional_notes,
            close_time=self.close_time,
            service_hours=self.service_hours,
            service_seasons=[s.season() for s in self.service_seasons],
            closures=closures,
            jurisdiction=self.jurisdiction,
        )

    def calendar(self) -> WorkingCalendar:
        """The calendar restricted to this snapshot's range (no I/O; cached)."""
        if self._cal is None:  # pragma: no cover - set by the validator
            self._cal = self._build()
        return self._cal

    @classmethod
    def from_calendar(
        cls, cal: WorkingCalendar, start: date | None = None, end: date | None = None
    ) -> CalendarSnapshot:
        """Snapshot of ``cal`` (optionally restricted to ``[start, end]``)."""
        sub = cal.restricted(start or cal.start, end or cal.end)
        return cls(
            code=sub.code,
            jurisdiction=sub.jurisdiction,
            start=sub.start,
            end=sub.end,
            off_weekdays=sorted(sub.off_weekdays),
            working_weekends=sorted(sub.working_weekends),
            closures=sorted(sub.closures),
            provisional_years=sorted(sub.provisional_years),
            provisional_notes=dict(sorted(sub.provisional_notes.items())),
            close_time=sub.close_time,
            service_hours=list(sub.service_hours),
            service_seasons=[
                SeasonHours(start=s.start, end=s.end, windows=list(s.windows), name=s.name) for s in sub.service_seasons
            ],
            version=sub.version,
        )


def snapshot(
    code: str,
    start: date,
    end: date,
    *,
    extra_closures: list[date] | None = None,
    extra_openings: list[date] | None = None,
    close_time: time | None = None,
) -> CalendarSnapshot:
    """Snapshot of ``get_calendar(code, extra_closures, extra_openings=..., close_time=...)`` over
    ``[start, end]`` (loads data: call from activities)."""
    cal = get_calendar(code, extra_closures, close_time=close_time, extra_openings=extra_openings)
    return CalendarSnapshot.from_calendar(cal, start, end)
