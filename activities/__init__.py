"""Activities: every side effect of a complaint case (PostgreSQL read model, outbox, org directory, calendar).

`all_activities(pool)` is what a worker registers; `activities.db` migrates, `activities.seed` seeds the org
directory, `activities.outbox` delivers queued notifications. Importing this package imports no database
driver state: the pool is created by the worker (`activities.db.create_pool`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# Workers pass asyncpg (and this package) through the workflow sandbox: see workers.sandbox.workflow_runner.
from activities.calendar_activities import CalendarActivities
from activities.case_activities import CaseActivities
from activities.report_activities import ReportActivities

if TYPE_CHECKING:
    import asyncpg

    from common.codec import KeyRing


def all_activities(pool: asyncpg.Pool, keyring: KeyRing | None = None) -> list[Callable[..., Any]]:
    """The activity callables a worker registers: the case activities, the calendar one and the reports', on
    `pool`."""
    acts = CaseActivities(pool, keyring)
    return [
        acts.record_case_event,
        acts.project_case,
        acts.enqueue_notification,
        acts.persist_case_changes,
        acts.resolve_handling_unit,
        acts.load_case_context,
        acts.load_merge_target,
        acts.store_complainant_pii,
        CalendarActivities(pool).load_calendar_snapshot,
        ReportActivities(pool).publish_report,
    ]
