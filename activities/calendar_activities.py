"""The calendar activity: a jurisdiction's working-day data as a value the workflow can hold.

Workflow code never reads calendar files or the clock; it asks this activity (no database, pure file data
from the `calendars` package) for a `CalendarSnapshot` over a date range and computes deadlines from it.
An `end` beyond the published data is clipped to the data's last day (the snapshot's `end` says where it
stops; ask again when new data lands). A `start` outside the data, an unknown jurisdiction or an inverted
range is a non-retryable error.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

import calendars
from activities.contracts import CalendarSnapshotRequest


@activity.defn
async def load_calendar_snapshot(req: CalendarSnapshotRequest) -> calendars.CalendarSnapshot:
    """`calendars.snapshot(req.jurisdiction, req.start, end)` with `end` clipped to the data range."""
    if req.end < req.start:
        raise ApplicationError(
            f"calendar snapshot: end {req.end} is before start {req.start}",
            type="BadCalendarRequest",
            non_retryable=True,
        )
    try:
        cal = calendars.get_calendar(req.jurisdiction)
        return calendars.snapshot(req.jurisdiction, req.start, min(req.end, cal.end))
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
