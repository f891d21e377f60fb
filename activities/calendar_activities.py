"""The calendar activity: a jurisdiction's working-day data, with its bureau's own days, as a value the
workflow can hold.

Workflow code never reads calendar files, the database or the clock; it asks this activity for a
`CalendarSnapshot` over a date range and computes deadlines from it. The snapshot is the published data of the
`calendars` package (national, regional overlays) plus what the bureaus recorded in PostgreSQL
(`bureau_calendar_days`: closures and special opening days; `bureau_service_hours`: the end of the service
day; read by `activities.bureau_calendar.applicable`), the most specific jurisdiction code winning. An `end` beyond the published data is clipped to the data's
last day (the snapshot's `end` says where it stops; ask again when new data lands). A `start` outside the
data, an unknown jurisdiction or an inverted range is a non-retryable error; a database that cannot be reached
is retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

import calendars
from activities.bureau_calendar import applicable
from activities.contracts import CalendarSnapshotRequest

if TYPE_CHECKING:
    import asyncpg


class CalendarActivities:
    """The calendar activity, bound to the worker's asyncpg pool (bureau rows)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="load_calendar_snapshot")
    async def load_calendar_snapshot(self, req: CalendarSnapshotRequest) -> calendars.CalendarSnapshot:
        """`calendars.snapshot(req.jurisdiction, req.start, end)` with the bureau's own days and service close,
        `end` clipped to the published data range."""
        if req.end < req.start:
            raise ApplicationError(
                f"calendar snapshot: end {req.end} is before start {req.start}",
                type="BadCalendarRequest",
                non_retryable=True,
            )
        try:
            end = min(req.end, calendars.get_calendar(req.jurisdiction).end)
            if end < req.start:
                raise calendars.CalendarRangeError(req.start, req.start, end, "snapshot start")
            own = await applicable(self.pool, req.jurisdiction, req.start, end)
            return calendars.snapshot(
                req.jurisdiction, req.start, end,
                extra_closures=own.closures, extra_openings=own.openings, close_time=own.close_time,
            )
        except calendars.CalendarRangeError as exc:
            raise ApplicationError(
                f"calendar snapshot for {req.jurisdiction} {req.start}..{req.end}: {exc}",
                type="CalendarRangeError",
                non_retryable=True,
            ) from exc
        except calendars.UnknownJurisdictionError as exc:
            raise ApplicationError(
                f"calendar snapshot: unknown jurisdiction {req.jurisdiction!r}: {exc}",
                type="UnknownJurisdiction",
                non_retryable=True,
            ) from exc
