"""The Schedules of the daily and monthly reports: one per bureau, every day at 08:30 Beijing time.

The Schedule fires on every calendar day; `BureauReports` decides whether the day is a working day. A run
missed while the server was down is started when it is back, within `CATCHUP_WINDOW`; missed runs of several
days run one after the other (`BUFFER_ALL`), each reporting on its own scheduled day, and a day's report is
stored once however often its run starts (report id per bureau and day).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from common.contract import TASK_QUEUE, reports_schedule_id
from workflows.payloads import ReportsInput
from workflows.reports import BureauReports

REPORT_HOUR, REPORT_MINUTE = 8, 30
REPORT_TIME_ZONE = "Asia/Shanghai"
# a week: a server down over a holiday week still publishes the working days it missed, once each
CATCHUP_WINDOW = timedelta(days=7)
RUN_TIMEOUT = timedelta(hours=1)


def report_schedule(jurisdiction: str, task_queue: str = TASK_QUEUE) -> Schedule:
    """The Schedule of one bureau's reports (not yet created)."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            BureauReports.run,
            ReportsInput(jurisdiction=jurisdiction),
            id=reports_schedule_id(jurisdiction),
            task_queue=task_queue,
            execution_timeout=RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(REPORT_HOUR)], minute=[ScheduleRange(REPORT_MINUTE)],
                                            second=[ScheduleRange(0)])],
            time_zone_name=REPORT_TIME_ZONE,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ALL, catchup_window=CATCHUP_WINDOW),
    )


async def ensure_report_schedule(client: Client, jurisdiction: str, task_queue: str = TASK_QUEUE) -> str:
    """Create the bureau's Schedule, or bring an existing one to the current definition (keeping its state:
    paused or not, its notes, its recent actions). Returns "created" or "updated"."""
    schedule = report_schedule(jurisdiction, task_queue)
    try:
        await client.create_schedule(reports_schedule_id(jurisdiction), schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=Schedule(action=schedule.action, spec=schedule.spec, policy=schedule.policy,
                                                state=current.description.schedule.state))

    await client.get_schedule_handle(reports_schedule_id(jurisdiction)).update(update)
    return "updated"
