"""Temporal workflows of the complaint system: `ComplaintCase` (one per case), its `ComplaintReview` child and
`BureauReports` (a bureau's daily and monthly reports, started by its Schedule, `workflows.schedules`).

A worker registers all three through the one recipe, `workers.main.build_worker` (task queue `complaints`, the
project's sandbox runner, every activity). May import the core, `common` and `activities`; never `clients`,
`dashboard` or `workers`.
"""

from common.contract import TASK_QUEUE, review_workflow_id, workflow_id
from workflows.complaint_case import ComplaintCase
from workflows.payloads import CalendarUpdate, ReportsInput, ReportsResult, ReviewInput, ReviewResult
from workflows.reports import BureauReports
from workflows.review import ComplaintReview

WORKFLOWS = [ComplaintCase, ComplaintReview, BureauReports]

__all__ = [
    "TASK_QUEUE",
    "BureauReports",
    "WORKFLOWS",
    "CalendarUpdate",
    "ComplaintCase",
    "ComplaintReview",
    "ReportsInput",
    "ReportsResult",
    "ReviewInput",
    "ReviewResult",
    "review_workflow_id",
    "workflow_id",
]
