"""`BureauReports`: a bureau's daily report (日报), and on the first working day of a month its monthly report (月报).

A Schedule per bureau (`workflows.schedules`) starts this workflow every day at 08:30 Beijing time. A Schedule
knows no 调休, so the workflow decides: it loads the bureau's calendar snapshot (published data plus the
bureau's own closures and openings) and asks `calendars.reporting` which reports are due on the day. The day is
the one the Schedule meant (its `TemporalScheduledStartTime`), not the one the run happens to start on, so a run
caught up after an outage reports on the missed day. Each report is made once per bureau and day
(`publish_report` is idempotent on the report id).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.contracts import CalendarSnapshotRequest, ReportOutcome, ReportRequest
    from calendars import CalendarSnapshot, shanghai_tz
    from calendars.reporting import report_periods
    from common.contract import REPORTS_WORKFLOW_TYPE
    from workflows.payloads import ReportsInput, ReportsResult

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
# the previous working day and the one before it, even after the longest holiday run of the year
CALENDAR_LOOKBACK = timedelta(days=45)
LOAD_TIMEOUT = timedelta(seconds=30)
PUBLISH_TIMEOUT = timedelta(minutes=5)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["BadReportRequest", "BadCaseData", "UnknownJurisdiction", "CalendarRangeError"],
)


def publishing_day(explicit: date | None, scheduled: datetime | None, now: datetime) -> date:
    """The explicit day, else the Schedule's scheduled instant's, else now's, as a Beijing date."""
    if explicit is not None:
        return explicit
    return (scheduled or now).astimezone(shanghai_tz()).date()


@workflow.defn(name=REPORTS_WORKFLOW_TYPE)
class BureauReports:
    @workflow.run
    async def run(self, inp: ReportsInput) -> ReportsResult:
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
        day = publishing_day(inp.day, scheduled, workflow.now())
        snapshot: CalendarSnapshot = await workflow.execute_local_activity(
            "load_calendar_snapshot",
            CalendarSnapshotRequest(jurisdiction=inp.jurisdiction, start=day - CALENDAR_LOOKBACK, end=day),
            result_type=CalendarSnapshot,
            start_to_close_timeout=LOAD_TIMEOUT,
            retry_policy=RETRY,
        )
        cal = snapshot.calendar()
        result = ReportsResult(day=day, day_kind=cal.day_kind(day))
        for period in report_periods(cal, day):
            outcome: ReportOutcome = await workflow.execute_activity(
                "publish_report",
                ReportRequest(
                    jurisdiction=inp.jurisdiction,
                    kind=period.kind,
                    published_on=day,
                    period_start=period.start,
                    period_end=period.end,
                    previous_start=period.previous_start,
                    previous_end=period.previous_end,
                    requested_at=workflow.now(),
                ),
                result_type=ReportOutcome,
                start_to_close_timeout=PUBLISH_TIMEOUT,
                retry_policy=RETRY,
            )
            result.reports.append(outcome)
        return result
